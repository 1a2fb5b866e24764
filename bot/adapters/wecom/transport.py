"""The WeCom transport's settings (``[wecom]``) and its registry entry (``bot.registry``).

Importing this module does not import the WeCom SDK (asyncio, aiohttp, websockets): ``build``
and ``check`` do, when they need it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.core.chat import Chat
from bot.core.events import Picture, Question
from bot.core.names import display_name
from bot.core.sections import Context, Section, names_reader
from bot.core.settings import Config, secret, setting
from bot.core.transport import Finding, Transport

DEFAULT_WECOM_URL = "wss://openws.work.weixin.qq.com"
DEFAULT_HINT = "@{sender} 发一张图片并 @我, 我来猜猜是什么。"


@dataclass(frozen=True)
class WeComConfig:
    """[wecom]: the WeCom (企业微信) AI bot, with ``[chat] transport = "wecom"``."""

    bot_id: str | None = setting(None, "the AI bot's Bot ID (required for `wecom`)")
    secret_env: str = setting(
        "WECHAT_VISION_BOT_WECOM_SECRET", "environment variable holding the bot's Secret"
    )
    ws_url: str = setting(DEFAULT_WECOM_URL, "WeCom's long-connection address")
    chats: tuple[str, ...] = setting(
        (), 'group chatids and single-chat userids to answer; `["*"]` = every chat'
    )
    chat_models: Mapping[str, str] = setting(
        {}, "a named model per chatid or userid (others: the default model)"
    )
    owner: str | None = setting(
        None, "userid whose single chat gives commands and gets one audit line per picture"
    )
    hint: str = setting(DEFAULT_HINT, "answer to an @ without a picture (once per interval)")
    ca_file: Path | None = setting(None, "an extra CA certificate to trust (a TLS proxy)")
    secret: str | None = secret("secret_env")

    # -- the core's view (``ChatSettings``) ----------------------------------------------------
    @property
    def targets(self) -> tuple[str, ...]:
        return self.chats

    @property
    def model_routes(self) -> Mapping[str, str]:
        return self.chat_models

    def no_targets_warning(self) -> str | None:
        if self.chats:
            return None
        return (
            "warning: [wecom] chats is empty, so the bot answers in no chat; list the "
            'chatids and userids (the bot logs those it ignores), or ["*"] for every chat'
        )

    def _listed(self, chat_id: str) -> bool:
        return "*" in self.chats or chat_id in self.chats

    def refuse(self, pic: Picture) -> str | None:
        return None if self._listed(pic.chat_id) else f"chat {pic.chat_id} not in [wecom] chats"

    def model_for(self, pic: Picture) -> str | None:
        return self.chat_models.get(pic.chat_id)

    def label(self, pic: Picture) -> str | None:
        return pic.chat_id if self._listed(pic.chat_id) else None

    def usage_hint(self, question: Question) -> str | None:
        """An @ without a picture in a chat the bot serves: say how to use it."""
        if not self._listed(question.chat_id):
            return None
        return self.hint.replace("{sender}", display_name(question.sender))


def read(sec: Section, ctx: Context) -> WeComConfig:
    wecom = sec.read({"chats": names_reader(sec, "chats", "chatids or userids", "chat")})
    wecom["secret"] = ctx.env.get(wecom["secret_env"]) or None
    if wecom["ca_file"] is not None:
        wecom["ca_file"] = ctx.base / wecom["ca_file"]
        if not wecom["ca_file"].is_file():
            sec.bad("ca_file", str(wecom["ca_file"]), "no such file; give a PEM CA certificate")
    if not str(wecom["ws_url"]).startswith(("wss://", "ws://")):
        sec.bad("ws_url", wecom["ws_url"], f'must start with wss://, e.g. "{DEFAULT_WECOM_URL}"')
    if ctx.active and wecom["bot_id"] is None:
        sec.bad(
            "bot_id",
            None,
            'is required with [chat] transport = "wecom": the AI bot\'s '
            "Bot ID from the WeCom admin console",
        )
    return WeComConfig(**wecom)


def _settings(config: Config) -> WeComConfig:
    assert isinstance(config.transport, WeComConfig), "the registry pairs them"
    return config.transport


def build(config: Config, out: TextIO) -> Chat:
    # Imported here: the WeCom SDK (asyncio, aiohttp, websockets) is loaded only when used.
    from bot.adapters.wecom.chat import WeComChat

    return WeComChat(_settings(config), download_timeout_s=config.chat.download_timeout_s)


def check(config: Config) -> list[Finding]:
    from bot.adapters.wecom.chat import WeComChat

    wecom = _settings(config)
    chat = WeComChat(wecom, download_timeout_s=config.chat.download_timeout_s)
    lines = [("wecom", chat.probe()), ("secret", f"${wecom.secret_env} is set (not shown)")]
    if wecom.ca_file is not None:
        lines.append(("ca_file", f"{wecom.ca_file}: trusted in addition to the usual CAs"))
    lines.append(("chats", wecom.no_targets_warning() or ", ".join(wecom.chats)))
    if wecom.owner is None:
        lines.append(("owner", "none: no commands and no audit lines in WeCom ([wecom] owner)"))
    else:
        lines.append(("owner", f"{wecom.owner}: commands and audit lines in their single chat"))
    return lines


TRANSPORT = Transport(
    name="wecom",
    settings=WeComConfig,
    read=read,
    build=build,
    check=check,
    health="chat_connected",
)
