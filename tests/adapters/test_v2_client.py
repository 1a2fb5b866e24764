"""The Open Inference Protocol client against the v2 stand-in: discovery, each input kind
(BYTES JPEG binary or base64, FP32/UINT8 tensors NHWC or NCHW, binary or JSON), Triton's
classification extension, errors in plain words, extra headers, and ``auto`` telling it apart."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from bot.adapters.imaging import PhotoPreparer
from bot.adapters.v2 import V2Client
from bot.adapters.v2.wire import HEADER_LENGTH
from bot.app.protocols import detect
from bot.core.serving import JpegPayload, ModelInput
from bot.core.settings import ImagesConfig, ServingConfig
from bot.errors import BadPrediction, ServingRejected, ServingUnavailable
from tests import gallery
from tests.fakes.tfserving import image_for_class
from tests.fakes.v2 import FakeV2, V2Model

MODELS = [
    V2Model("resnet"),
    V2Model("nchw", kind="fp32", layout="NCHW", num_classes=1000),
    V2Model("nhwc", kind="fp32", num_classes=1000, size=96),
    V2Model("u8", kind="uint8", num_classes=1000, size=96),
]


def client_for(url: str, model: str = "resnet", **overrides: object) -> V2Client:
    settings = ServingConfig(
        **{"url": url, "model": model, "retry_backoff_s": 0.01, "timeout_s": 5.0, **overrides}
    )  # type: ignore[arg-type]
    return V2Client(settings, session=requests.Session(), sleep=time.sleep)


def photo(client: V2Client, class_id: int, num_classes: int = 1001) -> ModelInput:
    data = gallery.jpeg(image_for_class(num_classes, class_id, (1440, 1080)))
    return PhotoPreparer(client.model_info().input, ImagesConfig())(data)


def best(values: tuple[float, ...]) -> int:
    return max(range(len(values)), key=values.__getitem__)


@pytest.fixture(params=["triton", "mlserver", "ovms", "kserve"])
def server(request: pytest.FixtureRequest) -> Iterator[FakeV2]:
    with FakeV2(MODELS, flavour=request.param) as srv:
        yield srv


def infer_requests(srv: FakeV2) -> list[object]:
    return [r for r in srv.requests if r.path.endswith("/infer")]


def test_a_bytes_model_is_read_as_a_jpeg_input_and_answers_its_class(server: FakeV2) -> None:
    client = client_for(server.url)
    info = client.model_info()
    version = "(unversioned)" if server.flavour == "kserve" else "1"  # KServe sends null
    assert (info.input.kind, info.num_classes, info.version) == ("jpeg", 1001, version)
    prediction = client.predict(photo(client, 286))
    assert best(prediction.probabilities) == 286
    [sent] = infer_requests(server)
    entry = sent.doc["inputs"][0]
    if server.flavour in ("mlserver", "kserve"):  # base64 in JSON, MLServer's codec
        assert (
            entry["parameters"] == {"content_type": "base64"} and HEADER_LENGTH not in sent.headers
        )
    else:  # raw JPEG bytes after the JSON header
        assert set(entry["parameters"]) == {"binary_data_size"} and "data" not in entry
        assert int(sent.headers[HEADER_LENGTH]) < sent.body_bytes


@pytest.mark.parametrize("model", ["nchw", "nhwc", "u8"])
def test_tensor_models_get_the_picture_in_their_layout_and_type(server: FakeV2, model: str) -> None:
    client = client_for(server.url, model, value_range="0_1")
    info = client.model_info()
    assert info.input.kind == "tensor"
    prediction = client.predict(photo(client, 258, 1000))  # R and B bins differ: catches BGR
    assert best(prediction.probabilities) == 258
    [sent] = infer_requests(server)
    size = 224 if model == "nchw" else 96
    shape = [1, 3, size, size] if model == "nchw" else [1, size, size, 3]
    assert sent.doc["inputs"][0]["shape"] == shape
    assert ("data" in sent.doc["inputs"][0]) == (server.flavour == "mlserver")


def test_triton_sends_back_only_the_top_scores_when_they_are_probabilities() -> None:
    with FakeV2(MODELS, flavour="triton") as srv:
        client = client_for(srv.url)
        prediction = client.predict(photo(client, 9))
        assert best(prediction.probabilities) == 9
        assert sum(1 for p in prediction.probabilities if p > 0) == 5
        [sent] = infer_requests(srv)
        assert sent.doc["outputs"][0]["parameters"]["classification"] == 5
        assert any("top 5 by the classification extension" in n for n in client.wire_notes())
        logits = client_for(srv.url, scores="logits")
        logits.predict(photo(logits, 9))
        assert "classification" not in infer_requests(srv)[-1].doc["outputs"][0]["parameters"]


def test_check_notes_say_which_server_and_how_tensors_travel(server: FakeV2) -> None:
    notes = client_for(server.url).wire_notes()
    expected = {
        "triton": "server Triton 2.51.0",
        "mlserver": "server MLServer 1.6.1",
        "ovms": "server OpenVINO Model Server 2024.4",
        "kserve": "server KServe 0.21.0",
    }[server.flavour]
    assert notes[0].startswith(expected)
    assert ("base64 in JSON" in notes[1]) == (server.flavour in ("mlserver", "kserve"))


def test_an_unknown_model_is_named_with_the_servers_words() -> None:
    with FakeV2(MODELS) as srv, pytest.raises(ServingRejected) as err:
        client_for(srv.url, "cats").model_info()
    assert "Triton has no model 'cats'" in str(err.value)
    assert "unknown model: 'cats' is not found" in str(err.value)


def test_a_model_that_is_not_ready_is_unavailable_not_wrong() -> None:
    with FakeV2([V2Model("resnet", ready=False)]) as srv, pytest.raises(ServingUnavailable) as err:
        client_for(srv.url).model_info()
    assert "is still loading" in str(err.value) and "wait for it" in str(err.value)


@pytest.mark.parametrize("flavour", ["triton", "mlserver", "ovms", "kserve"])
def test_a_model_still_loading_is_unavailable_for_now_on_every_server(flavour: str) -> None:
    """Each server says "loading" its own way (Triton and OVMS 404, MLServer 400 at infer,
    KServe 503): never "has no model" nor "start it" while the server is up and loading."""
    loading = V2Model("resnet", loading=True)
    with FakeV2([loading], flavour=flavour) as srv:  # type: ignore[arg-type]
        client = client_for(srv.url, retries=1)
        with pytest.raises(ServingUnavailable) as err:
            client.model_info()
            client.predict(JpegPayload(gallery.jpeg(image_for_class(1001, 5, (64, 64))), 64, 64))
        text = str(err.value)
        assert "still loading model 'resnet'" in text and "wait for it" in text, text
        assert "has no model" not in text and "start it" not in text, text
        loading.loading = False  # loaded: the same client answers, nothing to restart
        assert best(client.predict(photo(client, 286)).probabilities) == 286


def test_a_refused_picture_is_a_rejection_carrying_the_servers_error() -> None:
    with FakeV2(MODELS) as srv:
        client = client_for(srv.url)
        client.model_info()
        with pytest.raises(ServingRejected) as err:
            client.predict(JpegPayload(b"not a jpeg", 1, 1))
    assert err.value.status == 400
    assert "could not read the picture" in err.value.server_message


def test_a_token_and_extra_headers_are_sent_on_every_request() -> None:
    with FakeV2(MODELS, token="t0ken") as srv:
        with pytest.raises(ServingRejected, match="refused the credentials"):
            client_for(srv.url).model_info()
        client = client_for(srv.url, token="t0ken", headers=(("Host", "resnet.example.com"),))
        client.predict(photo(client, 3))
        assert all(r.headers.get("Host") == "resnet.example.com" for r in srv.requests[-3:])


def test_auto_finds_an_open_inference_protocol_server() -> None:
    with FakeV2(MODELS) as srv:
        settings = ServingConfig(url=srv.url, model="resnet", retry_backoff_s=0.01)
        entry = detect(settings, session=requests.Session(), sleep=time.sleep)
    assert entry.name == "v2"


def test_an_answer_with_the_wrong_number_of_scores_is_a_bad_prediction() -> None:
    with FakeV2(MODELS, flavour="mlserver") as srv:
        client = client_for(srv.url)
        client.model_info()
        srv.models[0] = V2Model("resnet", num_classes=10)  # the model changed under the bot
        with pytest.raises(
            BadPrediction, match="answered 10 scores but its metadata declares 1001"
        ):
            client.predict(photo(client, 3))


def test_a_bytes_output_of_class_names_comes_back_beside_the_scores(server: FakeV2) -> None:
    server.models.append(V2Model("named", num_classes=10, names_output="class_names"))
    client = client_for(server.url, "named", output="probabilities")
    info = client.model_info()
    assert (info.output, info.names_output) == ("probabilities", "class_names")
    prediction = client.predict(photo(client, 7, 10))
    assert prediction.class_names == tuple(f"class_{i}" for i in range(10))
    assert prediction.class_names[best(prediction.probabilities)] == f"class_{7 % 10}"
