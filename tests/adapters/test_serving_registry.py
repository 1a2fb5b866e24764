"""The protocol registry: names, ``auto`` asking each protocol in turn, and the rule that only
the registry and the adapters know which protocols exist."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.adapters.rest import Probe
from bot.app.protocols import detect, serving_client
from bot.config import load_config
from bot.core.settings import ServingConfig
from bot.errors import BadPrediction, ConfigError, ServingRejected, ServingUnavailable
from bot.registry import PROTOCOLS, ProtocolEntry, protocol_names
from tests.conftest import WriteConfig, free_port
from tests.fakes.stfs import FakeSTFS
from tests.fakes.tfserving import FakeTFServing, ModelSpec, seed000_spec
from tests.fakes.tfserving.hostile import HostileServer, json_answer

BOT = Path(__file__).resolve().parents[2] / "bot"


def serving(url: str, **overrides: object) -> ServingConfig:
    values = {"url": url, "model": "default", "retry_backoff_s": 0.01, "retries": 0, **overrides}
    return ServingConfig(**values)  # type: ignore[arg-type]


def detected(config: ServingConfig) -> ProtocolEntry:
    return detect(config, session=requests.Session(), sleep=time.sleep)


def test_the_config_takes_auto_and_the_registered_protocols_only(
    write_config: WriteConfig,
) -> None:
    for name in ("auto", *protocol_names()):
        assert load_config(write_config(serving=f'protocol = "{name}"'), env={})
    with pytest.raises(ConfigError) as err:
        load_config(write_config(serving='protocol = "v3"'), env={})
    assert err.value.problems == [
        '[serving] protocol = \'v3\': must be one of "auto", "tfserving", "stfs", "v2"'
    ]


def test_only_the_registry_names_protocols_in_the_wiring_and_rest_knows_no_paths() -> None:
    named = re.compile(r'"(' + "|".join(protocol_names()) + r')"')
    for path in [*(BOT / "app").glob("*.py"), BOT / "config.py", BOT / "cli.py"]:
        assert not named.search(path.read_text(encoding="utf-8")), path
    rest = (BOT / "adapters" / "rest.py").read_text(encoding="utf-8")
    assert "/v1" not in rest and not named.search(rest)


def test_auto_asks_each_protocol_and_the_client_says_which_server_it_is() -> None:
    with FakeTFServing(ModelSpec(name="default")) as tfs:
        client = serving_client(serving(tfs.url), session=requests.Session(), sleep=time.sleep)
        assert client.server == "TF Serving"
    with FakeSTFS(seed000_spec()) as stfs:
        client = serving_client(serving(stfs.url), session=requests.Session(), sleep=time.sleep)
        assert client.server == "STFS"


def test_a_server_no_protocol_recognises_is_a_clear_error_naming_the_choices() -> None:
    kserve_v1 = {"name": "default", "ready": True}  # KServe's V1 readiness: neither server's
    with HostileServer({"GET /v1/models/default": [json_answer(kserve_v1)]}) as srv:
        with pytest.raises(BadPrediction) as err:
            detected(serving(srv.url))
        # each path asked once
        assert srv.requests == ["GET /v2", "GET /v1/models/default", "GET /health"]
    text = str(err.value)
    assert f"the server at {srv.url} answers like none of TF Serving or STFS or " in text
    assert 'set [serving] protocol to one of "tfserving", "stfs", "v2"' in text


def test_credentials_refused_by_a_proxy_keep_their_real_status() -> None:
    refused = json_answer({"message": "no"}, 403)
    with HostileServer({"GET /v1/models/default": [refused]}) as srv:
        with pytest.raises(ServingRejected) as err:
            detected(serving(srv.url))
        assert "GET /health" not in srv.requests
    assert err.value.status == 403
    assert "refused the credentials (403: " in str(err.value)


def test_a_server_that_is_down_gets_every_protocols_start_hint() -> None:
    port = free_port()
    with pytest.raises(ServingUnavailable) as err:
        detected(serving(f"http://127.0.0.1:{port}"))
    assert f"docker run -p {port}:8501 tensorflow/serving ..." in str(err.value)
    assert f"simple_tensorflow_serving --model_base_path=... --port={port}" in str(err.value)


@pytest.fixture
def third_protocol(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProtocolEntry]:
    def looks_like(probe: Probe) -> bool:
        return probe.get("/v2/health/ready").status_code == 200

    entry = ProtocolEntry("v2", "Open Inference", PROTOCOLS["tfserving"].client, looks_like, str)
    monkeypatch.setitem(PROTOCOLS, "v2", entry)
    yield entry


def test_a_third_protocol_is_one_registry_entry_that_auto_asks_too(
    third_protocol: ProtocolEntry,
) -> None:
    routes = {
        "GET /v1/models/default": [json_answer({"detail": "Not Found"}, 404)],  # FastAPI's 404
        "GET /v2/health/ready": [json_answer({})],
    }
    with HostileServer(routes) as srv:
        assert detected(serving(srv.url)) is third_protocol
    assert "v2" in protocol_names()
