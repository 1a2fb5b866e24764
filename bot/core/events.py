"""Neutral events: what a chat transport hands the core, whatever protocol delivered it.

A transport translates its protocol's messages at the border into these (nonebot2's way), and
the core never asks which transport that was:

- ``Picture``: a photo (or a sticker) in a chat;
- ``Question``: a text addressed to the bot (an @-mention, a quote, a private message), with
  the message it quotes when the protocol has one, and any pictures sent in the same message;
- ``Command``: a text from the bot's owner in the owner's command chat.

Times are seconds since the epoch; ``peer_time`` turns what a peer sent into one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

EARLIEST_S = 946_684_800.0  # 2000-01-01: no chat message is older
FUTURE_SLACK_S = 86_400.0  # a peer's clock may run ahead, not by more than a day


def peer_time(value: object, *, now: Callable[[], float] = time.time) -> float:
    """A timestamp from a peer as seconds since the epoch: milliseconds (as many Tencent APIs
    write it) are read as such, and anything missing, odd or out of range becomes now."""
    current = now()
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return current
    if not math.isfinite(seconds):
        return current
    if seconds > current + FUTURE_SLACK_S:
        seconds /= 1000.0  # milliseconds
    if EARLIEST_S <= seconds <= current + FUTURE_SLACK_S:
        return seconds
    return current


@dataclass(frozen=True)
class Picture:
    """A picture message."""

    msg_id: str
    chat_id: str
    chat_name: str
    sender: str
    is_group: bool
    is_sticker: bool
    from_self: bool
    created_at: float
    fetch: Callable[[], bytes] = field(repr=False, compare=False)
    reply_to: str | None = None
    """Where the answer goes when it is not simply ``chat_id`` (WeCom: the callback to answer)."""
    refused: str | None = None
    """Why the transport already knows this message is nothing to answer (a voice message):
    it is audited as ignored with this reason."""
    sender_id: str = ""
    """The sender's stable id in this chat (for limits per person); "" when unknown."""
    to_me: bool = False
    """The picture was addressed to the bot (WeCom: an @ with the photo)."""
    ref_ids: tuple[str, ...] = ()
    """Other ids a quote may name this message by (WeChat: its ``NewMsgId``)."""

    @property
    def answer_to(self) -> str:
        return self.reply_to or self.chat_id


@dataclass(frozen=True)
class Question:
    """A text addressed to the bot."""

    msg_id: str
    chat_id: str
    chat_name: str
    sender: str
    is_group: bool
    from_self: bool
    created_at: float
    text: str
    quotes: str | None = None
    """The id of the message this one quotes (WeChat: the quoted ``NewMsgId``), if any."""
    pictures: tuple[Picture, ...] = ()
    """Pictures sent in the same message (WeCom's mixed image + text)."""
    reply_to: str | None = None
    sender_id: str = ""

    @property
    def answer_to(self) -> str:
        return self.reply_to or self.chat_id


@dataclass(frozen=True)
class Command:
    """A text from the bot's owner, in the owner's command chat."""

    text: str


Event = Picture | Question | Command
