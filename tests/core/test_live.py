"""LiveRecogniser and ModelSet: lazy connection, remembered failures, routing by model name."""

from __future__ import annotations

import traceback

import pytest

from bot.core.live import LiveRecogniser, ModelSet
from bot.errors import ServingUnavailable
from tests.core.fakes import FakeClock, FakeConnect, FakeModel, fake_recogniser

RETRY_S = 30.0
REFUSED = ServingUnavailable("TF Serving at http://127.0.0.1:8501 refused the connection")


def test_nothing_is_connected_until_a_recogniser_is_wanted() -> None:
    model = FakeModel(fake_recogniser())
    connect = FakeConnect(model)
    live = LiveRecogniser(connect, retry_s=RETRY_S, clock=FakeClock())
    assert connect.calls == 0

    assert live.get() is model.recogniser
    assert live.get() is model.recogniser
    assert connect.calls == 1  # connected once, then kept


def test_failure_is_remembered_for_retry_s_then_tried_again() -> None:
    clock = FakeClock()
    model = FakeModel(fake_recogniser())
    connect = FakeConnect(model, failures=[REFUSED])
    live = LiveRecogniser(connect, retry_s=RETRY_S, clock=clock)

    with pytest.raises(ServingUnavailable) as first:
        live.get()
    clock.advance(RETRY_S - 0.001)
    with pytest.raises(ServingUnavailable) as remembered:
        live.get()
    assert str(remembered.value) == str(first.value)
    assert connect.calls == 1  # not asked again within retry_s

    clock.advance(0.001)
    assert live.get() is model.recogniser
    assert connect.calls == 2


def test_a_remembered_failure_is_a_new_exception_each_time() -> None:
    """A cached exception raised again grows its traceback and keeps the frames (and a
    picture's bytes) of every caller alive."""
    live = LiveRecogniser(FakeConnect(FakeModel(fake_recogniser()), failures=[REFUSED]),
                          retry_s=RETRY_S, clock=FakeClock())  # fmt: skip
    raised = []
    for _ in range(3):
        with pytest.raises(ServingUnavailable) as caught:
            live.get()
        raised.append(caught.value)

    assert len({id(exc) for exc in raised}) == 3
    assert all(exc is not REFUSED for exc in raised[1:])
    frames = [len(traceback.extract_tb(exc.__traceback__)) for exc in raised[1:]]
    assert frames[0] == frames[1]  # no growth from one raise to the next


def test_each_failed_retry_starts_a_new_wait() -> None:
    clock = FakeClock()
    connect = FakeConnect(FakeModel(fake_recogniser()), failures=[REFUSED, REFUSED])
    live = LiveRecogniser(connect, retry_s=RETRY_S, clock=clock)

    with pytest.raises(ServingUnavailable):
        live.get()  # first try at t=0: fails
    clock.advance(RETRY_S)
    with pytest.raises(ServingUnavailable):
        live.get()  # second try at t=RETRY_S: fails again, a new wait starts now
    assert connect.calls == 2

    clock.advance(RETRY_S - 0.001)
    with pytest.raises(ServingUnavailable):
        live.get()  # within the new wait: not asked
    assert connect.calls == 2

    clock.advance(0.001)
    live.get()  # the new wait is over: asked, and it answers
    assert connect.calls == 3


def test_ping_asks_the_connected_model() -> None:
    model = FakeModel(fake_recogniser())
    live = LiveRecogniser(FakeConnect(model), retry_s=RETRY_S, clock=FakeClock())
    live.ping()
    model.down = REFUSED

    with pytest.raises(ServingUnavailable):
        live.ping()
    assert model.pings == 2


def test_ping_while_unreachable_raises_without_connecting_again() -> None:
    connect = FakeConnect(FakeModel(fake_recogniser()), failures=[REFUSED])
    live = LiveRecogniser(connect, retry_s=RETRY_S, clock=FakeClock())

    for _ in range(3):
        with pytest.raises(ServingUnavailable):
            live.ping()
    assert connect.calls == 1


def test_model_set_routes_names_to_their_models() -> None:
    clock = FakeClock()
    default, dogs = FakeModel(fake_recogniser()), FakeModel(fake_recogniser(model="dogs"))
    default_live = LiveRecogniser(FakeConnect(default), retry_s=RETRY_S, clock=clock)
    dogs_live = LiveRecogniser(FakeConnect(dogs), retry_s=RETRY_S, clock=clock)
    models = ModelSet(default_live, {"dogs": dogs_live})

    assert models.get(None) is default.recogniser
    assert models.get("dogs") is dogs.recogniser
    assert models.all() == {None: default_live, "dogs": dogs_live}


def test_one_model_down_does_not_take_the_others_down() -> None:
    clock = FakeClock()
    default = FakeModel(fake_recogniser())
    dogs = FakeConnect(FakeModel(fake_recogniser(model="dogs")), failures=[REFUSED])
    models = ModelSet(
        LiveRecogniser(FakeConnect(default), retry_s=RETRY_S, clock=clock),
        {"dogs": LiveRecogniser(dogs, retry_s=RETRY_S, clock=clock)},
    )

    with pytest.raises(ServingUnavailable):
        models.get("dogs")
    assert models.get(None) is default.recogniser
