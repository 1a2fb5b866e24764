"""The Open Inference Protocol stand-in (tests/fakes/v2), checked with NVIDIA's own HTTP client
(``tritonclient[http]``) for the Triton flavour, and with plain HTTP for what MLServer, KServe
and OpenVINO Model Server do differently (docs/v2-protocol.md has the sources)."""

from __future__ import annotations

import base64
import gzip
import importlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests

from tests import gallery
from tests.fakes.tfserving import image_for_class
from tests.fakes.v2 import HEADER_LENGTH, FakeV2, V2Model

SKIP = "tritonclient[http] is not installed: pip install 'tritonclient[http]==2.73.0'"
LABELS = tuple(f"label_{i}" for i in range(1001))


def models() -> list[V2Model]:
    return [
        V2Model("resnet", names_output="label"),
        V2Model("labelled", labels=LABELS),
        V2Model("b64", base64_text=True),
        V2Model("fp32", kind="fp32", layout="NCHW", num_classes=1000),
        V2Model("nhwc", kind="fp32", num_classes=1000, height=96, width=128),
        V2Model("u8", kind="uint8", num_classes=1000, size=64),
    ]


@pytest.fixture
def tc() -> Any:
    """NVIDIA's HTTP client (``tritonclient.http``); a test that asks for it is skipped
    without it, the plain-HTTP tests still run."""
    pytest.importorskip("tritonclient.utils", reason=SKIP)
    return pytest.importorskip("tritonclient.http", reason=SKIP)


def http() -> Any:
    return importlib.import_module("tritonclient.http")


@pytest.fixture
def triton() -> Iterator[FakeV2]:
    with FakeV2(models(), flavour="triton") as srv:
        yield srv


def client(srv: FakeV2, **kwargs: Any) -> Any:
    return http().InferenceServerClient(srv.url.removeprefix("http://"), **kwargs)


def jpeg(class_id: int, num_classes: int = 1001) -> bytes:
    return gallery.jpeg(image_for_class(num_classes, class_id, (320, 240)))


def jpeg_input(*pictures: bytes, binary: bool = True) -> Any:
    inp = http().InferInput("image", [len(pictures)], "BYTES")
    inp.set_data_from_numpy(np.array(list(pictures), dtype=np.object_), binary_data=binary)
    return inp


def tensor_input(array: np.ndarray, datatype: str, binary: bool = True) -> Any:
    inp = http().InferInput("image", list(array.shape), datatype)
    inp.set_data_from_numpy(array, binary_data=binary)
    return inp


def picture(class_id: int, size: tuple[int, int], dtype: str = "float32") -> np.ndarray:
    """An NHWC batch of one: FP32 in 0..1, or UINT8 as it is."""
    pixels = np.asarray(image_for_class(1000, class_id, size))
    return (pixels / 255.0 if dtype == "float32" else pixels).astype(dtype)[np.newaxis]


def server_error(call: Any) -> tuple[str, str]:
    """The (status, message) a tritonclient call raises."""
    error = importlib.import_module("tritonclient.utils").InferenceServerException
    with pytest.raises(error) as err:
        call()
    return str(err.value.status()), err.value.message()


# -- Triton, through tritonclient -------------------------------------------------------------
def test_a_live_server_is_ready_and_names_its_extensions(triton: FakeV2, tc: Any) -> None:
    c = client(triton)
    assert c.is_server_live() and c.is_server_ready() and c.is_model_ready("resnet")
    meta = c.get_server_metadata()
    assert meta["name"] == "triton" and meta["version"] == "2.51.0"
    assert {"binary_tensor_data", "classification"} <= set(meta["extensions"])


def test_model_metadata_gives_each_tensors_name_datatype_and_shape(triton: FakeV2, tc: Any) -> None:
    c = client(triton)
    meta = c.get_model_metadata("resnet")
    assert meta["versions"] == ["1"] and meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"] == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 1001]},
        {"name": "label", "datatype": "BYTES", "shape": [-1, 1001]},
    ]
    assert c.get_model_metadata("fp32", "1")["inputs"][0]["shape"] == [-1, 3, 224, 224]
    assert c.get_model_metadata("nhwc")["inputs"][0]["shape"] == [-1, 96, 128, 3]
    assert c.get_model_metadata("u8")["inputs"][0]["datatype"] == "UINT8"


