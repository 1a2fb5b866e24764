"""Fault injection: canned answers or dropped connections for the next requests."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from tests.fakes.tfserving.spec import FaultScope
from tests.fakes.tfserving.wire import _JSON


@dataclass
class _Fault:
    scope: FaultScope
    remaining: int
    status: int  # 0 = drop the connection
    body: bytes
    content_type: str


class _FaultInjection:
    """The fault queue of :class:`FakeTFServing` (which sets ``_lock`` and ``_faults``)."""

    _lock: threading.Lock
    _faults: deque[_Fault]

    def fail_next(
        self,
        status: int,
        body: str | bytes,
        count: int = 1,
        content_type: str = _JSON,
        *,
        scope: FaultScope = "predict",
    ) -> None:
        """Answer the next ``count`` predict requests (``scope="v1"``: any /v1 request) with
        exactly ``status`` / ``body`` / ``content_type``.  Faults queue up FIFO."""
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        with self._lock:
            self._faults.append(_Fault(scope, count, status, data, content_type))

    def drop_next(self, count: int = 1, *, scope: FaultScope = "predict") -> None:
        """Close the connection without any response for the next ``count`` requests."""
        with self._lock:
            self._faults.append(_Fault(scope, count, 0, b"", _JSON))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, is_predict: bool) -> _Fault | None:
        with self._lock:
            while self._faults and self._faults[0].remaining <= 0:
                self._faults.popleft()
            if not self._faults:
                return None
            fault = self._faults[0]
            if fault.scope == "predict" and not is_predict:
                return None
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.popleft()
            return fault
