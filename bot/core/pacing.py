"""One sender for every outgoing message, paced so the account is not flagged.

WeChat flags accounts that send fast ("发送消息过于频繁" after ~60 rapid sends), so every
reply and every file-helper line goes through one queue drained by one thread that keeps at
least ``min_interval_s`` (plus random jitter) between sends and retries failures a bounded
number of times.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


class TextSender(Protocol):
    def send_text(self, chat_id: str, text: str) -> bool:
        """Send one message; False (or an exception) means it failed."""
        ...


MAX_QUEUED = 1000


@dataclass(frozen=True)
class _Item:
    chat_id: str
    text: str
    on_done: Callable[[bool], None] | None


_STOP = object()


class PacedSender:
    """Sends queued messages one at a time, ``min_interval_s`` plus up to ``jitter_s`` apart
    (measured from the end of one send to the start of the next), retrying failures."""

    def __init__(
        self,
        transport: TextSender,
        *,
        min_interval_s: float,
        jitter_s: float,
        retries: int,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        rng: random.Random,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self._transport = transport
        self._min_interval_s = min_interval_s
        self._jitter_s = jitter_s
        self._retries = retries
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queued)
        self._last_send: float | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="paced-sender", daemon=True)
        self._thread.start()

    def post(self, chat_id: str, text: str, on_done: Callable[[bool], None] | None = None) -> bool:
        """Queue a message; False if the queue is full or the sender is closing."""
        if self._stopping.is_set():
            return False
        try:
            self._queue.put_nowait(_Item(chat_id, text, on_done))
        except queue.Full:
            log.error(
                "send queue full (%d): dropping a message to %s", self._queue.qsize(), chat_id
            )
            return False
        return True

    def queued(self) -> int:
        return self._queue.qsize()

    def _wait_turn(self) -> None:
        if self._last_send is None:
            return
        gap = self._min_interval_s + self._rng.uniform(0, self._jitter_s)
        delay = self._last_send + gap - self._clock()
        if delay > 0:
            self._sleep(delay)

    def _send_once(self, item: _Item) -> bool:
        self._wait_turn()
        try:
            return bool(self._transport.send_text(item.chat_id, item.text))
        except Exception:  # a transport error must not kill the sender thread
            log.exception("sending to %s raised", item.chat_id)
            return False
        finally:
            # Counted from the end of a send: what the server sees is the gap between arrivals.
            self._last_send = self._clock()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, _Item)
            ok = False
            for attempt in range(self._retries + 1):
                ok = self._send_once(item)
                if ok:
                    break
                log.warning(
                    "send to %s failed (attempt %d/%d)",
                    item.chat_id,
                    attempt + 1,
                    self._retries + 1,
                )
            if item.on_done is not None:
                try:
                    item.on_done(ok)
                except Exception:
                    log.exception("send callback failed")

    def close(self, timeout_s: float) -> bool:
        """Stop taking messages, send what is queued within ``timeout_s``; True if drained."""
        self._stopping.set()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._queue.put(_STOP, timeout=max(0.01, deadline - time.monotonic()))
                break
            except queue.Full:
                if time.monotonic() >= deadline:
                    return False
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()