@pytest.mark.parametrize("binary_out", [True, False])
def test_a_jpeg_sent_raw_in_the_binary_part_comes_back_as_its_class(
    triton: FakeV2, binary_out: bool, tc: Any
) -> None:
    out = http().InferRequestedOutput("probabilities", binary_data=binary_out)
    result = client(triton).infer("resnet", [jpeg_input(jpeg(286))], outputs=[out])
    scores = result.as_numpy("probabilities")
    assert scores.shape == (1, 1001) and int(scores[0].argmax()) == 286
    assert ("binary_data_size" in (result.get_output("probabilities").get("parameters") or {})) == (
        binary_out
    )
    [sent] = triton.infer_requests
    entry = sent.doc["inputs"][0]
    assert entry["parameters"]["binary_data_size"] == len(jpeg(286)) + 4 and "data" not in entry
    assert sent.header_length == int(sent.headers[HEADER_LENGTH]) < sent.body_bytes
    assert sent.binary_bytes == len(jpeg(286)) + 4 and sent.status == 200


def test_a_batch_of_jpegs_answers_one_row_each(triton: FakeV2, tc: Any) -> None:
    result = client(triton).infer("resnet", [jpeg_input(jpeg(3), jpeg(999))])
    assert result.as_numpy("probabilities").argmax(axis=1).tolist() == [3, 999]


def test_a_bytes_element_in_json_is_the_strings_own_bytes_not_base64(
    triton: FakeV2, tc: Any
) -> None:
    as_text = jpeg_input(base64.b64encode(jpeg(42)), binary=False)
    status, message = server_error(lambda: client(triton).infer("resnet", [as_text]))
    assert (status, message) == ("400", "could not read the picture: UnidentifiedImageError")
    result = client(triton).infer("b64", [as_text])  # a model that decodes base64 itself
    assert int(result.as_numpy("probabilities")[0].argmax()) == 42
    assert triton.infer_requests[-1].doc["inputs"][0]["data"] == [
        base64.b64encode(jpeg(42)).decode()
    ]


@pytest.mark.parametrize("binary", [True, False])
def test_fp32_tensors_in_either_layout_come_back_as_their_class(
    triton: FakeV2, binary: bool, tc: Any
) -> None:
    nchw = picture(258, (224, 224)).transpose(0, 3, 1, 2)
    result = client(triton).infer("fp32", [tensor_input(nchw, "FP32", binary)])
    assert int(result.as_numpy("probabilities")[0].argmax()) == 258
    nhwc = picture(258, (128, 96))
    result = client(triton).infer("nhwc", [tensor_input(nhwc, "FP32", binary)])
    assert int(result.as_numpy("probabilities")[0].argmax()) == 258
    assert ("data" in triton.infer_requests[-1].doc["inputs"][0]) == (not binary)


@pytest.mark.parametrize("binary", [True, False])
def test_uint8_tensors_come_back_as_their_class(triton: FakeV2, binary: bool, tc: Any) -> None:
    u8 = picture(258, (64, 64), "uint8")
    result = client(triton).infer("u8", [tensor_input(u8, "UINT8", binary)])
    assert int(result.as_numpy("probabilities")[0].argmax()) == 258


@pytest.mark.parametrize("binary_out", [True, False])
def test_classification_answers_score_and_index_or_score_index_and_label(
    triton: FakeV2, binary_out: bool, tc: Any
) -> None:
    c = client(triton)
    for model, tail in (("resnet", ""), ("labelled", ":label_7")):
        out = http().InferRequestedOutput("probabilities", binary_data=binary_out, class_count=3)
        result = c.infer(model, [jpeg_input(jpeg(7))], outputs=[out])
        top = result.as_numpy("probabilities")
        assert top.shape == (1, 3) and result.get_output("probabilities")["datatype"] == "BYTES"
        first = top[0][0].decode() if binary_out else top[0][0]
        assert first == f"0.900100:7{tail}"  # std::to_string(float): six decimals
        assert triton.infer_requests[-1].doc["outputs"][0]["parameters"]["classification"] == 3


