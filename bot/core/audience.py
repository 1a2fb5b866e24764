"""What a transport's own settings section tells the core: which chats it answers, with which
model, and what a chat is called in metrics. ``[wechat]`` (groups by name) and ``[wecom]``
(chats by id) implement it in their adapters; the core never asks which one it has."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from bot.core.events import Picture, Question


class Audience(Protocol):
    def refuse(self, pic: Picture) -> str | None:
        """Why the settings leave this picture out, or None to answer it."""
        ...

    def model_for(self, pic: Picture) -> str | None:
        """The named model for this picture's chat, or None for the default model."""
        ...

    def label(self, pic: Picture) -> str | None:
        """A name for the picture's chat in metrics; None if the bot does not serve it."""
        ...

    def usage_hint(self, question: Question) -> str | None:
        """What to answer a text addressed to the bot that no model answers, or None to stay
        quiet (also for chats the bot does not serve)."""
        ...


class ChatSettings(Audience, Protocol):
    """A transport's section as a whole: the audience plus what start-up and ``check`` use."""

    @property
    def targets(self) -> tuple[str, ...]:
        """The configured groups or chats, for ``Chat.resolve_targets`` and messages."""
        ...

    @property
    def model_routes(self) -> Mapping[str, str]:
        """Chat -> [models.NAME], as configured (checked against [models] by ``bot.config``)."""
        ...

    def no_targets_warning(self) -> str | None:
        """A warning when the settings answer in no chat at all, saying how to fix it."""
        ...
