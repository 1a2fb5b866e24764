"""TF Serving client against a local server that speaks TF Serving's REST protocol."""

from __future__ import annotations

import base64
import json
import time
import traceback
from collections.abc import Iterator

import pytest
import requests

from bot.adapters.imaging import PhotoPreparer
from bot.adapters.tfserving import TFServingClient, redact_url
from bot.core.serving import ModelInput
from bot.core.settings import ImagesConfig, ServingConfig
from bot.errors import BadPrediction, ServingRejected, ServingUnavailable
from tests import gallery
from tests.conftest import free_port
from tests.fakes.tfserving import FakeTFServing, ModelSpec, image_for_class


def client_for(url: str, **overrides: object) -> TFServingClient:
    settings = ServingConfig(
        **{"url": url, "model": "resnet", "retry_backoff_s": 0.01, "timeout_s": 5.0, **overrides}
    )  # type: ignore[arg-type]
    return TFServingClient(settings, session=requests.Session(), sleep=time.sleep)


def photo_of(
    client: TFServingClient,
    class_id: int,
    num_classes: int = 1001,
    size: tuple[int, int] = (1440, 1080),
) -> ModelInput:
    data = gallery.jpeg(image_for_class(num_classes, class_id, size))
    return PhotoPreparer(client.model_info().input, ImagesConfig())(data)


def argmax(values: tuple[float, ...]) -> int:
    return max(range(len(values)), key=values.__getitem__)


@pytest.fixture
def resnet() -> Iterator[FakeTFServing]:
    with FakeTFServing(ModelSpec()) as srv:
        yield srv


def test_official_resnet_signature_is_read_as_jpeg_input_with_1001_classes(
    resnet: FakeTFServing,
) -> None:
    info = client_for(resnet.url).model_info()
    assert (info.input.kind, info.input.alias, info.input.dtype) == (
        "jpeg",
        "image_bytes",
        "string",
    )
    assert (info.output, info.num_classes, info.version) == ("probabilities", 1001, "1")


def test_photo_is_sent_as_a_small_standard_base64_jpeg_and_its_class_comes_back(
    resnet: FakeTFServing,
) -> None:
    client = client_for(resnet.url)
    prediction = client.predict(photo_of(client, 286, size=(4032, 3024)))
    assert argmax(prediction.probabilities) == 286
    assert len(prediction.probabilities) == 1001
    predict = [r for r in resnet.requests if r.path.endswith(":predict")][-1]
    assert predict.json is not None
    b64 = predict.json["instances"][0]["image_bytes"]["b64"]
    assert "-" not in b64 and "_" not in b64
    assert predict.body_length == prediction.request_bytes < 100_000
    assert resnet.predict_images[-1].size == (427, 320)


@pytest.mark.parametrize("value_range", ["0_1", "-1_1", "0_255", "caffe"])
def test_tensor_model_gets_a_resized_tensor_in_its_value_range(value_range: str) -> None:
    spec = ModelSpec(
        input_kind="float",
        height=224,
        width=224,
        num_classes=1000,
        outputs="single",
        tf2=True,
        tensor_range=value_range,
    )
    with FakeTFServing(spec) as srv:
        client = client_for(srv.url, value_range=value_range)
        info = client.model_info()
        assert (info.input.kind, info.input.height, info.output, info.num_classes) == (
            "tensor",
            224,
            None,
            1000,
        )
        prediction = client.predict(photo_of(client, 417, num_classes=1000))
        assert argmax(prediction.probabilities) == 417


def test_tensor_model_with_the_wrong_value_range_gives_a_different_class() -> None:
    spec = ModelSpec(input_kind="float", num_classes=1000, outputs="single", tensor_range="0_1")
    with FakeTFServing(spec) as srv:
        client = client_for(srv.url, value_range="0_255")
        assert argmax(client.predict(photo_of(client, 417, num_classes=1000)).probabilities) != 417