@pytest.mark.parametrize("binary_out", [True, False])
def test_a_bytes_output_of_class_names_comes_back_beside_the_scores(
    triton: FakeV2, binary_out: bool, tc: Any
) -> None:
    outs = [
        http().InferRequestedOutput("probabilities"),
        http().InferRequestedOutput("label", binary_data=binary_out),
    ]
    result = client(triton).infer("resnet", [jpeg_input(jpeg(9))], outputs=outs)
    names = [n.decode() if isinstance(n, bytes) else n for n in result.as_numpy("label")[0]]
    assert names == [f"class_{i}" for i in range(1001)]
    assert names[int(result.as_numpy("probabilities")[0].argmax())] == "class_9"


def test_every_output_comes_back_binary_when_none_is_asked_for(triton: FakeV2, tc: Any) -> None:
    result = client(triton).infer("resnet", [jpeg_input(jpeg(5))])  # binary_data_output: true
    assert triton.infer_requests[-1].doc["parameters"] == {"binary_data_output": True}
    assert [o["name"] for o in result.get_response()["outputs"]] == ["probabilities", "label"]
    assert all("binary_data_size" in o["parameters"] for o in result.get_response()["outputs"])
    assert int(result.as_numpy("probabilities")[0].argmax()) == 5


def test_a_gzip_request_is_read_and_recorded_at_its_wire_size(triton: FakeV2, tc: Any) -> None:
    c = client(triton)
    result = c.infer("resnet", [jpeg_input(jpeg(77))], request_compression_algorithm="gzip")
    assert int(result.as_numpy("probabilities")[0].argmax()) == 77
    sent = triton.infer_requests[-1]
    assert sent.headers["Content-Encoding"] == "gzip" and sent.body_bytes < sent.binary_bytes


def test_errors_carry_tritons_words_and_status_codes(triton: FakeV2, tc: Any) -> None:
    c = client(triton)
    nhwc = tensor_input(picture(1, (224, 224)), "FP32")
    cases = {
        ("400", "Request for unknown model: 'cats' is not found"): lambda: c.get_model_metadata(
            "cats"
        ),
        ("404", "Request for unknown model: 'resnet' version 3 is not found"): lambda: (
            c.get_model_metadata("resnet", "3")
        ),
        ("400", "could not read the picture: UnidentifiedImageError"): lambda: c.infer(
            "resnet", [jpeg_input(b"not a picture")]
        ),
        ("400", "inference input 'image' data-type is 'UINT8', but model 'fp32' expects 'FP32'"): (
            lambda: c.infer("fp32", [tensor_input(picture(1, (9, 9), "uint8"), "UINT8")])
        ),
        ("400", "unexpected inference output 'logits' for model 'resnet'"): lambda: c.infer(
            "resnet",
            [jpeg_input(jpeg(1))],
            outputs=[http().InferRequestedOutput("logits")],
        ),
        ("400", "class result not available for output due to unsupported type 'BYTES'"): (
            lambda: c.infer(
                "resnet",
                [jpeg_input(jpeg(1))],
                outputs=[http().InferRequestedOutput("label", class_count=2)],
            )
        ),
    }
    for expected, call in cases.items():
        assert server_error(call) == expected
    status, message = server_error(lambda: c.infer("fp32", [nhwc]))
    assert status == "400" and message.startswith(
        "unexpected shape for input 'image' for model 'fp32'. Expected [-1,3,224,224], "
        "got [1,224,224,3]. NOTE: Setting a non-zero max_batch_size"
    )
    batch = jpeg_input(*[jpeg(1)] * 9)
    assert server_error(lambda: c.infer("resnet", [batch])) == (
        "400",
        "inference request batch-size must be <= 8 for 'resnet'",
    )


