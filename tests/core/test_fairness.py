"""The paced sender serves chats round-robin: one group's flood does not hold back another's
answer (issue 12.11). Driven on a fake clock: sleeping advances it, nothing really waits.

Each test holds the sender on its first message (the fake transport blocks on a gate until the
test opens it), so every other message is queued before the sender picks its next one: the
order asserted is the sender's choice, never the luck of thread timing.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator

import pytest

from bot.core.chat import Text
from bot.core.pacing import PacedSender
from tests.core.fakes import WAIT_S, FakeClock, FakeSender

MIN_INTERVAL_S = 1.0


class Held:
    """A paced sender whose transport holds every send until ``release``."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.gate = threading.Event()
        self.transport = FakeSender(self.clock, gate=self.gate)
        self.sender = PacedSender(
            self.transport,
            min_interval_s=MIN_INTERVAL_S,
            jitter_s=0.0,
            retries=0,
            clock=self.clock,
            sleep=self.clock.sleep,
            rng=random.Random(0),
        )

    def post(self, chat_id: str, text: str, lane: str | None = None) -> None:
        assert self.sender.post(chat_id, Text(text), lane=lane)

    def post_first_and_hold_it(self, chat_id: str, text: str, lane: str | None = None) -> None:
        self.post(chat_id, text, lane)
        assert self.transport.entered.wait(WAIT_S), "the sender never took the first message"

    def release_and_drain(self) -> list[str]:
        self.gate.set()
        assert self.sender.close(WAIT_S)
        return self.transport.texts()


@pytest.fixture
def held() -> Iterator[Held]:
    h = Held()
    yield h
    h.gate.set()  # a failed test must not leave the sender thread blocked
    h.sender.close(WAIT_S)


def flood_then_one(held: Held) -> None:
    """30 messages to @@A, the first held in the send, then one to @@B."""
    held.post_first_and_hold_it("@@A", "a0")
    for i in range(1, 30):
        held.post("@@A", f"a{i}")
    held.post("@@B", "b")
    assert held.sender.queued() == 30  # all queued while the sender is held on a0


def test_a_flood_from_one_group_delays_the_next_groups_answer_by_one_message_at_most(
    held: Held,
) -> None:
    flood_then_one(held)
    sent = held.release_and_drain()
    assert sent[:3] == ["a0", "a1", "b"]  # the message in hand, one more from A, then B
    assert [t for t in sent if t.startswith("a")] == [f"a{i}" for i in range(30)]


def test_messages_of_one_lane_keep_their_order_and_lanes_alternate(held: Held) -> None:
    held.post_first_and_hold_it("room-1", "x0", lane="A")
    for text in ("y0", "x1", "y1", "x2", "y2"):
        held.post("room-1", text, lane="A")
    for i in range(3):
        held.post("room-2", f"z{i}", lane="B")
    sent = held.release_and_drain()
    assert sent == ["x0", "y0", "z0", "x1", "z1", "y1", "z2", "x2", "y2"]
    assert {a.chat_id for a in held.transport.attempts if a.text[0] in "xy"} == {"room-1"}


def test_round_robin_keeps_one_pace_across_all_chats(held: Held) -> None:
    flood_then_one(held)
    held.release_and_drain()
    attempts = held.transport.attempts
    assert len(attempts) == 31
    gaps = [nxt.started - prev.ended for prev, nxt in itertools.pairwise(attempts)]
    assert gaps == pytest.approx([MIN_INTERVAL_S] * 30)  # B's turn waits like any other
