"""The WeCom transport's settings, ``[wecom]``, declared once (the config reader and the README
table read them from here), with the core's view of them (``ChatSettings``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.core.events import Picture, Question
from bot.core.names import display_name
from bot.core.settings import secret, setting

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
    chat_names: Mapping[str, str] = setting(
        {}, "a name per chatid for the owner's lines, the audit log and logs (WeCom sends none)"
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
