"""One sender for every outgoing message, paced so the account is not flagged, fair between
chats.

WeChat flags accounts that send fast ("发送消息过于频繁" after ~60 rapid sends), so every
reply and every file-helper line goes through one sender thread that keeps at least
``min_interval_s`` (plus random jitter) between sends and retries failures a bounded number
of times. Messages wait in one queue per chat ("lane") and the lanes take turns, so thirty
pictures from one group do not hold back the next group's single answer.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.core.chat import Message, Sent

log = logging.getLogger(__name__)

MAX_QUEUED = 1000


MAX_RETRY_AFTER_S = 300.0  # a "wait" longer than this is a failure, not a pause


class Sender(Protocol):
    def send(self, chat_id: str, message: Message) -> Sent:
        """Send one message; a failed ``Sent`` (or an exception) means it failed."""
        ...


@dataclass(frozen=True)
class _Item:
    chat_id: str
    message: Message
    on_done: Callable[[Sent], None] | None


class PacedSender:
    """Sends queued messages one at a time, ``min_interval_s`` plus up to ``jitter_s`` apart
    (measured from the end of one send to the start of the next), retrying failures; the
    chats with messages waiting are served round-robin."""

    def __init__(
        self,
        transport: Sender,
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
        self._max_queued = max_queued
        self._lanes: dict[str, deque[_Item]] = {}
        self._turns: deque[str] = deque()  # lanes with messages, in serving order
        self._count = 0
        self._busy = False
        self._cond = threading.Condition()
        self._last_send: float | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="paced-sender", daemon=True)
        self._thread.start()

    def post(
        self,
        chat_id: str,
        message: Message,
        on_done: Callable[[Sent], None] | None = None,
        *,
        lane: str | None = None,
    ) -> bool:
        """Queue a message; False if the queue is full or the sender is closing.

        ``lane`` is the chat it counts against for fairness (default ``chat_id``).
        """
        key = chat_id if lane is None else lane
        with self._cond:
            if self._stopping:
                return False
            if self._count >= self._max_queued:
                log.error("send queue full (%d): dropping a message to %s", self._count, key)
                return False
            waiting = self._lanes.setdefault(key, deque())
            if not waiting:
                self._turns.append(key)
            waiting.append(_Item(chat_id, message, on_done))
            self._count += 1
            self._cond.notify_all()
        return True

    def queued(self) -> int:
        with self._cond:
            return self._count

    def _next(self) -> _Item | None:
        """The next lane's oldest message, waiting for one; None once closing and empty."""
        with self._cond:
            while not self._turns:
                self._busy = False
                self._cond.notify_all()
                if self._stopping:
                    return None
                self._cond.wait()
            key = self._turns.popleft()
            waiting = self._lanes[key]
            item = waiting.popleft()
            if waiting:
                self._turns.append(key)  # back of the line: other chats go first
            else:
                del self._lanes[key]
            self._count -= 1
            self._busy = True
            return item

    def _wait_turn(self) -> None:
        if self._last_send is None:
            return
        gap = self._min_interval_s + self._rng.uniform(0, self._jitter_s)
        delay = self._last_send + gap - self._clock()
        if delay > 0:
            self._sleep(delay)

    def _send_once(self, item: _Item) -> Sent:
        self._wait_turn()
        try:
            sent = self._transport.send(item.chat_id, item.message)
        except Exception as exc:  # a transport error must not kill the sender thread
            log.exception("sending to %s raised", item.chat_id)
            return Sent(False, f"the transport raised {type(exc).__name__}")
        finally:
            # Counted from the end of a send: what the server sees is the gap between arrivals.
            self._last_send = self._clock()
        if sent.retry_after_s is not None and 0 < sent.retry_after_s <= MAX_RETRY_AFTER_S:
            # "Too often": every chat waits, not only this message (the account is flagged).
            self._last_send = self._clock() + sent.retry_after_s
        return sent

    def _deliver(self, item: _Item) -> None:
        sent = Sent(False, "not sent")
        for attempt in range(self._retries + 1):
            sent = self._send_once(item)
            if sent.ok or sent.final:
                break
            log.warning(
                "send to %s failed (attempt %d/%d): %s",
                item.chat_id,
                attempt + 1,
                self._retries + 1,
                sent.reason or "no reason given",
            )
        if item.on_done is not None:
            try:
                item.on_done(sent)
            except Exception:
                log.exception("send callback failed")

    def _loop(self) -> None:
        while (item := self._next()) is not None:
            self._deliver(item)

    def close(self, timeout_s: float) -> bool:
        """Stop taking messages, send what is queued within ``timeout_s``; True if drained."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            while self._count or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()
