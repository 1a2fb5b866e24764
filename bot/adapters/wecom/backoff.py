"""When to connect to WeCom again, and when to give up: pure, so tests drive it with a clock.

WeCom answers a burst of logins with 45009 "api freq out of limit". A server that accepts every
login and cuts the connection soon after must therefore meet waits that keep growing: the waits
start over only after a connection has lived ``STABLE_S``, not after each successful login.
Each wait is shortened by a random share (up to ``jitter``), so bots cut off together do not
come back together. Connections that do not even log in are counted: after ``attempts`` of them
in a row the bot gives up (a process manager starts it again; see ``deploy/``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

STABLE_S = 60.0  # a connection up this long was not a flap: the waits start over


@dataclass(frozen=True)
class Retry:
    """Up to ``attempts`` connections in a row that do not log in; waits doubling from
    ``first_delay_s`` to ``max_delay_s``, each shortened by a random share up to ``jitter``."""

    attempts: int
    first_delay_s: float
    max_delay_s: float = 30.0
    jitter: float = 0.25

    def delay_s(self, level: int, draw: float) -> float:
        """The wait after the ``level``-th short connection in a row; ``draw`` is in [0, 1)."""
        base = min(self.first_delay_s * 2 ** max(level - 1, 0), self.max_delay_s)
        return float(base * (1.0 - self.jitter * draw))


AT_START = Retry(attempts=3, first_delay_s=1.0)  # 1 + 2 + 4 s: someone is watching the start
WHILE_RUNNING = Retry(attempts=8, first_delay_s=0.5)  # 0.5 ... 30 s: about a minute and a half


class Backoff:
    """The waits between connections of one bot."""

    def __init__(self, *, draw: Callable[[], float] = random.random) -> None:
        self._draw = draw
        self.level = 0  # connections in a row that ended before STABLE_S
        self.misses = 0  # connections in a row that did not log in

    def next_delay_s(self, policy: Retry, *, logged_in: bool, lived_s: float) -> float | None:
        """The wait before the next connection, or None: give up (``misses`` > attempts).

        ``lived_s`` is how long the connection was logged in (0 if it never was)."""
        if logged_in and lived_s >= STABLE_S:
            self.level = 0
        self.misses = 0 if logged_in else self.misses + 1
        if self.misses > policy.attempts:
            return None
        self.level += 1
        return policy.delay_s(self.level, self._draw())
