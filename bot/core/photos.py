"""Photos remembered for questions: the shrunk JPEGs, in memory only, never on disk.

Bounded three ways: by age (``remember_s``), by count per chat and by total bytes; the oldest
go first. A question finds its photo here (``find``): the one it quotes, else the asker's own
most recent photo in that chat, else the chat's most recent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Photo:
    """One remembered photo: where, from whom, and the JPEG a vision model is sent."""

    chat_id: str
    msg_ids: tuple[str, ...]
    """Every id a quote may name it by (WeChat: the MsgId and the NewMsgId)."""
    sender_id: str
    at: float
    jpeg: bytes = field(repr=False)
    label: str | None = None
    """What the classifier answered, for the model as a hint; None when not classified."""

    def __repr__(self) -> str:  # a photo never lands in a log line
        return f"Photo({self.msg_ids[0]!r} in {self.chat_id!r}, {len(self.jpeg)} bytes)"


class PhotoMemory:
    def __init__(
        self,
        *,
        remember_s: float,
        max_per_chat: int,
        max_bytes: int,
        clock: Callable[[], float],
    ) -> None:
        self._remember_s = remember_s
        self._max_per_chat = max_per_chat
        self._max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._photos: list[Photo] = []  # oldest first
        self._bytes = 0

    def remember(self, photo: Photo) -> None:
        if len(photo.jpeg) > self._max_bytes:
            return
        with self._lock:  # the same photo again (now with its label) replaces the first
            self._photos = [p for p in self._photos if p.msg_ids != photo.msg_ids]
            self._photos.append(photo)
            self._evict()

    def _evict(self) -> None:
        oldest_kept = self._clock() - self._remember_s
        kept: list[Photo] = []
        per_chat: dict[str, int] = {}
        for photo in reversed(self._photos):  # newest first: the newest are kept
            count = per_chat.get(photo.chat_id, 0)
            if photo.at < oldest_kept or count >= self._max_per_chat:
                continue
            per_chat[photo.chat_id] = count + 1
            kept.append(photo)
        kept.reverse()
        total = sum(len(p.jpeg) for p in kept)
        while total > self._max_bytes:
            total -= len(kept.pop(0).jpeg)
        self._photos, self._bytes = kept, total

    def find(self, *, chat_id: str, sender_id: str, quotes: str | None) -> Photo | None:
        """The photo a question in ``chat_id`` means, or None when there is none to ask about."""
        with self._lock:
            self._evict()
            here = [p for p in self._photos if p.chat_id == chat_id]
        if quotes is not None:
            quoted = [p for p in here if quotes in p.msg_ids]
            if quoted:
                return quoted[-1]
        own = [p for p in here if sender_id and p.sender_id == sender_id]
        if own:
            return own[-1]
        return here[-1] if here else None

    def usage(self) -> tuple[int, int]:
        """(photos, bytes) held now."""
        with self._lock:
            self._evict()
            return len(self._photos), self._bytes
