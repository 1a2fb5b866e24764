"""The STFS stand-in answers as simple_tensorflow_serving 0.8.2 does (see tests/fakes/stfs)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
import requests

from tests.fakes.stfs import AUTH_BODY, AUTH_CHALLENGE, HTML_500, FakeSTFS
from tests.fakes.tfserving import (
    dogs120_spec,
    image_for_class,
    jpeg_bytes,
    named_classes_spec,
    seed000_spec,
)

TIMEOUT = 10


def png_text(class_id: int) -> str:
    buf = io.BytesIO()
    image_for_class(120, class_id, (64, 48)).save(buf, format="PNG")
    return base64.urlsafe_b64encode(buf.getvalue()).decode("ascii")


def top1(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


@pytest.fixture
def stfs() -> Iterator[FakeSTFS]:
    with FakeSTFS(seed000_spec()) as server:
        yield server


def post(server: FakeSTFS, doc: object, **kw: object) -> requests.Response:
    return requests.post(server.url + "/", json=doc, timeout=TIMEOUT, **kw)  # type: ignore[arg-type]


def assert_html_500(resp: requests.Response) -> None:
    assert (resp.status_code, resp.headers["Content-Type"]) == (500, "text/html; charset=utf-8")
    assert resp.text == HTML_500


def test_seed000_request_gets_flat_prediction_for_the_pictures_class(stfs: FakeSTFS) -> None:
    doc = {"model_name": "default", "model_version": 1, "data": {"image": png_text(37)}}
    resp = post(stfs, doc)
    assert (resp.status_code, resp.headers["Content-Type"]) == (200, "application/json")
    body = resp.json()
    assert list(body) == ["prediction"]
    assert len(body["prediction"]) == 1 and len(body["prediction"][0]) == 120
    assert top1(body["prediction"][0]) == 37
    assert resp.text.startswith('{"prediction":[[') and resp.text.endswith("]]}\n")


def test_model_name_version_and_signature_are_optional(stfs: FakeSTFS) -> None:
    resp = post(stfs, {"data": {"image": png_text(5)}, "signature_name": "serving_default"})
    assert resp.status_code == 200
    assert top1(resp.json()["prediction"][0]) == 5


def test_json_and_jpeg_base64_text_are_both_decoded(stfs: FakeSTFS) -> None:
    text = base64.urlsafe_b64encode(jpeg_bytes(image_for_class(120, 99))).decode()
    assert top1(post(stfs, {"data": {"image": text}}).json()["prediction"][0]) == 99


@pytest.mark.parametrize(
    "doc",
    [
        {"data": {"image": [png_text(1)]}},  # batched: DecodePng wants a scalar
        {"data": {"image": {"b64": base64.b64encode(b"\xff\xd8jpeg").decode()}}},
        {"data": {"image": base64.b64encode(b"\xfb\xff\xfe").decode()}},  # standard alphabet
        {"data": {"wrong": png_text(1)}},
        {"model_name": "default"},
        {"data": {"image": png_text(1)}, "model_version": 2},
        {"data": {"image": png_text(1)}, "signature_name": "predict"},
    ],
)
def test_inference_failures_are_html_500_pages(stfs: FakeSTFS, doc: object) -> None:
    assert_html_500(post(stfs, doc))


def test_envelope_errors_are_json_400s(stfs: FakeSTFS) -> None:
    resp = post(stfs, {"model_name": "dogs", "data": {}})
    assert (resp.status_code, resp.headers["Content-Type"]) == (400, "application/json")
    assert resp.json() == {
        "error": "Invalid model name: dogs, available models: dict_keys(['default'])"
    }
    assert post(stfs, [1, 2]).json() == {"error": "Invalid json data: b'[1, 2]'"}
    bad = requests.post(
        stfs.url, data=b"{x", headers={"Content-Type": "application/json"}, timeout=TIMEOUT
    )
    assert (bad.status_code, bad.json()) == (400, {"error": "Invalid json data: b'{x'"})
    text = requests.post(
        stfs.url, data=b"x", headers={"Content-Type": "text/plain"}, timeout=TIMEOUT
    )
    assert (text.status_code, text.json()) == (400, {"error": "Error, unsupported content type"})


def test_model_detail_is_json_text_with_enum_dtypes_and_empty_unknown_rank_shape(
    stfs: FakeSTFS,
) -> None:
    resp = requests.get(f"{stfs.url}/v1/models/default", timeout=TIMEOUT)
    assert (resp.status_code, resp.headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert resp.json() == {
        "model_name": "default",
        "model_base_path": "./model",
        "model_version_list": ["1"],
        "model_signature": {
            "inputs": [{"name": "image", "dtype": 7, "shape": []}],
            "outputs": [{"name": "prediction", "dtype": 1, "shape": [-1, 120]}],
        },
        "platform": "TensorFlow",
    }
    listing = requests.get(f"{stfs.url}/v1/models", timeout=TIMEOUT).json()
    assert [m["model_name"] for m in listing] == ["default"]
    missing = requests.get(f"{stfs.url}/v1/models/nope", timeout=TIMEOUT)
    assert (missing.status_code, missing.text) == (200, "Model not found: nope")


def test_health_root_and_unknown_paths(stfs: FakeSTFS) -> None:
    health = requests.get(f"{stfs.url}/health", timeout=TIMEOUT)
    assert (health.status_code, health.text) == (200, "healthy")
    assert requests.get(stfs.url, timeout=TIMEOUT).headers["Content-Type"].startswith("text/html")
    nope = requests.get(f"{stfs.url}/v1/models/default:predict/x", timeout=TIMEOUT)
    assert nope.status_code == 404 and nope.text.startswith("<!doctype html>")
    put = requests.put(stfs.url, timeout=TIMEOUT)
    assert (put.status_code, put.headers["Allow"]) == (405, "GET, OPTIONS, HEAD, POST")


def test_basic_auth_guards_everything_but_health() -> None:
    with FakeSTFS(seed000_spec(), enable_auth=True, auth_password="s3cret") as srv:
        doc = {"data": {"image": png_text(3)}}
        for auth in (None, ("admin", "admin")):
            resp = post(srv, doc, auth=auth)
            assert (resp.status_code, resp.text) == (401, AUTH_BODY)
            assert resp.headers["WWW-Authenticate"] == AUTH_CHALLENGE
        assert post(srv, doc, auth=("admin", "s3cret")).status_code == 200
        detail = requests.get(f"{srv.url}/v1/models/default", timeout=TIMEOUT)
        assert detail.status_code == 401
        assert requests.get(f"{srv.url}/health", timeout=TIMEOUT).status_code == 200


def test_b64_objects_are_decoded_only_with_autoconvert() -> None:
    jpeg = jpeg_bytes(image_for_class(120, 12))
    doc = {"data": {"image_bytes": [{"b64": base64.b64encode(jpeg).decode()}]}}
    with FakeSTFS(dogs120_spec(name="default")) as off:
        assert_html_500(post(off, doc))
    with FakeSTFS(dogs120_spec(name="default"), enable_b64_autoconvert=True) as on:
        resp = post(on, doc)
        assert resp.status_code == 200
        assert top1(resp.json()["predictions"][0]) == 12
        assert_html_500(post(on, {"data": {"image_bytes": [{}]}}))
        assert_html_500(post(on, {"data": {"image_bytes": [{"b64": "abc"}]}}))  # no padding


def test_seed000_b64_object_with_autoconvert_feeds_raw_bytes_and_fails() -> None:
    with FakeSTFS(seed000_spec(), enable_b64_autoconvert=True) as srv:
        jpeg = jpeg_bytes(image_for_class(120, 8))
        assert_html_500(post(srv, {"data": {"image": {"b64": base64.b64encode(jpeg).decode()}}}))
        assert post(srv, {"data": {"image": png_text(8)}}).status_code == 200


def test_string_outputs_cannot_be_serialised_so_named_class_models_fail() -> None:
    spec = named_classes_spec(name="default", input_kind="base64_text", input_alias="image")
    with FakeSTFS(spec) as srv:
        assert_html_500(post(srv, {"data": {"image": png_text(2)}}))
        outputs = requests.get(f"{srv.url}/v1/models/default", timeout=TIMEOUT).json()
        assert outputs["model_signature"]["outputs"][0] == {
            "name": "classes",
            "dtype": 7,
            "shape": [-1, 120],
        }


def test_tf2_model_with_init_op_first_breaks_every_request() -> None:
    with FakeSTFS(seed000_spec(tf2=True), init_op_first=True) as srv:
        assert_html_500(requests.get(f"{srv.url}/health", timeout=TIMEOUT))
        assert_html_500(post(srv, {"data": {"image": png_text(1)}}))
    with FakeSTFS(seed000_spec(tf2=True)) as srv:
        doc = {"data": {"image": png_text(1)}, "signature_name": "__saved_model_init_op"}
        assert post(srv, doc).status_code == 200  # STFS maps every name to serving_default


def test_cors_headers_and_connection_close(stfs: FakeSTFS) -> None:
    resp = requests.get(f"{stfs.url}/health", timeout=TIMEOUT)
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["Connection"] == "close"
    pre = requests.options(
        stfs.url,
        headers={"Origin": "http://a", "Access-Control-Request-Method": "POST"},
        timeout=TIMEOUT,
    )
    assert pre.status_code == 200
    assert pre.headers["Access-Control-Allow-Origin"] == "http://a"
    with FakeSTFS(seed000_spec(), enable_cors=False) as srv:
        plain = requests.get(f"{srv.url}/health", timeout=TIMEOUT)
        assert "Access-Control-Allow-Origin" not in plain.headers


def test_requests_and_images_are_recorded(stfs: FakeSTFS) -> None:
    post(stfs, {"data": {"image": png_text(40)}})
    assert [(r.method, r.path, r.status) for r in stfs.requests] == [("POST", "/", 200)]
    assert len(stfs.predict_images) == 1