def test_uint8_tensor_model_gets_whole_numbers() -> None:
    spec = ModelSpec(input_kind="uint8", num_classes=1001, tensor_range="0_255")
    with FakeTFServing(spec) as srv:
        client = client_for(srv.url)
        assert argmax(client.predict(photo_of(client, 12)).probabilities) == 12


def test_version_pin_goes_into_the_url() -> None:
    with FakeTFServing(ModelSpec(versions=(1, 2))) as srv:
        client = client_for(srv.url, version=1)
        prediction = client.predict(photo_of(client, 5))
        assert prediction.version == "1"
        assert any(r.path == "/v1/models/resnet/versions/1:predict" for r in srv.requests)


def test_label_pin_goes_into_the_url() -> None:
    with FakeTFServing(ModelSpec(versions=(1, 2), labels={"stable": 1})) as srv:
        client = client_for(srv.url, version_label="stable")
        client.predict(photo_of(client, 5))
        assert any(r.path == "/v1/models/resnet/labels/stable:predict" for r in srv.requests)


def test_missing_version_is_a_404_that_names_model_and_version(resnet: FakeTFServing) -> None:
    with pytest.raises(ServingRejected) as err:
        client_for(resnet.url, version=7).model_info()
    assert err.value.status == 404
    assert "no model 'resnet' version 7 at " + resnet.url in str(err.value)


def test_unknown_model_is_a_404_that_says_what_to_check(resnet: FakeTFServing) -> None:
    with pytest.raises(ServingRejected, match="check \\[serving\\] model"):
        client_for(resnet.url, model="mobilenet").model_info()


def test_rejected_request_carries_the_servers_message(resnet: FakeTFServing) -> None:
    client = client_for(resnet.url)
    payload = photo_of(client, 3)
    resnet.fail_next(400, json.dumps({"error": "jpeg::Uncompress failed"}))
    with pytest.raises(ServingRejected) as err:
        client.predict(payload)
    assert (err.value.status, err.value.server_message) == (400, "jpeg::Uncompress failed")


def test_error_body_that_is_not_json_is_reported_as_text(resnet: FakeTFServing) -> None:
    client = client_for(resnet.url)
    payload = photo_of(client, 3)
    resnet.fail_next(500, "<html><body>Internal error</body></html>", content_type="text/html")
    with pytest.raises(ServingRejected) as err:
        client.predict(payload)
    assert err.value.status == 500
    assert "Internal error" in err.value.server_message


def test_overload_is_retried_then_succeeds(resnet: FakeTFServing) -> None:
    client = client_for(resnet.url, retries=2)
    payload = photo_of(client, 9)
    resnet.fail_next(503, json.dumps({"error": "queue is full"}), count=2)
    assert argmax(client.predict(payload).probabilities) == 9


@pytest.mark.parametrize("status", [429, 503, 504])
def test_persistent_overload_becomes_unavailable_after_bounded_retries(
    resnet: FakeTFServing, status: int
) -> None:
    client = client_for(resnet.url, retries=2)
    payload = photo_of(client, 9)
    before = len(resnet.requests)
    resnet.fail_next(status, json.dumps({"error": "busy"}), count=10)
    with pytest.raises(ServingUnavailable, match=f"HTTP {status}: busy") as err:
        client.predict(payload)
    assert len(resnet.requests) - before == 3
    # It answered: "start it" would send a person to start a server that is running.
    assert "is up but not serving" in str(err.value) and "start it" not in str(err.value)
    assert (err.value.status, err.value.server_message) == (status, "busy")


def test_connection_refused_names_the_url_and_what_to_do_on_its_port() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(ServingUnavailable) as err:
        client_for(url, retries=1).model_info()
    assert url in str(err.value)
    assert f"start it (docker run -p {port}:8501 tensorflow/serving ...)" in str(err.value)


