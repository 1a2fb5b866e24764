"""Chats: build the configured transport's adapter, and check what can be checked before
``run`` (part of the wiring, ``bot.app``)."""

from __future__ import annotations

from typing import TextIO

from bot.adapters.wechat.chat import WeChatChat
from bot.adapters.wechat.state import prepare_state_dir
from bot.core.chat import Chat
from bot.core.pictures import Audience
from bot.core.settings import Config


def audience(config: Config) -> Audience:
    """The settings that decide which pictures the configured transport answers."""
    return config.wecom if config.chat.transport == "wecom" else config.wechat


def build_chat(config: Config, *, out: TextIO) -> Chat:
    return WeChatChat(config.wechat, out=out)


def check_chat(config: Config) -> list[tuple[str, str]]:
    """What ``run`` would refuse or do silently, found before it: (topic, finding) lines;
    raises BotError for what stops ``run``."""
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
