"""Chats: build the configured transport's adapter, and check what can be checked before
``run`` (part of the wiring, ``bot.app``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from bot.adapters.wechat.chat import WeChatChat
from bot.adapters.wechat.state import prepare_state_dir
from bot.core.chat import Chat
from bot.core.pictures import Audience
from bot.core.settings import Config

if TYPE_CHECKING:
    from bot.adapters.wecom.chat import WeComChat


def audience(config: Config) -> Audience:
    """The settings that decide which pictures the configured transport answers."""
    return config.wecom if config.chat.transport == "wecom" else config.wechat


def targets(config: Config) -> tuple[str, ...]:
    """The configured transport's groups or chats, for ``Chat.resolve_targets``."""
    return config.wecom.chats if config.chat.transport == "wecom" else config.wechat.groups


def login_part(config: Config) -> str:
    """The name of ``/healthz``'s login part: WeChat's stays ``wechat_login``."""
    return "chat_connected" if config.chat.transport == "wecom" else "wechat_login"


def _wecom(config: Config) -> WeComChat:
    # Imported here: the WeCom SDK (asyncio, aiohttp, websockets) is loaded only when used.
    from bot.adapters.wecom.chat import WeComChat

    return WeComChat(
        config.wecom,
        download_timeout_s=config.wechat.download_timeout_s,
        hint_interval_s=config.reply.apology_interval_s,
    )


def build_chat(config: Config, *, out: TextIO) -> Chat:
    if config.chat.transport == "wecom":
        return _wecom(config)
    return WeChatChat(config.wechat, max_bytes=config.images.max_bytes, out=out)


def _check_wecom(config: Config) -> list[tuple[str, str]]:
    wecom = config.wecom
    lines = [("wecom", _wecom(config).probe())]
    lines.append(("secret", f"${wecom.secret_env} is set (not shown)"))
    if wecom.ca_file is not None:
        lines.append(("ca_file", f"{wecom.ca_file}: trusted in addition to the usual CAs"))
    if not wecom.chats:
        lines.append(
            (
                "chats",
                "warning: [wecom] chats is empty, so the bot answers in no chat; the bot logs "
                'the id of each chat it ignores, to copy into chats (or ["*"] for every chat)',
            )
        )
    else:
        lines.append(("chats", ", ".join(wecom.chats)))
    if wecom.owner is None:
        lines.append(("owner", "none: no commands and no audit lines in WeCom ([wecom] owner)"))
    else:
        lines.append(("owner", f"{wecom.owner}: commands and audit lines in their single chat"))
    return lines


def check_chat(config: Config) -> list[tuple[str, str]]:
    """What ``run`` would refuse or do silently, found before it: (topic, finding) lines;
    raises BotError for what stops ``run``."""
    if config.chat.transport == "wecom":
        return _check_wecom(config)
    session = prepare_state_dir(config.wechat.session_dir)
    lines = [("state", f"{config.wechat.session_dir}: private (0700), session file {session.name}")]
    groups = config.wechat.groups
    if not groups:
        lines.append(
            (
                "groups",
                "warning: [wechat] groups is empty, so the bot answers in no group; list the "
                'group names, or ["*"] for every group',
            )
        )
    else:
        lines.append(("groups", ", ".join(groups)))
    return lines