def test_a_loading_model_is_unknown_and_a_not_ready_one_answers_metadata(
    triton: FakeV2, tc: Any
) -> None:
    c = client(triton)
    triton.models[0].loading = True
    assert not c.is_model_ready("resnet") and not c.is_server_ready()
    assert server_error(lambda: c.get_model_metadata("resnet")) == (
        "404",
        "Request for unknown model: 'resnet' has no available versions",
    )
    triton.models[0].loading, triton.models[0].ready = False, False
    assert c.get_model_metadata("resnet")["name"] == "resnet"
    assert not c.is_model_ready("resnet")
    ready = requests.get(f"{triton.url}/v2/models/resnet/ready", timeout=5)
    assert (ready.status_code, ready.json()) == (400, {"error": "Model version not ready"})
    health = requests.get(f"{triton.url}/v2/health/ready", timeout=5)
    assert (health.status_code, health.content) == (400, b"")


def test_a_token_is_required_on_every_request_when_set(tc: Any) -> None:
    with FakeV2(models(), token="t0ken") as srv:
        assert server_error(lambda: client(srv).get_server_metadata()) == ("401", "Unauthorized")
        auth = {"Authorization": "Bearer t0ken"}
        result = client(srv).infer("resnet", [jpeg_input(jpeg(11))], headers=auth)
        assert int(result.as_numpy("probabilities")[0].argmax()) == 11
        assert [r.status for r in srv.requests] == [401, 200]
        assert srv.requests[-1].headers["authorization"] == "Bearer t0ken"


def test_a_restricted_api_wants_its_header_like_tritons_option(tc: Any) -> None:
    with FakeV2(models(), restricted=("admin-key", "s3cret")) as srv:
        expected = ("403", "This API is restricted, expecting header 'admin-key'")
        assert server_error(lambda: client(srv).get_server_metadata()) == expected
        assert not client(srv).is_server_ready()  # health answers 403 too
        assert client(srv).get_server_metadata(headers={"admin-key": "s3cret"})["name"] == "triton"


def test_injected_failures_and_drops_answer_the_next_infer_requests(
    triton: FakeV2, tc: Any
) -> None:
    c = client(triton)
    triton.fail_next(503, "busy, try later", count=2)
    for _ in range(2):
        assert server_error(lambda: c.infer("resnet", [jpeg_input(jpeg(1))])) == (
            "503",
            "busy, try later",
        )
    assert c.get_server_metadata()["name"] == "triton"  # scope "infer": metadata unaffected
    triton.drop_next()
    with socket.create_connection(("127.0.0.1", triton.port), timeout=5) as conn:
        conn.sendall(b"POST /v2/models/resnet/infer HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
        assert conn.recv(1024) == b""  # closed without a byte of answer
    assert triton.requests[-1].status == 0
    assert int(c.infer("resnet", [jpeg_input(jpeg(2))]).as_numpy("probabilities")[0].argmax()) == 2


def test_a_slow_server_makes_the_client_wait_for_delay_s(triton: FakeV2, tc: Any) -> None:
    triton.delay_s = 0.3
    started = time.monotonic()
    client(triton).infer("resnet", [jpeg_input(jpeg(2))])
    assert time.monotonic() - started >= 0.3
    with pytest.raises(requests.Timeout):
        requests.post(f"{triton.url}/v2/models/resnet/infer", json={}, timeout=0.1)


def test_bodies_over_the_limit_are_refused_unread(tc: Any) -> None:
    with FakeV2(models(), max_body=10_000) as srv:
        reply = requests.post(
            f"{srv.url}/v2/models/resnet/infer", data=b"{" + b" " * 20_000 + b"}", timeout=5
        )
        assert reply.status_code == 413 and "limit of 10,000 bytes" in reply.json()["error"]
        assert srv.requests[-1].body_bytes == 0
    with FakeV2(models(), max_json=100) as srv:
        status, message = server_error(lambda: client(srv).infer("resnet", [jpeg_input(jpeg(1))]))
        assert status == "400" and message.startswith("request JSON size of ")


def test_a_binary_body_that_lies_about_its_sizes_is_refused(triton: FakeV2) -> None:
    head = json.dumps(
        {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                     "parameters": {"binary_data_size": 100}}]}
    ).encode()  # fmt: skip
    url = f"{triton.url}/v2/models/resnet/infer"
    short = requests.post(url, data=head + b"x" * 10, headers={HEADER_LENGTH: str(len(head))})
    assert short.status_code == 400 and short.json()["error"] == (
        "unexpected size for input 'image', expecting 90 additional bytes for model 'resnet'"
    )
    wrong = requests.post(url, data=head, headers={HEADER_LENGTH: str(len(head) + 5)})
    assert wrong.json()["error"] == (
        f"inference header size should be in range (0, {len(head)}), got: {len(head) + 5}"
    )


