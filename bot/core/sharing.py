"""Sharing what is scarce, fairly: workers between models, and apologies (or hints) between
chats."""

from __future__ import annotations

import threading
from collections.abc import Callable

from bot.core.events import Picture


def model_share(workers: int, models: int) -> int:
    """Workers one model may hold: all of them when there is one model; with several, all but
    one, so a hung model always leaves a worker to the others."""
    return workers if models <= 1 else max(1, workers - 1)


class ModelShare:
    """How many workers each model may hold at once, so that a model whose server hangs or
    drips cannot take every worker from the chats another model answers. A picture whose model
    has its share waits aside and is queued again when one of that model's pictures is done.

    Models are told apart by the ``[models.NAME]`` a chat is routed to ("": the default)."""

    def __init__(self, per_model: int, *, requeue: Callable[[Picture], None]) -> None:
        self._per_model = per_model
        self._requeue = requeue
        self._lock = threading.Lock()
        self._in_use: dict[str, int] = {}
        self._aside: dict[str, list[Picture]] = {}

    def take(self, model: str, pic: Picture) -> bool:
        with self._lock:
            if self._in_use.get(model, 0) >= self._per_model:
                self._aside.setdefault(model, []).append(pic)
                return False
            self._in_use[model] = self._in_use.get(model, 0) + 1
            return True

    def give_back(self, model: str) -> None:
        with self._lock:
            self._in_use[model] -= 1
            aside = self._aside.get(model)
            nxt = aside.pop(0) if aside else None
        if nxt is not None:
            self._requeue(nxt)

    def deferred(self) -> list[Picture | None]:
        """Take every picture waiting aside (at shutdown)."""
        with self._lock:
            waiting: list[Picture | None] = [p for aside in self._aside.values() for p in aside]
            self._aside.clear()
        return waiting


class Apologies:
    """At most one apology (or hint) per chat per interval, however many workers fail at once."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def due(self, chat_id: str, interval_s: float) -> bool:
        if interval_s <= 0:
            return False
        now = self._clock()
        with self._lock:
            last = self._last.get(chat_id)
            if last is not None and now - last < interval_s:
                return False
            self._last[chat_id] = now
            return True
