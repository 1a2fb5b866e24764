"""Asking about a photo: the ``Asker`` port, the model's answer made safe for a chat, and the
limits on how often one person or one chat may ask.

A model's answer is untrusted text: control characters and bidi overrides go, @-mentions
(``@所有人`` above all) are neutralised so the bot never pings anyone, and the answer is cut to
a length at a sentence end.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

SENTENCE_ENDS = "。！？!?.；;\n"
ELLIPSIS = "…"
DAY_S = 86_400.0
MINUTE_S = 60.0


@dataclass(frozen=True)
class Asked:
    """The model's answer to one question, as it came (sanitise before showing it)."""

    text: str
    model: str
    latency_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Asker(Protocol):
    def ask(
        self,
        *,
        photo: bytes,
        question: str,
        hint: str | None,
        on_text: Callable[[str], None] | None = None,
    ) -> Asked:
        """Ask about ``photo`` (a JPEG). ``on_text`` gets the answer so far as it streams in
        (a transport that can show it). Raises AskUnavailable or AskRefused."""
        ...


def sanitise_answer(text: str, *, max_chars: int) -> str:
    """A model's answer as safe chat text: printable, no pings, at most ``max_chars``."""
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in "\n\t":
            kept.append(ch if ch == "\n" else " ")
        elif category in ("Cc", "Cf", "Cs", "Co", "Cn") or ch == "\ufffd":
            continue  # control, format (bidi overrides, zero-width), unassigned, replacement
        else:
            kept.append(ch)
    clean = "".join(kept)
    clean = "\n".join(" ".join(line.split()) for line in clean.splitlines())
    clean = re.sub(r"\n{3,}", "\n\n", clean).strip()
    clean = clean.replace("@", "＠")  # a full-width ＠ pings nobody, @所有人 included
    return cut(clean, max_chars)


def cut(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` at the last sentence end, with "…" when cut."""
    if len(text) <= max_chars:
        return text
    head = text[: max_chars - 1]
    end = max(head.rfind(mark) for mark in SENTENCE_ENDS)
    if end >= max_chars // 2:
        head = head[: end + 1]
    return head.rstrip() + ELLIPSIS


class Window:
    """How many events fell in the last ``span_s``, per key."""

    def __init__(self, limit: int, span_s: float) -> None:
        self.limit, self.span_s = limit, span_s
        self._seen: dict[str, deque[float]] = {}

    def full(self, key: str, now: float) -> bool:
        seen = self._seen.get(key)
        if seen is None:
            return False
        while seen and now - seen[0] >= self.span_s:
            seen.popleft()
        return len(seen) >= self.limit

    def add(self, key: str, now: float) -> None:
        self._seen.setdefault(key, deque()).append(now)


class AskLimits:
    """Per sender (across chats) per minute and per day, and per chat per minute."""

    def __init__(
        self,
        *,
        sender_per_minute: int,
        sender_per_day: int,
        chat_per_minute: int,
        clock: Callable[[], float],
    ) -> None:
        self._windows = (
            ("sender", Window(sender_per_minute, MINUTE_S)),
            ("sender", Window(sender_per_day, DAY_S)),
            ("chat", Window(chat_per_minute, MINUTE_S)),
        )
        self._clock = clock
        self._lock = threading.Lock()

    def admit(self, *, sender: str, chat: str) -> str | None:
        """Count one question, or say which limit it is over (then it is not counted)."""
        now = self._clock()
        keys = {"sender": sender, "chat": chat}
        with self._lock:
            for kind, window in self._windows:
                if window.full(keys[kind], now):
                    span = "a minute" if window.span_s == MINUTE_S else "a day"
                    return f"over {window.limit} questions {span} for this {kind}"
            for kind, window in self._windows:
                window.add(keys[kind], now)
        return None