# -- MLServer ---------------------------------------------------------------------------------
def b64_request(data: bytes, content_type: str | None = "base64") -> dict[str, Any]:
    entry: dict[str, Any] = {"name": "image", "datatype": "BYTES", "shape": [1]}
    entry["data"] = [base64.b64encode(data).decode()]
    if content_type:
        entry["parameters"] = {"content_type": content_type}
    return {"inputs": [entry]}


def test_mlserver_decodes_base64_bytes_with_its_codec_and_lists_no_extensions() -> None:
    with FakeV2(models(), flavour="mlserver") as srv:
        assert requests.get(f"{srv.url}/v2", timeout=5).json() == {
            "name": "mlserver",
            "version": "1.6.1",
            "extensions": [],
        }
        url = f"{srv.url}/v2/models/resnet/infer"
        for content_type in ("base64", None):  # None: the runtime's default codec is base64
            answer = requests.post(url, json=b64_request(jpeg(42), content_type), timeout=5)
            outputs = answer.json()["outputs"]
            assert int(np.argmax(outputs[0]["data"])) == 42
            assert outputs[0]["parameters"] == {"content_type": "np"}
            assert "model_version" not in answer.json() and answer.json()["id"]
        as_str = requests.post(url, json=b64_request(jpeg(42), "str"), timeout=5)
        assert (as_str.status_code, as_str.text) == (500, "Internal Server Error")


def test_mlserver_refuses_a_binary_body_with_fastapis_422_detail(tc: Any) -> None:
    with FakeV2(models(), flavour="mlserver") as srv:
        status, message = server_error(lambda: client(srv).infer("resnet", [jpeg_input(jpeg(42))]))
        assert status == "422" and "decoding the response: 'error'" in message
        body, headers = b'{"inputs": []}' + b"\x00\xff", {"Content-Type": "application/json"}
        answer = requests.post(f"{srv.url}/v2/models/resnet/infer", data=body, headers=headers)
        [item] = answer.json()["detail"]
        assert (item["type"], item["msg"]) == ("json_invalid", "JSON decode error")


def test_mlserver_errors_and_readiness_in_its_own_words() -> None:
    with FakeV2(models(), flavour="mlserver") as srv:
        url = f"{srv.url}/v2/models"
        missing = requests.get(f"{url}/cats", timeout=5)
        assert (missing.status_code, missing.json()) == (404, {"error": "Model cats not found"})
        assert requests.get(f"{srv.url}/v2/nowhere", timeout=5).json() == {"detail": "Not Found"}
        srv.models[0].ready = False
        ready = requests.get(f"{url}/resnet/ready", timeout=5)
        assert (ready.status_code, ready.content) == (400, b"")
        assert requests.get(f"{url}/resnet", timeout=5).json()["name"] == "resnet"
        refused = requests.post(f"{url}/resnet/infer", json=b64_request(jpeg(1)), timeout=5)
        assert refused.json() == {"error": "Model resnet is not ready yet."}
        no_data = requests.post(
            f"{url}/b64/infer", json={"inputs": [{"name": "image", "datatype": "BYTES"}]}
        )
        assert no_data.status_code == 422
        assert [d["loc"][-1] for d in no_data.json()["detail"]] == ["shape", "data"]


