"""The answer port: what the bot says about a picture, whichever kind of model serves the chat.

A classifier (``bot.core.pipeline.Recogniser``) answers with one label; other kinds (a detector
that counts and draws, a vision-language model that answers questions) answer through the same
port, so the picture service, the audit log, the stats and the chats never ask which it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.core.chat import Image, Message, Text
from bot.core.settings import ReplyConfig


@dataclass(frozen=True)
class Answer:
    """One picture's answer: what the chat is told, and the audit row's account of it."""

    kind: str
    """What kind of model answered: "classify" (later also "detect", "ask")."""
    sure: bool
    """False when the model was not sure (the unsure template; outcome ``low_confidence``)."""
    text: str
    """The reply to the chat, addressed to the sender."""
    summary: str
    """A short line for the owner's audit line, e.g. "虎斑猫 92.3%"."""
    model: str
    version: str
    latency_ms: float
    label: str | None = None
    """The headline: the best label (a classifier) or the most found class (a detector)."""
    probability: float | None = None
    detail: str = ""
    """More for the audit row: the top-k guesses, the counts per class."""
    picture: Image | None = None
    """A picture sent after the text (boxes drawn on the photo), built in memory."""
    counts: tuple[tuple[str, int], ...] = ()
    """A detector's finds per class, e.g. (("狗", 2), ("人", 1)), for the stats."""

    def messages(self) -> tuple[Message, ...]:
        """What is sent, in order: the text, then the picture if there is one."""
        first: tuple[Message, ...] = (Text(self.text),)
        return first if self.picture is None else (*first, self.picture)


class Answerer(Protocol):
    """One model, whatever its kind: picture bytes in, an ``Answer`` out."""

    def answer(self, data: bytes, *, sender: str, rules: ReplyConfig) -> Answer:
        """Raises ImageError, ServingError, LabelError or ModelMismatch."""
        ...


class AnswerSource(Protocol):
    def get(self, model: str | None) -> Answerer:
        """The named (None: default) model's answerer; raises ServingError while its server
        cannot be reached, ModelMismatch when it does not fit the configuration."""
        ...
