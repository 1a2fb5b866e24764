"""Checks the TF Serving fake (tests/fakes/tfserving.py) against docs/tfserving-rest.md."""

from __future__ import annotations

import base64
import gzip
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from PIL import Image, ImageStat

from tests.fakes.tfserving import (
    FakeTFServing,
    ModelSpec,
    class_from_mean,
    default_classify,
    image_for_class,
    jpeg_bytes,
    main,
)

TIMEOUT = 10


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def error_of(resp: requests.Response) -> str:
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert set(body) == {"error"}
    return str(body["error"])


@pytest.fixture
def srv() -> Iterator[FakeTFServing]:
    with FakeTFServing(ModelSpec(versions=(1, 2), labels={"stable": 1})) as server:
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture(scope="module")
def cat_jpeg() -> bytes:
    return jpeg_bytes(image_for_class(1001, 286))


def predict(
    s: requests.Session, server: FakeTFServing, doc: Any, suffix: str = ":predict"
) -> requests.Response:
    return s.post(f"{server.url}/v1/models/resnet{suffix}", json=doc, timeout=TIMEOUT)


# ---------------------------------------------------------------------------------------------
# Status and metadata
# ---------------------------------------------------------------------------------------------


def test_status_lists_every_version_newest_first_with_string_versions(
    srv: FakeTFServing, session: requests.Session
) -> None:
    r = session.get(f"{srv.url}/v1/models/resnet", timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {
        "model_version_status": [
            {
                "version": "2",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
        ]
    }
    assert r.text.startswith('{\n "model_version_status": [\n')  # protobuf pretty print


def test_status_for_one_version_label_and_unknowns(
    srv: FakeTFServing, session: requests.Session
) -> None:
    one = session.get(f"{srv.url}/v1/models/resnet/versions/1", timeout=TIMEOUT).json()
    assert [v["version"] for v in one["model_version_status"]] == ["1"]
    # labels are ignored by the status endpoint: every version comes back
    labelled = session.get(f"{srv.url}/v1/models/resnet/labels/stable", timeout=TIMEOUT).json()
    assert [v["version"] for v in labelled["model_version_status"]] == ["2", "1"]

    r = session.get(f"{srv.url}/v1/models/resnet/versions/7", timeout=TIMEOUT)
    assert (r.status_code, error_of(r)) == (404, "Could not find version 7 of model resnet")
    r = session.get(f"{srv.url}/v1/models/foo", timeout=TIMEOUT)
    assert (r.status_code, error_of(r)) == (404, "Could not find any versions of model foo")
    r = session.get(f"{srv.url}/v1/models", timeout=TIMEOUT)
    assert (r.status_code, error_of(r)) == (400, "Missing model name in request.")


def test_metadata_has_double_signature_def_nesting_and_string_dims(
    srv: FakeTFServing, session: requests.Session
) -> None:
    r = session.get(f"{srv.url}/v1/models/resnet/metadata", timeout=TIMEOUT)
    assert r.status_code == 200
    meta = r.json()
    assert meta["model_spec"] == {"name": "resnet", "signature_name": "", "version": "2"}
    sigs = meta["metadata"]["signature_def"]["signature_def"]
    assert set(sigs) == {"predict", "serving_default"}  # r1 estimator export
    sd = sigs["serving_default"]
    assert sd["method_name"] == "tensorflow/serving/predict"
    assert sd["defaults"] == {}
    assert sd["inputs"] == {
        "image_bytes": {
            "dtype": "DT_STRING",
            "tensor_shape": {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False},
            "name": "input_tensor:0",
        }
    }
    assert sd["outputs"]["classes"]["dtype"] == "DT_INT64"
    probs = sd["outputs"]["probabilities"]
    assert probs["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in probs["tensor_shape"]["dim"]] == ["-1", "1001"]


def test_metadata_of_tf2_tensor_model_lists_init_op(session: requests.Session) -> None:
    spec = ModelSpec(name="keras", input_kind="float", outputs="single", tf2=True, num_classes=1000)
    with FakeTFServing(spec) as server:
        meta = session.get(f"{server.url}/v1/models/keras/metadata", timeout=TIMEOUT).json()
    sigs = meta["metadata"]["signature_def"]["signature_def"]
    assert list(sigs) == ["__saved_model_init_op", "serving_default"]
    init = sigs["__saved_model_init_op"]
    assert init["inputs"] == {}
    assert init["outputs"]["__saved_model_init_op"]["tensor_shape"] == {
        "dim": [],
        "unknown_rank": True,
    }
    inp = sigs["serving_default"]["inputs"]["input_1"]
    assert inp["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in inp["tensor_shape"]["dim"]] == ["-1", "224", "224", "3"]
    assert list(sigs["serving_default"]["outputs"]) == ["predictions"]


def test_metadata_honours_versions_and_labels(
    srv: FakeTFServing, session: requests.Session
) -> None:
    def get(path: str) -> requests.Response:
        return session.get(f"{srv.url}/v1/models/resnet{path}", timeout=TIMEOUT)

    assert get("/versions/1/metadata").json()["model_spec"]["version"] == "1"
    assert get("/labels/stable/metadata").json()["model_spec"]["version"] == "1"
    r = get("/labels/canary/metadata")
    assert (r.status_code, error_of(r)) == (400, "Unrecognized servable version label: canary")
    r = get("/versions/9/metadata")
    assert (r.status_code, error_of(r)) == (
        404,
        "Servable not found for request: Specific(resnet, 9)",
    )
    r = session.get(f"{srv.url}/v1/models/nope/metadata", timeout=TIMEOUT)
    assert (r.status_code, error_of(r)) == (404, "Servable not found for request: Latest(nope)")


# ---------------------------------------------------------------------------------------------
# Predict: formats
# ---------------------------------------------------------------------------------------------


def test_row_predict_accepts_bare_and_named_b64_objects(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    bare = predict(session, srv, {"instances": [{"b64": b64(cat_jpeg)}]})
    named = predict(session, srv, {"instances": [{"image_bytes": {"b64": b64(cat_jpeg)}}]})
    assert bare.status_code == named.status_code == 200
    assert bare.headers["Content-Type"] == "application/json"
    assert bare.json() == named.json()
    (pred,) = bare.json()["predictions"]
    assert set(pred) == {"classes", "probabilities"}
    assert pred["classes"] == 286
    probs = pred["probabilities"]
    assert len(probs) == 1001
    assert probs[286] == pytest.approx(0.9)
    assert max(range(1001), key=probs.__getitem__) == 286
    assert sum(probs) == pytest.approx(1.0, abs=1e-4)
    # rapidjson pretty printing with single-line arrays inside "predictions"
    assert '\n            "probabilities": [0.0001, 0.0001, ' in bare.text


def test_row_predict_batches_several_images(srv: FakeTFServing, session: requests.Session) -> None:
    jpegs = [jpeg_bytes(image_for_class(1001, k, (300 + 10 * k, 200))) for k in (1, 2, 3)]
    r = predict(session, srv, {"instances": [{"b64": b64(j)} for j in jpegs]})
    assert [p["classes"] for p in r.json()["predictions"]] == [1, 2, 3]
    assert [im.size for im in srv.predict_images] == [(310, 200), (320, 200), (330, 200)]


def test_columnar_predict_returns_full_output_tensors(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    other = jpeg_bytes(image_for_class(1001, 7))
    for doc in (
        {"inputs": [{"b64": b64(cat_jpeg)}, {"b64": b64(other)}]},
        {"inputs": {"image_bytes": [{"b64": b64(cat_jpeg)}, {"b64": b64(other)}]}},
    ):
        r = predict(session, srv, doc)
        assert r.status_code == 200, r.text
        out = r.json()["outputs"]
        assert out["classes"] == [286, 7]
        assert len(out["probabilities"]) == 2
        assert all(len(row) == 1001 for row in out["probabilities"])
    # a bare b64 object is a scalar string: it does not fit the rank-1 placeholder
    r = predict(session, srv, {"inputs": {"b64": b64(cat_jpeg)}})
    assert r.status_code == 400


def test_single_output_signature_drops_the_alias(
    session: requests.Session, cat_jpeg: bytes
) -> None:
    with FakeTFServing(ModelSpec(outputs="single", num_classes=1001)) as server:
        row = predict(session, server, {"instances": [{"b64": b64(cat_jpeg)}]})
        col = predict(session, server, {"inputs": [{"b64": b64(cat_jpeg)}]})
        meta = session.get(f"{server.url}/v1/models/resnet/metadata", timeout=TIMEOUT).json()
    (probs,) = row.json()["predictions"]
    assert isinstance(probs, list) and len(probs) == 1001
    assert max(range(1001), key=probs.__getitem__) == 286
    assert row.text.startswith('{\n    "predictions": [[0.0001, ')  # TFS's odd layout
    assert col.json() == {"outputs": [probs]}
    outputs = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["outputs"]
    assert list(outputs) == ["predictions"]


def test_signature_name_selection(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    inst = [{"b64": b64(cat_jpeg)}]
    assert (
        predict(session, srv, {"signature_name": "predict", "instances": inst}).status_code == 200
    )
    r = predict(session, srv, {"signature_name": "nope", "instances": inst})
    assert (r.status_code, error_of(r)) == (
        400,
        'Serving signature name: "nope" not found in signature def',
    )
    r = predict(session, srv, {"signature_name": 3, "instances": inst})
    assert r.status_code == 400
    assert error_of(r).endswith("'signature_name' key must be a string value.")


# ---------------------------------------------------------------------------------------------
# Predict: base64 and input validation
# ---------------------------------------------------------------------------------------------


def test_urlsafe_base64_and_data_urls_are_refused(
    srv: FakeTFServing, session: requests.Session
) -> None:
    jpeg = next(
        j
        for k in range(1, 1001)
        if (enc := base64.b64encode(j := jpeg_bytes(image_for_class(1001, k, (64, 48)))))
        and (b"+" in enc or b"/" in enc)
    )
    urlsafe = base64.urlsafe_b64encode(jpeg).decode()
    assert "-" in urlsafe or "_" in urlsafe
    r = predict(session, srv, {"instances": [{"b64": urlsafe}]})
    assert (r.status_code, error_of(r)) == (
        400,
        "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
        "Unable to base64 decode",
    )
    r = predict(session, srv, {"instances": [{"b64": "data:image/jpeg;base64," + b64(jpeg)}]})
    assert error_of(r).endswith("Unable to base64 decode")
    # standard alphabet: padding optional, whitespace skipped
    unpadded = b64(jpeg).rstrip("=")
    assert predict(session, srv, {"instances": [{"b64": unpadded}]}).status_code == 200
    wrapped = "\n".join(b64(jpeg)[i : i + 76] for i in range(0, len(b64(jpeg)), 76))
    assert predict(session, srv, {"instances": [{"b64": wrapped}]}).status_code == 200


def test_undecodable_image_bytes_are_a_400(srv: FakeTFServing, session: requests.Session) -> None:
    msg = "Unknown image file format. One of JPEG, JPEG XL, PNG, GIF, BMP, WebP required."
    r = predict(session, srv, {"instances": [{"b64": b64(b"definitely not an image")}]})
    assert (r.status_code, error_of(r)) == (400, msg)
    # a plain string is passed as-is (base64 text, not image bytes)
    r = predict(session, srv, {"instances": [b64(jpeg_bytes(image_for_class(1001, 3)))]})
    assert (r.status_code, error_of(r)) == (400, msg)
    png = io.BytesIO()
    image_for_class(1001, 42, (50, 40)).save(png, format="PNG")
    r = predict(session, srv, {"instances": [{"b64": b64(png.getvalue())}]})
    assert r.json()["predictions"][0]["classes"] == 42


def test_json_envelope_errors(srv: FakeTFServing, session: requests.Session) -> None:
    url = f"{srv.url}/v1/models/resnet:predict"

    def raw(body: bytes) -> requests.Response:
        return session.post(url, data=body, timeout=TIMEOUT)

    cases: list[tuple[requests.Response, str]] = [
        (raw(b""), "JSON Parse error: The document is empty"),
        (raw(b"not json"), "JSON Parse error: Invalid value. at offset: 0"),
        (raw(b'{"instances": [1,]}'), "JSON Parse error: Invalid value. at offset: 17"),
        (
            raw(b'{"instances": [1 2]}'),
            "JSON Parse error: Missing a comma or ']' after an array element. at offset: 17",
        ),
        (
            raw(b"{} {}"),
            "JSON Parse error: The document root must not be followed by other values."
            " at offset: 3",
        ),
        (raw(b"[1]"), "JSON Value: [\n    1\n] Is not object"),
        (raw(b'{"foo": 1}'), "Missing 'inputs' or 'instances' key"),
        (
            raw(b'{"instances": []}'),
            "JSON Value: {\n    \"instances\": []\n} No values in 'instances' array",
        ),
    ]
    for resp, message in cases:
        assert (resp.status_code, error_of(resp)) == (400, message)
    both = raw(b'{"instances": [1], "inputs": [1]}')
    assert "expecting only one of 'inputs' or 'instances' keys to exist" in error_of(both)
    not_list = raw(b'{"instances": {"b64": "AA=="}}')
    assert error_of(not_list).endswith("'instances' to be an list/array")


def test_b64_objects_are_only_accepted_for_string_inputs(
    session: requests.Session, cat_jpeg: bytes
) -> None:
    with FakeTFServing(ModelSpec(input_kind="float", height=8, width=8)) as server:
        r = predict(session, server, {"instances": [{"b64": b64(cat_jpeg)}]})
        assert r.status_code == 400
        err = error_of(r)
        assert err.startswith(
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
            'JSON Value: {\n    "b64": "'
        )
        assert err.endswith(" Type: Object is not of expected type: float")
        r = predict(session, server, {"instances": [[[["x", 0, 0]] * 8] * 8]})
        assert error_of(r).endswith('JSON Value: "x" Type: String is not of expected type: float')


def test_uint8_inputs_reject_json_non_integers(session: requests.Session) -> None:
    with FakeTFServing(ModelSpec(input_kind="uint8", height=4, width=4)) as server:
        pixel_ok = [[[10, 20, 30]] * 4] * 4
        assert predict(session, server, {"instances": [pixel_ok]}).status_code == 200
        r = predict(session, server, {"instances": [[[[10.0, 20, 30]] * 4] * 4]})
        assert (r.status_code, error_of(r)) == (
            400,
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
            "JSON Value: 10.0 Type: Number is not of expected type: uint8",
        )
        assert server.tensor_ranges == [(10.0, 30.0)]


def test_tensor_shape_errors(session: requests.Session) -> None:
    with FakeTFServing(ModelSpec(input_kind="float", height=4, width=4)) as server:
        good = [[[0.5, 0.5, 0.5]] * 4] * 4
        small = [[[0.5, 0.5, 0.5]] * 3] * 3
        r = predict(session, server, {"instances": [good, small]})
        assert error_of(r) == (
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting tensor size: 48 but got: 27"
        )
        r = predict(session, server, {"instances": [good, [[[0.5] * 4] * 3] * 4]})
        assert error_of(r).endswith("Expecting shape [4,4,3] but got: [4,3,4]")
        ragged = [[[0.5, 0.5, 0.5]] * 4] * 3 + [[[0.5, 0.5, 0.5]] * 3]
        r = predict(session, server, {"instances": [ragged]})
        assert error_of(r).endswith(
            "Encountered list at unexpected size: 3 at level: 1 expected size: 4"
        )
        # the bare H x W x 3 list makes H examples of shape W x 3
        r = predict(session, server, {"instances": good})
        assert r.status_code == 400
        assert "Expecting tensor size: 48 but got: 12" in error_of(r)
        # columnar needs the batch dimension
        r = predict(session, server, {"inputs": good})
        assert (r.status_code, error_of(r)) == (400, "Expecting shape [-1,4,4,3] but got: [4,4,3]")
        assert predict(session, server, {"inputs": [good, good]}).status_code == 200


def test_half_inputs_cannot_be_fed_over_rest(session: requests.Session) -> None:
    with FakeTFServing(ModelSpec(input_kind="half", height=2, width=2)) as server:
        r = predict(session, server, {"inputs": [[[[0.5, 0.5, 0.5]] * 2] * 2]})
    assert (r.status_code, error_of(r)) == (501, "Conversion of JSON Value: 0.5 to type: half")


def test_classify_verb_fails_on_predict_signatures(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    doc = {"examples": [{"image_bytes": {"b64": b64(cat_jpeg)}}]}
    r = predict(session, srv, doc, ":classify")
    assert r.status_code == 400
    assert error_of(r).startswith("No classification inputs found in SignatureDef: ")
    r = predict(session, srv, {"instances": []}, ":classify")
    assert error_of(r).endswith(
        "When method is classify, key 'examples' is expected and was not found"
    )


# ---------------------------------------------------------------------------------------------
# URL grammar, versions, labels
# ---------------------------------------------------------------------------------------------


def test_version_and_label_pinning(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    doc = {"instances": [{"b64": b64(cat_jpeg)}]}
    for suffix in ("/versions/1:predict", "/versions/2:predict", "/labels/stable:predict"):
        assert predict(session, srv, doc, suffix).status_code == 200
    r = predict(session, srv, doc, "/versions/7:predict")
    assert (r.status_code, error_of(r)) == (
        404,
        "Servable not found for request: Specific(resnet, 7)",
    )
    r = predict(session, srv, doc, "/labels/canary:predict")
    assert (r.status_code, error_of(r)) == (400, "Unrecognized servable version label: canary")
    r = predict(session, srv, doc, "/versions/latest:predict")
    assert (r.status_code, error_of(r)) == (
        400,
        "Malformed request: POST /v1/models/resnet/versions/latest:predict",
    )
    r = session.get(f"{srv.url}/v1/models/resnet/versions/latest", timeout=TIMEOUT)
    assert r.status_code == 400
    r = session.post(f"{srv.url}/v1/models/other:predict", json=doc, timeout=TIMEOUT)
    assert (r.status_code, error_of(r)) == (404, "Servable not found for request: Latest(other)")
    r = predict(session, srv, doc, "/versions/99999999999999999999:predict")
    assert r.status_code == 400


def test_url_grammar_is_case_insensitive_but_names_are_not(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    doc = {"instances": [{"b64": b64(cat_jpeg)}]}
    r = session.post(f"{srv.url}/V1/MODELS/resnet/VERSIONS/1:predict", json=doc, timeout=TIMEOUT)
    assert r.status_code == 200
    assert session.get(f"{srv.url}/v1/Models/resnet/Metadata", timeout=TIMEOUT).status_code == 200
    r = session.post(f"{srv.url}/v1/models/ResNet:predict", json=doc, timeout=TIMEOUT)
    assert (r.status_code, error_of(r)) == (404, "Servable not found for request: Latest(ResNet)")
    r = session.post(f"{srv.url}/v1/models/res%6Eet:predict", json=doc, timeout=TIMEOUT)
    assert r.status_code == 200  # names are URL-decoded
    r = session.post(f"{srv.url}/v1/models/resnet:predict?x=1", json=doc, timeout=TIMEOUT)
    assert error_of(r) == "Malformed request: POST /v1/models/resnet:predict?x=1"


def test_malformed_requests_under_v1(srv: FakeTFServing, session: requests.Session) -> None:
    r = session.put(f"{srv.url}/v1/models/resnet", timeout=TIMEOUT)
    assert (r.status_code, error_of(r)) == (400, "Malformed request: PUT /v1/models/resnet")
    r = session.post(f"{srv.url}/v1/models/foo/version/50:regress", data=b"{}", timeout=TIMEOUT)
    assert (r.status_code, error_of(r)) == (
        400,
        "Malformed request: POST /v1/models/foo/version/50:regress",
    )
    r = session.get(f"{srv.url}/v1/models/resnet:predict", timeout=TIMEOUT)
    assert (r.status_code, error_of(r)) == (400, "Malformed request: GET /v1/models/resnet:predict")


@pytest.mark.parametrize("path", ["/", "/v2/models/resnet", "/healthz", "/v1"])
def test_paths_outside_v1_get_a_non_json_404(
    srv: FakeTFServing, session: requests.Session, path: str
) -> None:
    r = session.get(srv.url + path, timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.text.startswith("<HTML>")
    with pytest.raises(ValueError):
        r.json()


# ---------------------------------------------------------------------------------------------
# Transport
# ---------------------------------------------------------------------------------------------


def test_gzip_request_bodies_are_inflated(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    body = json.dumps({"instances": [{"b64": b64(cat_jpeg)}]}).encode()
    r = session.post(
        f"{srv.url}/v1/models/resnet:predict",
        data=gzip.compress(body),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert r.json()["predictions"][0]["classes"] == 286
    rec = srv.requests[-1]
    assert rec.body_length < len(body)
    assert rec.json == json.loads(body)
    r = session.post(
        f"{srv.url}/v1/models/resnet:predict",
        data=b"not gzip",
        headers={"Content-Encoding": "gzip"},
        timeout=TIMEOUT,
    )
    assert error_of(r) == "JSON Parse error: The document is empty"


def test_keep_alive_reuses_one_connection_even_after_errors(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    doc = {"instances": [{"b64": b64(cat_jpeg)}]}
    for _ in range(3):
        assert predict(session, srv, doc).status_code == 200
    assert session.get(f"{srv.url}/nope", timeout=TIMEOUT).status_code == 404
    assert predict(session, srv, {"bad": 1}).status_code == 400
    assert session.get(f"{srv.url}/v1/models/resnet", timeout=TIMEOUT).status_code == 200
    assert srv.connections_accepted == 1


def test_stop_and_start_on_the_same_port(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    doc = {"instances": [{"b64": b64(cat_jpeg)}]}
    assert predict(session, srv, doc).status_code == 200
    port = srv.port
    srv.stop()
    assert not srv.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{srv.url}/v1/models/resnet", timeout=TIMEOUT)
    srv.start()
    assert srv.port == port
    assert predict(session, srv, doc).status_code == 200  # same Session, fresh connection


def test_explicit_port(session: requests.Session) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with FakeTFServing(port=port) as server:
        assert server.url == f"http://127.0.0.1:{port}"
        assert session.get(f"{server.url}/v1/models/resnet", timeout=TIMEOUT).status_code == 200


# ---------------------------------------------------------------------------------------------
# Fault injection and recording
# ---------------------------------------------------------------------------------------------


def test_fail_next_answers_raw_then_recovers(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    doc = {"instances": [{"b64": b64(cat_jpeg)}]}
    srv.fail_next(503, '{"error": "overloaded"}', count=2)
    assert session.get(f"{srv.url}/v1/models/resnet", timeout=TIMEOUT).status_code == 200
    for _ in range(2):
        r = predict(session, srv, doc)
        assert (r.status_code, r.json()) == (503, {"error": "overloaded"})
    assert predict(session, srv, doc).status_code == 200
    srv.fail_next(502, b"<html>bad gateway</html>", content_type="text/html", scope="v1")
    r = session.get(f"{srv.url}/v1/models/resnet", timeout=TIMEOUT)
    assert (r.status_code, r.headers["Content-Type"], r.text) == (
        502,
        "text/html",
        "<html>bad gateway</html>",
    )
    assert [rec.status for rec in srv.requests] == [200, 503, 503, 200, 502]


def test_drop_next_closes_the_connection_without_an_answer(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    doc = {"instances": [{"b64": b64(cat_jpeg)}]}
    srv.drop_next()
    with pytest.raises(requests.ConnectionError):
        predict(session, srv, doc)
    assert predict(session, srv, doc).status_code == 200


def test_delay_applies_to_predict_only(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    srv.delay_s = 0.2
    t0 = time.perf_counter()
    session.get(f"{srv.url}/v1/models/resnet", timeout=TIMEOUT)
    t1 = time.perf_counter()
    predict(session, srv, {"instances": [{"b64": b64(cat_jpeg)}]})
    t2 = time.perf_counter()
    assert t1 - t0 < 0.15
    assert t2 - t1 >= 0.2


def _parallel_predicts(server: FakeTFServing, n: int, body: bytes) -> float:
    barrier = threading.Barrier(n)

    def one(_: int) -> int:
        with requests.Session() as s:
            s.get(f"{server.url}/v1/models/resnet", timeout=TIMEOUT)  # connect first
            barrier.wait()
            return s.post(
                f"{server.url}/v1/models/resnet:predict", data=body, timeout=TIMEOUT
            ).status_code

    with ThreadPoolExecutor(n) as pool:
        t0 = time.perf_counter()
        codes = list(pool.map(one, range(n)))
        elapsed = time.perf_counter() - t0
    assert codes == [200] * n
    return elapsed


def test_max_concurrent_limits_parallel_predicts(srv: FakeTFServing) -> None:
    body = json.dumps(
        {"instances": [{"b64": b64(jpeg_bytes(image_for_class(1001, 9, (32, 32))))}]}
    ).encode()
    srv.delay_s = 0.1
    srv.max_concurrent = 4
    elapsed = _parallel_predicts(srv, 8, body)
    assert elapsed >= 0.2
    assert srv.peak_concurrent == 4
    srv.reset_records()
    srv.max_concurrent = None
    _parallel_predicts(srv, 8, body)
    assert srv.peak_concurrent > 4


def test_override_predict_json_allows_broken_documents(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    doc = {"instances": [{"b64": b64(cat_jpeg)}]}
    srv.override_predict_json = {"predictions": [{"classes": 1, "probabilities": [float("nan")]}]}
    r = predict(session, srv, doc)
    assert r.status_code == 200
    assert "NaN" in r.text
    srv.override_predict_json = {"outputs": 1}
    assert predict(session, srv, doc).json() == {"outputs": 1}
    srv.override_predict_json = b"{truncated"
    assert predict(session, srv, doc).text == "{truncated"
    srv.override_predict_json = None
    assert predict(session, srv, doc).json()["predictions"][0]["classes"] == 286


def test_loading_model_reports_loading_and_404s_predict(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    doc = {"instances": [{"b64": b64(cat_jpeg)}]}
    srv.loading = True
    status = session.get(f"{srv.url}/v1/models/resnet", timeout=TIMEOUT).json()
    assert {v["state"] for v in status["model_version_status"]} == {"LOADING"}
    r = predict(session, srv, doc)
    assert (r.status_code, error_of(r)) == (404, "Servable not found for request: Latest(resnet)")
    r = predict(session, srv, doc, "/versions/1:predict")
    assert error_of(r) == "Servable not found for request: Specific(resnet, 1)"
    srv.loading = False
    assert predict(session, srv, doc).status_code == 200


def test_requests_are_recorded(
    srv: FakeTFServing, session: requests.Session, cat_jpeg: bytes
) -> None:
    doc = {"instances": [{"b64": b64(cat_jpeg)}]}
    predict(session, srv, doc)
    session.get(f"{srv.url}/v1/models/resnet?x=1", headers={"X-Trace": "abc"}, timeout=TIMEOUT)
    first, second = srv.requests
    assert (first.method, first.path, first.status) == ("POST", "/v1/models/resnet:predict", 200)
    assert first.json == doc
    assert first.body_length == len(json.dumps(doc))
    assert first.headers["content-type"] == "application/json"
    assert (second.method, second.path, second.json) == ("GET", "/v1/models/resnet?x=1", None)
    assert second.headers["x-trace"] == "abc"
    assert second.status == 404  # the query string becomes part of the model name
    assert [r.path for r in srv.predict_requests] == ["/v1/models/resnet:predict"]
    assert srv.predict_images[0].size == (640, 480)
    srv.reset_records()
    assert srv.requests == [] and srv.predict_images == []


def test_custom_classify_and_top_probability(session: requests.Session, cat_jpeg: bytes) -> None:
    spec = ModelSpec(num_classes=5, classify=lambda im: 3, top_probability=0.5)
    with FakeTFServing(spec) as server:
        r = predict(session, server, {"instances": [{"b64": b64(cat_jpeg)}]})
    assert r.json()["predictions"] == [
        {"classes": 3, "probabilities": [0.125, 0.125, 0.125, 0.5, 0.125]}
    ]


def test_float_outputs_are_printed_like_tfserving(
    session: requests.Session, cat_jpeg: bytes
) -> None:
    spec = ModelSpec(num_classes=4, top_probability=0.4, outputs="single", classify=lambda _: 2)
    with FakeTFServing(spec) as server:
        r = predict(session, server, {"instances": [{"b64": b64(cat_jpeg)}]})
    # 0.2 as float32 prints as 0.2 (%g round-trips); 0.4 too; whole numbers get ".0"
    assert r.text == '{\n    "predictions": [[0.2, 0.2, 0.4, 0.2]\n    ]\n}'


# ---------------------------------------------------------------------------------------------
# image_for_class ground truth
# ---------------------------------------------------------------------------------------------


def _client_pipeline(k: int) -> tuple[int, bytes]:
    """Photo -> JPEG q85 -> decode -> downscale to 320 px (varied filters) -> JPEG q85."""
    original = jpeg_bytes(image_for_class(1001, k), quality=85)
    decoded = Image.open(io.BytesIO(original))
    variant = k % 5
    img: Image.Image
    if variant == 0:
        decoded.draft("RGB", (320, 240))  # libjpeg DCT scaling
        img = decoded.convert("RGB")
    else:
        decoded.load()
        resample = (
            Image.Resampling.BICUBIC,
            Image.Resampling.BILINEAR,
            Image.Resampling.BOX,
            Image.Resampling.NEAREST,
        )[variant - 1]
        img = decoded.resize((320, 240), resample)
    assert img.size == (320, 240)
    assert default_classify(img, 1001) == k
    return k, jpeg_bytes(img, quality=85)


def test_image_for_class_survives_jpeg_and_downscale_for_all_1000_classes(
    session: requests.Session,
) -> None:
    with ThreadPoolExecutor(4) as pool:
        encoded = list(pool.map(_client_pipeline, range(1, 1001)))
    with FakeTFServing(ModelSpec(num_classes=1001), image_log_limit=4) as server:
        for start in range(0, 1000, 125):
            chunk = encoded[start : start + 125]
            r = predict(session, server, {"instances": [{"b64": b64(j)} for _, j in chunk]})
            assert r.status_code == 200, r.text[:300]
            got = [p["classes"] for p in r.json()["predictions"]]
            assert got == [k for k, _ in chunk]
        assert server.predict_images[-1].size == (320, 240)


def test_image_for_class_survives_224_squash_and_centre_crop() -> None:
    for k in range(1, 1001, 37):
        img = Image.open(io.BytesIO(jpeg_bytes(image_for_class(1001, k, (800, 600)))))
        img.load()
        assert default_classify(img.resize((224, 224)), 1001) == k
        short = img.resize((341, 256))
        left, top = (341 - 224) // 2, (256 - 224) // 2
        assert default_classify(short.crop((left, top, left + 224, top + 224)), 1001) == k


def test_image_for_class_is_textured_deterministic_and_validated() -> None:
    a = image_for_class(1001, 555)
    assert a.mode == "RGB" and a.size == (640, 480)
    assert min(ImageStat.Stat(a).stddev) > 5  # not a flat colour
    assert a.tobytes() == image_for_class(1001, 555).tobytes()
    assert a.tobytes() != image_for_class(1001, 555, seed=1).tobytes()
    assert default_classify(image_for_class(1001, 555, seed=1), 1001) == 555
    assert default_classify(image_for_class(1000, 0), 1000) == 0
    assert default_classify(image_for_class(5, 4, (10, 10)), 5) == 4
    assert class_from_mean((0.0, 0.0, 0.0), 1001) == 1
    assert class_from_mean((255.0, 255.0, 255.0), 1001) == 1000
    for bad in (0, 1001):
        with pytest.raises(ValueError):
            image_for_class(1001, bad)


# ---------------------------------------------------------------------------------------------
# Tensor models: the server inverts the preprocessing the client is supposed to apply
# ---------------------------------------------------------------------------------------------

CAFFE_BGR_MEANS = (103.939, 116.779, 123.68)
R1_RGB_MEANS = (123.68, 116.78, 103.94)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)

Pre = Callable[[int, int, int], list[float]]
PREPROCESS: dict[str, Pre] = {
    "0_1": lambda r, g, b: [r / 255, g / 255, b / 255],
    "-1_1": lambda r, g, b: [r / 127.5 - 1, g / 127.5 - 1, b / 127.5 - 1],
    "0_255": lambda r, g, b: [float(r), float(g), float(b)],
    "caffe": lambda r, g, b: [
        b - CAFFE_BGR_MEANS[0],
        g - CAFFE_BGR_MEANS[1],
        r - CAFFE_BGR_MEANS[2],
    ],
    "rgb_mean": lambda r, g, b: [r - R1_RGB_MEANS[0], g - R1_RGB_MEANS[1], b - R1_RGB_MEANS[2]],
    "torch": lambda r, g, b: [
        (v / 255 - m) / s for v, m, s in zip((r, g, b), TORCH_MEAN, TORCH_STD, strict=True)
    ],
}
WRONG = {  # a plausible client mistake for each model
    "0_1": "0_255",
    "-1_1": "0_1",
    "0_255": "0_1",
    "caffe": "rgb_mean",  # RGB order instead of BGR
    "rgb_mean": "caffe",
    "torch": "0_1",
}
EXPECTED_RANGE = {
    "0_1": (0.0, 1.0),
    "-1_1": (-1.0, 1.0),
    "0_255": (0.0, 255.0),
    "caffe": (-123.68, 151.061),
    "rgb_mean": (-123.68, 151.06),
    "torch": (-2.2, 2.7),
}


def tensor_instance(img: Image.Image, size: int, pre: Pre) -> list[list[list[float]]]:
    raw = img.resize((size, size), Image.Resampling.BILINEAR).tobytes()
    return [
        [pre(*raw[(y * size + x) * 3 : (y * size + x) * 3 + 3]) for x in range(size)]
        for y in range(size)
    ]


@pytest.mark.parametrize("tensor_range", sorted(PREPROCESS))
def test_tensor_models_classify_what_the_client_sends(
    session: requests.Session, tensor_range: str
) -> None:
    size = 48
    spec = ModelSpec(
        input_kind="float", height=size, width=size, tensor_range=tensor_range, outputs="single"
    )
    photo = image_for_class(1001, 258)  # mean colour bins (2, 5, 7): R != B
    with FakeTFServing(spec) as server:
        right = tensor_instance(photo, size, PREPROCESS[tensor_range])
        r = predict(session, server, {"instances": [right]})
        assert r.status_code == 200, r.text[:300]
        probs = r.json()["predictions"][0]
        assert max(range(1001), key=probs.__getitem__) == 258
        ((lo, hi),) = server.tensor_ranges
        want_lo, want_hi = EXPECTED_RANGE[tensor_range]
        assert want_lo - 1e-6 <= lo <= hi <= want_hi + 1e-6

        wrong = tensor_instance(photo, size, PREPROCESS[WRONG[tensor_range]])
        probs = predict(session, server, {"inputs": [wrong]}).json()["outputs"][0]
        assert max(range(1001), key=probs.__getitem__) != 258


def test_full_size_224_float_tensor_in_both_formats(session: requests.Session) -> None:
    with FakeTFServing(ModelSpec(input_kind="float", tf2=True)) as server:
        inst = tensor_instance(image_for_class(1001, 777), 224, PREPROCESS["0_1"])
        body = json.dumps({"instances": [inst]}, separators=(",", ":"))
        r = session.post(f"{server.url}/v1/models/resnet:predict", data=body, timeout=TIMEOUT)
        assert r.json()["predictions"][0]["classes"] == 777
        r = predict(session, server, {"inputs": {"input_1": [inst]}})
        assert r.json()["outputs"]["classes"] == [777]
        assert server.predict_images[-1].size == (224, 224)


def test_uint8_tensor_model_takes_raw_pixels(session: requests.Session) -> None:
    spec = ModelSpec(input_kind="uint8", height=32, width=32, tensor_range="0_1")
    with FakeTFServing(spec) as server:
        inst = tensor_instance(image_for_class(1001, 123), 32, lambda r, g, b: [r, g, b])
        assert (
            predict(session, server, {"instances": [inst]}).json()["predictions"][0]["classes"]
            == 123
        )


def test_multiple_models_on_one_server(session: requests.Session, cat_jpeg: bytes) -> None:
    specs = [ModelSpec(name="a"), ModelSpec(name="b", outputs="single", versions=(3,))]
    with FakeTFServing(specs) as server:
        ra = session.post(
            f"{server.url}/v1/models/a:predict",
            json={"instances": [{"b64": b64(cat_jpeg)}]},
            timeout=TIMEOUT,
        )
        rb = session.post(
            f"{server.url}/v1/models/b/versions/3:predict",
            json={"instances": [{"b64": b64(cat_jpeg)}]},
            timeout=TIMEOUT,
        )
        assert ra.json()["predictions"][0]["classes"] == 286
        assert len(rb.json()["predictions"][0]) == 1001


def test_cli_writes_a_class_image(tmp_path: Any) -> None:
    out = tmp_path / "cat.jpg"
    assert main(["--make-image", "286", str(out)]) == 0
    assert default_classify(Image.open(out), 1001) == 286
