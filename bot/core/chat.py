"""The ``Chat`` port: what the bot needs from a chat transport (WeChat over itchat, WeCom).

A transport logs in, turns its protocol's messages into neutral ``Picture`` events and the
owner's commands into text, sends text, and says how its session ended. Everything else —
screening, the pool, audit, pacing, telemetry — is the same whatever delivered the picture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bot.core.pictures import Picture

PictureHandler = Callable[[Picture], None]
CommandHandler = Callable[[str], None]
QrHandler = Callable[[bytes], None]


class Chat(Protocol):
    name: str
    """What users call it, for messages: "WeChat", "WeCom"."""

    account: str
    """The logged-in account's display name; set by ``connect``."""

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

    def connect(
        self, *, on_picture: PictureHandler, on_command: CommandHandler, on_qr: QrHandler
    ) -> None:
        """Log in and start taking messages; raises LoginRefused."""
        ...

    def resolve_targets(self, wanted: tuple[str, ...]) -> list[str]:
        """One line per configured group or chat: found, missing, ambiguous."""
        ...

    def is_receiving(self) -> bool: ...

    def send_text(self, chat_id: str, text: str) -> bool:
        """Send one message; False (or an exception) means it failed."""
        ...

    def run(self) -> None:
        """Receive until ``stop``; raise SessionEnded when the service ends the session."""
        ...

    def stop(self) -> None: ...
