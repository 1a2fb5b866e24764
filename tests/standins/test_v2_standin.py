"""The Open Inference Protocol stand-in, checked with the real tritonclient HTTP client."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests import gallery
from tests.fakes.tfserving import image_for_class
from tests.fakes.v2 import FakeV2, V2Model

httpclient = pytest.importorskip("tritonclient.http")
utils = pytest.importorskip("tritonclient.utils")


@pytest.fixture
def triton() -> Iterator[FakeV2]:
    with FakeV2(
        [V2Model("resnet"), V2Model("fp32", kind="fp32", layout="NCHW", num_classes=1000)]
    ) as srv:
        yield srv


def client(srv: FakeV2) -> object:
    return httpclient.InferenceServerClient(srv.url.removeprefix("http://"))


def jpeg(class_id: int) -> bytes:
    return gallery.jpeg(image_for_class(1001, class_id, (320, 240)))


def test_tritonclient_sees_a_ready_server_and_the_models_metadata(triton: FakeV2) -> None:
    c = client(triton)
    assert c.is_server_ready() and c.is_model_ready("resnet")
    meta = c.get_model_metadata("resnet")
    assert meta["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"][0]["shape"] == [-1, 1001]
    assert "binary_tensor_data" in c.get_server_metadata()["extensions"]


@pytest.mark.parametrize("binary_out", [True, False])
def test_tritonclient_sends_a_jpeg_in_binary_and_gets_its_class(
    triton: FakeV2, binary_out: bool
) -> None:
    c = client(triton)
    inp = httpclient.InferInput("image", [1], "BYTES")
    inp.set_data_from_numpy(np.array([jpeg(286)], dtype=np.object_), binary_data=True)
    out = httpclient.InferRequestedOutput("probabilities", binary_data=binary_out)
    result = c.infer("resnet", [inp], outputs=[out])
    assert int(result.as_numpy("probabilities")[0].argmax()) == 286


def test_tritonclient_classification_extension_answers_score_index(triton: FakeV2) -> None:
    c = client(triton)
    inp = httpclient.InferInput("image", [1], "BYTES")
    inp.set_data_from_numpy(np.array([jpeg(7)], dtype=np.object_))
    out = httpclient.InferRequestedOutput("probabilities", class_count=3)
    top = c.infer("resnet", [inp], outputs=[out]).as_numpy("probabilities")
    assert top.shape == (1, 3)
    score, index = top[0][0].decode().split(":")
    assert int(index) == 7 and float(score) == pytest.approx(0.9 + 0.1 / 1001, abs=1e-5)


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_fp32_nchw_tensors_in_binary_and_json(triton: FakeV2, binary: bool) -> None:
    img = image_for_class(1000, 258, (224, 224))
    arr = (np.asarray(img, dtype=np.float32) / 255.0).transpose(2, 0, 1)[np.newaxis]
    inp = httpclient.InferInput("image", list(arr.shape), "FP32")
    inp.set_data_from_numpy(arr, binary_data=binary)
    result = client(triton).infer("fp32", [inp])
    assert int(result.as_numpy("probabilities")[0].argmax()) == 258


def test_tritonclient_errors_carry_the_servers_message(triton: FakeV2) -> None:
    inp = httpclient.InferInput("image", [1], "BYTES")
    inp.set_data_from_numpy(np.array([b"not a picture"], dtype=np.object_))
    with pytest.raises(utils.InferenceServerException, match="could not read the picture"):
        client(triton).infer("resnet", [inp])
    with pytest.raises(utils.InferenceServerException, match="unknown model: 'cats'"):
        client(triton).get_model_metadata("cats")


def test_mlserver_flavour_takes_base64_json_and_refuses_binary() -> None:
    import base64

    import requests

    with FakeV2([V2Model("resnet")], flavour="mlserver") as srv:
        doc = {
            "inputs": [
                {
                    "name": "image",
                    "datatype": "BYTES",
                    "shape": [1],
                    "data": [base64.b64encode(jpeg(42)).decode()],
                    "parameters": {"content_type": "base64"},
                }
            ]
        }
        answer = requests.post(f"{srv.url}/v2/models/resnet/infer", json=doc, timeout=10).json()
        assert int(np.argmax(answer["outputs"][0]["data"])) == 42
        inp = httpclient.InferInput("image", [1], "BYTES")
        inp.set_data_from_numpy(np.array([jpeg(42)], dtype=np.object_), binary_data=True)
        with pytest.raises(
            utils.InferenceServerException, match="binary tensor data is not supported"
        ):
            client(srv).infer("resnet", [inp])
