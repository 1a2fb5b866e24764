"""PacedSender on a fake clock: the gap between sends, jitter, retries, fairness, queue limits.

The fake clock's ``sleep`` advances the clock instead of waiting, so a minute of pacing takes
microseconds, and every gap is measured exactly where the sender measures it.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator

import pytest

from bot.core.chat import Sent, Text
from bot.core.pacing import PacedSender
from tests.core.fakes import WAIT_S, DoneLog, FakeClock, FakeSender

MIN_INTERVAL_S = 1.0
JITTER_S = 0.5
SEED = 7


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_000.0)


@pytest.fixture
def senders() -> Iterator[list[PacedSender]]:
    """Senders a test forgot to close are closed (not checked) at teardown."""
    made: list[PacedSender] = []
    yield made
    for sender in made:
        sender.close(WAIT_S)


def paced(
    transport: FakeSender,
    clock: FakeClock,
    senders: list[PacedSender],
    *,
    retries: int = 0,
    max_queued: int = 100,
    jitter_s: float = JITTER_S,
) -> PacedSender:
    sender = PacedSender(
        transport,
        min_interval_s=MIN_INTERVAL_S,
        jitter_s=jitter_s,
        retries=retries,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(SEED),
        max_queued=max_queued,
    )
    senders.append(sender)
    return sender


def gaps(transport: FakeSender) -> list[float]:
    """From the end of each send to the start of the next, on the fake clock."""
    a = transport.attempts
    return [nxt.started - prev.ended for prev, nxt in itertools.pairwise(a)]


# -- pacing -----------------------------------------------------------------------------------
def test_sends_are_min_interval_plus_seeded_jitter_apart_from_end_to_start(
    clock: FakeClock, senders: list[PacedSender]
) -> None:
    transport = FakeSender(clock, send_s=0.25)  # a send takes time: gaps count from its end
    sender = paced(transport, clock, senders)
    for i in range(12):
        assert sender.post("@@g", Text(f"m{i}")) is True
    assert sender.close(WAIT_S) is True

    expected_rng = random.Random(SEED)
    expected = [MIN_INTERVAL_S + expected_rng.uniform(0, JITTER_S) for _ in range(11)]
    measured = gaps(transport)
    assert measured == pytest.approx(expected)
    assert all(MIN_INTERVAL_S <= g <= MIN_INTERVAL_S + JITTER_S for g in measured)
    assert len({round(g, 6) for g in measured}) == 11  # the jitter really varies
    assert transport.attempts[0].started == 1_000.0  # the first send does not wait


def test_no_jitter_means_exactly_the_min_interval(
    clock: FakeClock, senders: list[PacedSender]
) -> None:
    transport = FakeSender(clock, send_s=0.25)
    sender = paced(transport, clock, senders, jitter_s=0.0)
    for i in range(4):
        sender.post("@@g", Text(f"m{i}"))
    assert sender.close(WAIT_S) is True

    assert gaps(transport) == pytest.approx([MIN_INTERVAL_S] * 3)


def test_time_already_passed_counts_towards_the_interval(
    clock: FakeClock, senders: list[PacedSender]
) -> None:
    transport = FakeSender(clock)
    sender = paced(transport, clock, senders, jitter_s=0.0)
    done = threading.Event()
    sender.post("@@g", Text("first"), on_done=lambda sent: done.set())
    assert done.wait(WAIT_S)
    clock.advance(30.0)  # a quiet half minute
    sender.post("@@g", Text("second"))
    assert sender.close(WAIT_S) is True

    assert clock.sleeps == []  # nothing to wait for
    assert [a.text for a in transport.attempts] == ["first", "second"]


# -- retries ----------------------------------------------------------------------------------
def test_send_failing_twice_is_delivered_on_the_third_try_with_two_retries(
    clock: FakeClock, senders: list[PacedSender]
) -> None:
    transport = FakeSender(clock, fail_next=2)
    done = DoneLog()
    sender = paced(transport, clock, senders, retries=2)
    sender.post("@@g", Text("hello"), on_done=done.for_("hello"))
    assert sender.close(WAIT_S) is True

    assert [a.ok for a in transport.attempts] == [False, False, True]
    assert done.results == [("hello", True)]
    assert all(g >= MIN_INTERVAL_S for g in gaps(transport))  # retries are paced too


def test_send_failing_more_times_than_retries_is_reported_failed(
    clock: FakeClock, senders: list[PacedSender]
) -> None:
    transport = FakeSender(clock, fail_next=3)
    done = DoneLog()
    sender = paced(transport, clock, senders, retries=2)
    sender.post("@@g", Text("lost"), on_done=done.for_("lost"))
    sender.post("@@g", Text("next"), on_done=done.for_("next"))
    assert sender.close(WAIT_S) is True

    assert [(a.text, a.ok) for a in transport.attempts] == [
        ("lost", False),
        ("lost", False),
        ("lost", False),
        ("next", True),
    ]
    assert done.results == [("lost", False), ("next", True)]


def test_transport_that_raises_does_not_stop_the_sender(
    clock: FakeClock, senders: list[PacedSender]
) -> None:
    transport = FakeSender(clock, raise_next=1)
    done = DoneLog()
    sender = paced(transport, clock, senders, retries=0)
    sender.post("@@g", Text("raised"), on_done=done.for_("raised"))
    sender.post("@@g", Text("after"), on_done=done.for_("after"))
    assert sender.close(WAIT_S) is True

    assert done.results == [("raised", False), ("after", True)]
    assert transport.delivered() == [("@@g", "after")]


def test_send_that_raised_is_retried(clock: FakeClock, senders: list[PacedSender]) -> None:
    transport = FakeSender(clock, raise_next=1)
    done = DoneLog()
    sender = paced(transport, clock, senders, retries=1)
    sender.post("@@g", Text("hello"), on_done=done.for_("hello"))
    assert sender.close(WAIT_S) is True

    assert done.results == [("hello", True)]


def test_callback_that_raises_does_not_stop_the_sender(
    clock: FakeClock, senders: list[PacedSender]
) -> None:
    def broken(sent: Sent) -> None:
        raise RuntimeError("a bug in the callback")

    transport = FakeSender(clock)
    sender = paced(transport, clock, senders)
    sender.post("@@g", Text("first"), on_done=broken)
    sender.post("@@g", Text("second"))
    assert sender.close(WAIT_S) is True

    assert transport.delivered() == [("@@g", "first"), ("@@g", "second")]


# -- the queue --------------------------------------------------------------------------------
def test_post_to_a_full_queue_returns_false(clock: FakeClock, senders: list[PacedSender]) -> None:
    gate = threading.Event()
    transport = FakeSender(clock, gate=gate)
    sender = paced(transport, clock, senders, max_queued=1)
    assert sender.post("@@g", Text("sending")) is True
    assert transport.entered.wait(WAIT_S)  # taken off the queue, held in the send
    assert sender.post("@@g", Text("waiting")) is True
    assert sender.queued() == 1

    assert sender.post("@@other", Text("one too many")) is False

    gate.set()
    assert sender.close(WAIT_S) is True
    assert transport.delivered() == [("@@g", "sending"), ("@@g", "waiting")]


def test_close_sends_everything_queued_then_refuses_more(
    clock: FakeClock, senders: list[PacedSender]
) -> None:
    transport = FakeSender(clock, send_s=0.1)
    sender = paced(transport, clock, senders)
    for i in range(5):
        sender.post("@@g", Text(f"m{i}"))
    assert sender.close(WAIT_S) is True

    assert transport.delivered() == [("@@g", f"m{i}") for i in range(5)]
    assert sender.queued() == 0
    assert sender.post("@@g", Text("too late")) is False


def test_close_gives_up_when_a_send_hangs(clock: FakeClock, senders: list[PacedSender]) -> None:
    gate = threading.Event()
    transport = FakeSender(clock, gate=gate)
    sender = paced(transport, clock, senders)
    sender.post("@@g", Text("hangs"))
    assert transport.entered.wait(WAIT_S)

    assert sender.close(0.05) is False
    gate.set()


# -- fairness ---------------------------------------------------------------------------------
def test_chats_take_turns_so_one_busy_group_does_not_hold_back_another(
    clock: FakeClock, senders: list[PacedSender]
) -> None:
    gate = threading.Event()
    transport = FakeSender(clock, gate=gate)
    sender = paced(transport, clock, senders)
    sender.post("filehelper", Text("x0"))
    assert transport.entered.wait(WAIT_S)  # the sender is busy while the others queue up
    for i in range(1, 4):
        sender.post("@@busy", Text(f"a{i}"))
    sender.post("@@quiet", Text("b1"))
    sender.post("callback-1", Text("a4"), lane="@@busy")  # answered elsewhere, queued as @@busy
    gate.set()
    assert sender.close(WAIT_S) is True

    assert [a.text for a in transport.attempts] == ["x0", "a1", "b1", "a2", "a3", "a4"]
    assert transport.delivered()[-1] == ("callback-1", "a4")
