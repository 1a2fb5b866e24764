"""When the WeCom link connects again: waits that grow across connections cut soon after their
login (WeCom answers a login a second with 45009), start over only after a connection lived a
while, carry jitter, and give up on connections that do not log in at all."""

from __future__ import annotations

import pytest

from bot.adapters.wecom.backoff import STABLE_S, WHILE_RUNNING, Backoff, Retry

NO_JITTER = Retry(attempts=3, first_delay_s=0.5, max_delay_s=30.0, jitter=0.0)


def test_waits_grow_across_connections_cut_soon_after_their_login() -> None:
    backoff = Backoff(draw=lambda: 0.0)
    waits = [backoff.next_delay_s(NO_JITTER, logged_in=True, lived_s=0.2) for _ in range(9)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_waits_start_over_after_a_connection_that_lived_a_while() -> None:
    backoff = Backoff(draw=lambda: 0.0)
    for _ in range(5):
        backoff.next_delay_s(NO_JITTER, logged_in=True, lived_s=1.0)
    assert backoff.next_delay_s(NO_JITTER, logged_in=True, lived_s=STABLE_S) == 0.5


def test_it_gives_up_after_attempts_connections_in_a_row_that_do_not_log_in() -> None:
    backoff = Backoff(draw=lambda: 0.0)
    waits = [backoff.next_delay_s(NO_JITTER, logged_in=False, lived_s=0.0) for _ in range(4)]
    assert waits == [0.5, 1.0, 2.0, None]


def test_a_successful_login_between_failures_keeps_the_bot_trying() -> None:
    backoff = Backoff(draw=lambda: 0.0)
    for _ in range(3):
        assert backoff.next_delay_s(NO_JITTER, logged_in=False, lived_s=0.0) is not None
    assert backoff.next_delay_s(NO_JITTER, logged_in=True, lived_s=0.2) == 4.0
    assert backoff.next_delay_s(NO_JITTER, logged_in=False, lived_s=0.0) == 8.0


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
def test_jitter_shortens_a_wait_by_at_most_a_quarter(draw: float) -> None:
    wait = Backoff(draw=lambda: draw).next_delay_s(WHILE_RUNNING, logged_in=True, lived_s=0.0)
    assert wait == pytest.approx(WHILE_RUNNING.first_delay_s * (1 - 0.25 * draw))
