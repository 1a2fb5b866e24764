"""The ``Chat`` port: what the bot needs from a chat transport (WeChat over itchat, WeCom), and
the messages that cross it in both directions.

::

    transport (adapter)                 core                              transport (adapter)
    ───────────────────                 ────                              ───────────────────
    protocol message ──translate──▶ Event ──▶ PictureService / CommandDesk
                                    Picture        │  screen, pool, dedup
                                    Question       ▼
                                    Command    Answerer (per model kind) ──▶ Answer
                                                   │                          text, picture,
                                                   ▼                          audit fields
                                               Outbox (PacedSender) ──▶ Chat.send(chat, Text|Image)
                                                   ▲                          │
                                                   └──────── Sent ◀───────────┘
                                                            ok, why not, retry after

A transport logs in, turns its protocol's messages into neutral events (``bot.core.events``),
sends text and pictures, says why a send failed (and when "too often" means "wait"), and says
how its session ended. Everything else — screening, the pool, audit, pacing, telemetry — is
the same whatever delivered the event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.core.events import Event

EventHandler = Callable[[Event], None]
QrHandler = Callable[[bytes], None]
PhaseHandler = Callable[[str], None]
"""Told what a login waits for: ``waiting_for_phone`` (the phone must confirm a saved
session)."""


@dataclass(frozen=True)
class Text:
    """A text message to send."""

    text: str


@dataclass(frozen=True)
class Image:
    """A picture to send, built in memory (JPEG or PNG bytes); never written to disk."""

    data: bytes
    name: str = "answer.jpg"

    def __repr__(self) -> str:  # a picture never lands in a log line
        return f"Image({self.name!r}, {len(self.data)} bytes)"


@dataclass(frozen=True)
class Draft:
    """The answer so far, shown in place while a model is still writing (WeCom's stream); the
    final ``Text`` to the same chat replaces it. Only a transport that ``streams`` takes it."""

    text: str


Message = Text | Image | Draft


@dataclass(frozen=True)
class Sent:
    """What became of one send."""

    ok: bool
    reason: str = ""
    """Why it failed, for the log and the audit row (never shown in a chat)."""
    retry_after_s: float | None = None
    """The service said "too often": wait this long before sending anything again."""
    final: bool = False
    """Trying again cannot help (the reply window closed, the chat is gone)."""


SENT = Sent(True)


class Chat(Protocol):
    name: str
    """What users call it, for messages: "WeChat", "WeCom"."""

    account: str
    """The logged-in account's display name; set by ``connect``."""

    streams: bool
    """The transport can show an answer while it is being written (``Draft``)."""

    @property
    def owner_chat(self) -> str | None:
        """Where the one-line-per-picture audit goes, or None for none."""
        ...

    @property
    def command_chat(self) -> str:
        """Where answers to the owner's commands go."""
        ...

    def preflight(self) -> None:
        """Check what can be checked before anything starts; raises BotError."""
        ...

    def connect(self, *, on_event: EventHandler, on_qr: QrHandler, on_phase: PhaseHandler) -> None:
        """Log in and start taking messages; raises LoginRefused. ``on_qr`` gets each login QR
        code, ``on_phase`` what else the login waits for."""
        ...

    def resolve_targets(self, wanted: tuple[str, ...]) -> list[str]:
        """One line per configured group or chat: found, missing, ambiguous."""
        ...

    def is_receiving(self) -> bool: ...

    def send(self, chat_id: str, message: Message) -> Sent:
        """Send one message. Failures are answered as ``Sent(False, reason)``; an exception
        is taken as a failure too."""
        ...

    def run(self) -> None:
        """Receive until ``stop``; raise SessionEnded when the service ends the session."""
        ...

    def stop(self) -> None: ...
