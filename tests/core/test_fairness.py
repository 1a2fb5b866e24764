"""The paced sender serves chats round-robin: one group's flood does not hold back another's
answer (issue 12.11). Driven on a fake clock: sleeping advances it, nothing really waits."""

from __future__ import annotations

import itertools
import random
import threading

from bot.core.pacing import PacedSender


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


class Recorder:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, str, str]] = []

    def send_text(self, chat_id: str, text: str) -> bool:
        self.sent.append((self.clock(), chat_id, text))
        return True


def sender(rec: Recorder, clock: Clock) -> PacedSender:
    return PacedSender(
        rec,
        min_interval_s=1.0,
        jitter_s=0.0,
        retries=0,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(0),
    )


def post_flood_then_one(s: PacedSender) -> None:
    # Hold the sender on its first message so that all 31 are queued before it picks again.
    for i in range(30):
        s.post("@@A", f"a{i}")
    s.post("@@B", "b")


def test_a_flood_from_one_group_does_not_delay_the_next_groups_answer_by_more_than_a_turn() -> None:
    clock = Clock()
    rec = Recorder(clock)
    s = sender(rec, clock)
    post_flood_then_one(s)
    assert s.close(10.0)
    order = [chat for _, chat, _ in rec.sent]
    assert order.index("@@B") <= 2  # at most the message in hand and one more from A first
    assert [t for _, _, t in rec.sent if _ == "@@A"] == [f"a{i}" for i in range(30)]


def test_messages_of_one_lane_keep_their_order_and_lanes_alternate() -> None:
    clock = Clock()
    rec = Recorder(clock)
    s = sender(rec, clock)
    for i in range(3):
        s.post("room-1", f"x{i}", lane="A")
        s.post("room-1", f"y{i}", lane="A")
    for i in range(3):
        s.post("room-2", f"z{i}", lane="B")
    assert s.close(10.0)
    texts = [t for _, _, t in rec.sent]
    assert [t for t in texts if t[0] in "xy"] == ["x0", "y0", "x1", "y1", "x2", "y2"]
    # After the first message, A and B take turns while both have messages waiting.
    assert texts[texts.index("z0") - 1][0] in "xy"
    assert texts[texts.index("z1") - 1][0] in "xy"


def test_round_robin_keeps_the_global_pace() -> None:
    clock = Clock()
    rec = Recorder(clock)
    s = sender(rec, clock)
    post_flood_then_one(s)
    assert s.close(10.0)
    times = [t for t, _, _ in rec.sent]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))
