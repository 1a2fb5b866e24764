"""Answers are bounded: the whole answer within ``timeout_s`` (issue 16.3), its size by what
the model can answer (16.4), and a ``Retry-After`` on 429/503 waited for once (issue 15)."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator

import pytest
import requests

from bot.adapters.stfs import STFSClient
from bot.adapters.tfserving import TFServingClient
from bot.core.serving import JpegPayload, ServingClient, answer_limit
from bot.core.settings import ServingConfig
from bot.errors import BadPrediction, ServingRejected, ServingUnavailable
from tests.fakes.tfserving.hostile import (
    HostileServer,
    Scripted,
    json_answer,
    resnet_routes,
    stfs_routes,
    trickled,
)

PICTURE = JpegPayload(b"\xff\xd8 not really a picture", 1, 1)
TF_PREDICT = "POST /v1/models/resnet:predict"
ANSWERS = {
    "tfserving": {"predictions": [{"classes": 1, "probabilities": [0.25, 0.75]}]},
    "stfs": {"probabilities": [[0.25, 0.75]]},
}


def client_for(
    protocol: str, url: str, sleeps: list[float] | None = None, **overrides: object
) -> ServingClient:
    values = {"url": url, "retry_backoff_s": 0.01, "timeout_s": 5.0, "retries": 0, **overrides}
    if protocol == "stfs":
        values = {"model": "default", "input": "base64_text", **values}
    settings = ServingConfig(**values)  # type: ignore[arg-type]
    sleep = sleeps.append if sleeps is not None else time.sleep
    kind = STFSClient if protocol == "stfs" else TFServingClient
    client = kind(settings, session=requests.Session(), sleep=sleep)
    client.model_info()
    return client


def server(protocol: str, *predict: Scripted, num_classes: int = 2) -> HostileServer:
    if protocol == "stfs":
        return HostileServer({**stfs_routes(num_classes), "POST /": list(predict)})
    return HostileServer({**resnet_routes(num_classes), TF_PREDICT: list(predict)})


# -- 16.3: timeout_s is a deadline for the whole answer --------------------------------------
@pytest.mark.parametrize("protocol", ["tfserving", "stfs"])
def test_an_answer_trickled_past_timeout_s_is_cut_at_the_deadline(protocol: str) -> None:
    body = json.dumps(ANSWERS[protocol]).encode()  # one byte every 0.25 s: 12 s or more
    with server(protocol, trickled(body, 0.25)) as srv:
        client = client_for(protocol, srv.url, timeout_s=1.0)
        start = time.monotonic()
        with pytest.raises(ServingUnavailable) as err:
            client.predict(PICTURE)
        took = time.monotonic() - start
    assert took < 1.6
    assert "did not finish its answer to POST " in str(err.value)
    assert "within [serving] timeout_s = 1 s" in str(err.value)


def test_an_answer_trickled_within_timeout_s_is_read_whole() -> None:
    body = json.dumps(ANSWERS["tfserving"]).encode()
    with server("tfserving", trickled(body, 0.005)) as srv:
        client = client_for("tfserving", srv.url, timeout_s=3.0)
        assert client.predict(PICTURE).probabilities == (0.25, 0.75)


# -- 16.4: answers are bounded by what the model can answer ----------------------------------
def padded_answer(megabytes: int) -> Iterator[bytes]:
    """A valid 1,001-class answer with ``megabytes`` MiB of padding in an extra output."""
    doc = {"predictions": [{"classes": 1, "probabilities": [1 / 1001] * 1001, "pad": "@"}]}
    head, tail = json.dumps(doc).encode().split(b'"@"')
    yield head + b'"'
    for _ in range(megabytes):
        yield b"x" * (1 << 20)
    yield b'"' + tail


def test_the_answer_bound_follows_the_models_classes() -> None:
    assert answer_limit(1001).max_bytes == 64 * 1024 + 256 * 1001  # a real answer: ~20 KB
    assert answer_limit(None).max_bytes == 8 * 1024 * 1024
    assert answer_limit(10**9).max_bytes == 64 * 1024 * 1024


def test_an_answer_larger_than_the_models_bound_is_refused_unread() -> None:
    with server("tfserving", Scripted(200, lambda: padded_answer(20)), num_classes=1001) as srv:
        client = client_for("tfserving", srv.url)
        start = time.monotonic()
        with pytest.raises(BadPrediction) as err:
            client.predict(PICTURE)
        assert time.monotonic() - start < 2.0
    assert "answered POST /v1/models/resnet:predict with more than 321,792 bytes" in str(err.value)
    assert "the bound for 1,001 classes" in str(err.value)
    assert "the body grew past it" in str(err.value)


def test_an_announced_length_over_the_bound_is_refused_before_reading() -> None:
    huge = Scripted(200, lambda: padded_answer(50), length=50 << 20)
    with server("tfserving", huge, num_classes=1001) as srv:
        client = client_for("tfserving", srv.url)
        with pytest.raises(BadPrediction, match="it announced 52,428,800 bytes"):
            client.predict(PICTURE)


def test_metadata_larger_than_its_bound_is_refused() -> None:
    routes = resnet_routes()
    pad = {"junk": "x" * (5 << 20)}
    routes["GET /v1/models/resnet/metadata"] = [json_answer(pad)]
    with HostileServer(routes) as srv, pytest.raises(BadPrediction) as err:
        client_for("tfserving", srv.url)
    assert "the bound for status and metadata answers" in str(err.value)


def test_a_large_error_page_is_cut_to_its_beginning_not_refused() -> None:
    page = b"<html><body>Internal error" + b" " * (2 << 20) + b"</body></html>"
    with server("tfserving", Scripted(500, page, {"Content-Type": "text/html"})) as srv:
        client = client_for("tfserving", srv.url)
        with pytest.raises(ServingRejected) as err:
            client.predict(PICTURE)
    assert (err.value.status, err.value.server_message) == (500, "<html><body>Internal error")


# -- Retry-After on 429 and 503 ----------------------------------------------------------------
def busy(status: int = 503, **headers: str) -> Scripted:
    return json_answer({"error": "busy"}, status, **headers)


OK = json_answer(ANSWERS["tfserving"])


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_waited_once_then_the_backoff_applies(status: int) -> None:
    later = {"Retry-After": "2"}
    with server("tfserving", busy(status, **later), busy(status, **later), OK) as srv:
        sleeps: list[float] = []
        client = client_for("tfserving", srv.url, sleeps, retries=2)
        assert client.predict(PICTURE).probabilities == (0.25, 0.75)
    assert sleeps == [2.0, 0.02]


def test_retry_after_as_a_date_is_read_against_the_servers_own_clock() -> None:
    date = "Wed, 02 Dec 2026 10:00:00 GMT"
    later = {"Date": date, "Retry-After": "Wed, 02 Dec 2026 10:00:03 GMT"}
    with server("tfserving", busy(**later), OK) as srv:
        sleeps: list[float] = []
        client = client_for("tfserving", srv.url, sleeps, retries=1)
        client.predict(PICTURE)
    assert sleeps == [3.0]


def test_retry_after_as_a_date_without_the_servers_date_uses_this_clock() -> None:
    later = {"Retry-After": email.utils.formatdate(time.time() + 4, usegmt=True)}
    with server("tfserving", busy(**later), OK) as srv:
        sleeps: list[float] = []
        client = client_for("tfserving", srv.url, sleeps, retries=1)
        client.predict(PICTURE)
    assert len(sleeps) == 1 and 2.5 < sleeps[0] <= 4.0


def test_a_long_retry_after_is_cut_to_timeout_s() -> None:
    with server("tfserving", busy(**{"Retry-After": "3600"}), OK) as srv:
        sleeps: list[float] = []
        client = client_for("tfserving", srv.url, sleeps, retries=1, timeout_s=5.0)
        client.predict(PICTURE)
    assert sleeps == [5.0]


@pytest.mark.parametrize(
    ("status", "value"), [(504, "2"), (503, "soon"), (503, "-1")], ids=["504", "words", "negative"]
)
def test_retry_after_on_504_or_unreadable_is_ignored(status: int, value: str) -> None:
    with server("tfserving", busy(status, **{"Retry-After": value}), OK) as srv:
        sleeps: list[float] = []
        client = client_for("tfserving", srv.url, sleeps, retries=1)
        client.predict(PICTURE)
    assert sleeps == [0.01]
