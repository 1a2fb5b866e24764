"""The WeChat transport's settings, ``[wechat]``, declared once (the config reader and the README
table read them from here), with the core's view of them (``ChatSettings``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bot.core.events import Picture, Question
from bot.core.names import normalise_name
from bot.core.settings import setting

DEFAULT_LOGIN_URL = "https://login.weixin.qq.com"
STICKER_MODES = ("ignore", "classify")


@dataclass(frozen=True)
class WeChatConfig:
    """[wechat]: the personal account over web WeChat (itchat), and the groups it answers."""

    groups: tuple[str, ...] = setting((), 'group names to answer in; `["*"]` = every group')
    group_models: Mapping[str, str] = setting(
        MappingProxyType({}),
        'a named model per group, e.g. `{ "狗狗群" = "dogs" }` (others: the default model)',
    )
    stickers: str = setting(
        "ignore", 'also answer stickers with `"classify"`', choices=STICKER_MODES
    )
    private_chats: bool = setting(False, "also answer pictures in private chats")
    filehelper_audit: bool = setting(True, "one line per picture to your file helper")
    login_timeout_s: float = setting(
        600.0, "give up when nobody scans the QR code", low=5, high=86400, unit="seconds"
    )
    login_url: str = setting(
        DEFAULT_LOGIN_URL, "WeChat's login host; point it at a simulator for tests/staging"
    )

    # -- the core's view (``ChatSettings``) ----------------------------------------------------
    @property
    def targets(self) -> tuple[str, ...]:
        return self.groups

    @property
    def model_routes(self) -> Mapping[str, str]:
        return self.group_models

    def no_targets_warning(self) -> str | None:
        if self.groups:
            return None
        return (
            "warning: [wechat] groups is empty, so the bot answers in no group; list the group "
            'names (replace the example), or ["*"] for every group'
        )

    def refuse(self, pic: Picture) -> str | None:
        """Why these settings leave the picture out, or None to answer it."""
        if pic.is_sticker and self.stickers != "classify":
            return 'sticker ([wechat] stickers = "ignore")'
        if not pic.is_group and not self.private_chats:
            return "private chat ([wechat] private_chats = false)"
        if pic.is_group and not self._listed(pic.chat_name):
            return "group not in [wechat] groups"
        return None

    def _listed(self, group: str) -> bool:
        return "*" in self.groups or normalise_name(group) in map(normalise_name, self.groups)

    def label(self, pic: Picture) -> str | None:
        """The group's name for metrics when the bot answers there; None otherwise."""
        if not pic.is_group:
            return "private" if self.private_chats else None
        return normalise_name(pic.chat_name) if self._listed(pic.chat_name) else None

    def model_for(self, pic: Picture) -> str | None:
        """The named model for this picture's group, or None for the default model."""
        wanted = normalise_name(pic.chat_name)
        for group, model in self.group_models.items():
            if normalise_name(group) == wanted:
                return model
        return None

    def usage_hint(self, question: Question) -> str | None:
        """WeChat groups talk among themselves: a text @ the bot gets no hint."""
        return None