# -- KServe -----------------------------------------------------------------------------------
def test_kserve_takes_base64_text_but_not_raw_jpeg_bytes_in_binary() -> None:
    with FakeV2(models(), flavour="kserve") as srv:
        url = f"{srv.url}/v2/models/resnet/infer"
        answer = requests.post(url, json=b64_request(jpeg(42)), timeout=5).json()
        assert int(np.argmax(answer["outputs"][0]["data"])) == 42
        assert answer["model_version"] is None and answer["parameters"] is None
        head = json.dumps(
            {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                         "parameters": {"binary_data_size": len(jpeg(42)) + 4}}]}
        ).encode()  # fmt: skip
        body = head + len(jpeg(42)).to_bytes(4, "little") + jpeg(42)
        headers = {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))}
        raw = requests.post(url, data=body, headers=headers, timeout=5)
        assert raw.status_code == 500 and raw.json()["error"].startswith('Failed to encode "b')
        versioned = requests.get(f"{srv.url}/v2/models/resnet/versions/1", timeout=5)
        assert (versioned.status_code, versioned.json()) == (
            501,
            {"error": "Model versioning not supported yet."},
        )
        assert requests.get(f"{srv.url}/v2/models/resnet", timeout=5).json()["versions"] is None


def test_kserve_takes_binary_tensors_only_with_a_non_json_content_type(tc: Any) -> None:
    with FakeV2(models(), flavour="kserve") as srv:
        array = picture(258, (224, 224)).transpose(0, 3, 1, 2)
        status, message = server_error(
            lambda: client(srv).infer("fp32", [tensor_input(array, "FP32")])
        )
        assert status == "422"  # tritonclient sends no Content-Type: FastAPI parses JSON
        assert '"type":"json_invalid"' in message
        octet = {"Content-Type": "application/octet-stream"}
        result = client(srv).infer("fp32", [tensor_input(array, "FP32")], headers=octet)
        assert int(result.as_numpy("probabilities")[0].argmax()) == 258


# -- OpenVINO Model Server --------------------------------------------------------------------
def test_ovms_decodes_a_jpeg_sent_to_a_tensor_input_and_ignores_classification(tc: Any) -> None:
    with FakeV2(models(), flavour="ovms") as srv:
        meta = requests.get(f"{srv.url}/v2", timeout=5).json()
        assert meta == {"name": "OpenVINO Model Server", "version": "2024.4"}
        out = http().InferRequestedOutput("probabilities", class_count=3)
        result = client(srv).infer("nhwc", [jpeg_input(jpeg(258, 1000))], outputs=[out])
        assert result.as_numpy("probabilities").shape == (1, 1000)
        assert int(result.as_numpy("probabilities")[0].argmax()) == 258
        broken = jpeg_input(b"not a picture")
        assert server_error(lambda: client(srv).infer("nhwc", [broken])) == (
            "500",
            "Image parsing failed",
        )
        assert server_error(lambda: client(srv).get_model_metadata("cats")) == (
            "404",
            "Model with requested name is not found",
        )
        srv.models[0].loading = True
        assert server_error(lambda: client(srv).get_model_metadata("resnet")) == (
            "404",
            "Model with requested version is not loaded yet",
        )


def test_every_flavour_serves_the_same_photo_as_the_same_class() -> None:
    for flavour in ("triton", "mlserver", "kserve", "ovms"):
        with FakeV2(models(), flavour=flavour) as srv:
            url = f"{srv.url}/v2/models/u8/infer"
            u8 = picture(258, (64, 64), "uint8")
            doc = {"inputs": [{"name": "image", "datatype": "UINT8", "shape": list(u8.shape)}]}
            doc["inputs"][0]["data"] = u8.reshape(-1).tolist()
            body = gzip.compress(json.dumps(doc).encode()) if flavour == "triton" else None
            reply = (
                requests.post(url, data=body, headers={"Content-Encoding": "gzip"}, timeout=10)
                if body
                else requests.post(url, json=doc, timeout=10)
            )
            assert int(np.argmax(reply.json()["outputs"][0]["data"])) == 258, flavour