def test_slow_server_times_out_with_a_clear_message(resnet: FakeTFServing) -> None:
    client = client_for(resnet.url, timeout_s=0.3)
    payload = photo_of(client, 9)
    resnet.delay_s = 1.5
    with pytest.raises(ServingUnavailable, match="did not answer within 0.3 s"):
        client.predict(payload)


def test_server_recovers_after_a_restart_on_the_same_port(resnet: FakeTFServing) -> None:
    client = client_for(resnet.url, retries=0)
    payload = photo_of(client, 9)
    resnet.stop()
    with pytest.raises(ServingUnavailable):
        client.predict(payload)
    resnet.start()
    assert argmax(client.predict(payload).probabilities) == 9


@pytest.mark.parametrize(
    "answer",
    [
        {"predictions": [{"classes": 3}]},
        {"outputs": {"probabilities": [[0.5, 0.5]]}},
        {"predictions": [{"classes": 1, "probabilities": [0.5, 0.5]}]},
        {"predictions": [{"classes": 1, "probabilities": [float("nan")] * 1001}]},
        {"predictions": [{"classes": 1, "probabilities": [-0.5] + [0.0] * 1000}]},
        {"predictions": [{"classes": 1, "probabilities": "lots"}]},
        [1, 2, 3],
    ],
    ids=[
        "no probabilities",
        "columnar instead of rows",
        "wrong length",
        "nan",
        "negative",
        "string",
        "not an object",
    ],
)
def test_nonsense_answers_are_bad_predictions(resnet: FakeTFServing, answer: object) -> None:
    client = client_for(resnet.url)
    payload = photo_of(client, 3)
    resnet.override_predict_json = answer
    with pytest.raises(BadPrediction):
        client.predict(payload)


def test_loading_model_is_unavailable_not_a_crash(resnet: FakeTFServing) -> None:
    resnet.loading = True
    with pytest.raises(ServingUnavailable, match="has no AVAILABLE version"):
        client_for(resnet.url).model_info()


def test_bearer_token_is_sent_but_never_shown(resnet: FakeTFServing) -> None:
    client = client_for(resnet.url, token="tok-123")
    client.model_info()
    assert resnet.requests[-1].headers.get("authorization") == "Bearer tok-123"
    resnet.fail_next(401, json.dumps({"error": "bad token"}))
    with pytest.raises(ServingRejected) as err:
        client.predict(photo_of(client, 1))
    assert "tok-123" not in str(err.value)


def shown_with_causes(exc: BaseException) -> str:
    """All a user can see of an error: its message and, with ``-v``, its chained causes."""
    lines: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        lines += traceback.format_exception_only(seen)
        seen = seen.__cause__ or seen.__context__
    return "".join(lines)


def test_credentials_in_the_url_are_removed_from_messages(resnet: FakeTFServing) -> None:
    assert redact_url("http://bot:pw@127.0.0.1:8501") == "http://127.0.0.1:8501"
    secret = "S3cret-pw"
    # Nothing listens: "unavailable", naming the server without its credentials.
    port = free_port()
    with pytest.raises(ServingUnavailable) as down:
        client_for(f"http://bot:{secret}@127.0.0.1:{port}").model_info()
    assert f"TF Serving at http://127.0.0.1:{port} is unavailable" in str(down.value)
    # The server answers no: the same.
    host = resnet.url.removeprefix("http://")
    resnet.fail_next(404, json.dumps({"error": "Servable not found"}), scope="v1")
    with pytest.raises(ServingRejected) as rejected:
        client_for(f"http://bot:{secret}@{host}").model_info()
    assert f"at http://{host} (404: Servable not found)" in str(rejected.value)
    for err in (down.value, rejected.value):
        shown = shown_with_causes(err)
        assert secret not in shown and "bot:" not in shown, shown
    # The credentials still reach the server, as HTTP basic auth.
    client_for(f"http://bot:{secret}@{host}").model_info()
    assert resnet.requests[-1].headers.get("authorization") == "Basic " + base64.b64encode(
        f"bot:{secret}".encode()
    ).decode("ascii")
