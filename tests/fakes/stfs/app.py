"""STFS 0.8.2's Flask app (server.py, manager.py, tensorflow_inference_service.py) as one function.

Line numbers below refer to ``simple_tensorflow_serving-0.8.2.tar.gz`` from PyPI.  On Python 3
every exception inside inference becomes Flask's HTML 500: server.py:338 reads ``e.message``,
which Python 3 exceptions lack, so the ``except`` handler itself raises ``AttributeError``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from PIL import Image

from tests.fakes.stfs.pages import (
    AUTH_BODY,
    AUTH_CHALLENGE,
    DASHBOARD,
    HTML_404,
    HTML_405,
    JSON,
    Reply,
)
from tests.fakes.tfserving.b64text import decode_base64_text_input
from tests.fakes.tfserving.errors import _TFError
from tests.fakes.tfserving.images import _decode_image, _tensor_to_image
from tests.fakes.tfserving.model import classify_images
from tests.fakes.tfserving.outputs import output_rows
from tests.fakes.tfserving.spec import ModelSpec, _Signature, _signatures

DTYPE_ENUM = {"DT_INVALID": 0, "DT_FLOAT": 1, "DT_UINT8": 4, "DT_STRING": 7, "DT_INT64": 9}
DTYPE_ENUM["DT_HALF"] = 19


class InferenceError(Exception):
    """Anything that makes STFS's inference raise (-> HTML 500)."""


def jsonify(doc: Any, status: int) -> Reply:
    """flask.jsonify under Flask 2.2 (not debug): sorted keys, compact, trailing newline."""
    return Reply(status, json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n", JSON)


def serving_signature(spec: ModelSpec) -> _Signature:
    """tensorflow_inference_service.py:254-261: "serving_default"/"predict", else the last."""
    sigs = _signatures(spec)
    return sigs.get("serving_default") or sigs.get("predict") or list(sigs.values())[-1]


def model_detail(spec: ModelSpec, base_path: str) -> dict[str, Any]:
    """abstract_inference_service.py:34-40 + tensorflow_model_graph_to_dict (:443-510)."""

    def entries(infos: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"name": alias, "dtype": DTYPE_ENUM[info.dtype], "shape": list(info.dims or [])}
            for alias, info in sorted(infos.items())
        ]

    sig = serving_signature(spec)
    return {
        "model_name": spec.name,
        "model_base_path": base_path,
        "model_version_list": [str(v) for v in spec.versions],
        "model_signature": {"inputs": entries(sig.inputs), "outputs": entries(sig.outputs)},
        "platform": "TensorFlow",
    }


def replace_b64(item: Any) -> None:
    """base64_util.replace_b64_in_dict: any dict whose FIRST key is "b64" -> urlsafe-decoded."""
    pairs = list(item.items()) if isinstance(item, dict) else list(enumerate(item))
    for key, value in pairs:
        keys, values = list(value) if isinstance(value, dict) else [], []
        if isinstance(value, dict) and keys[0] == "b64":  # {} -> IndexError, as in STFS
            values = list(value.values())
            item[key] = base64.urlsafe_b64decode(str(values[0]))  # needs padding
        elif isinstance(value, dict | list):
            replace_b64(value)


def _as_string_tensor(value: Any) -> tuple[list[int], list[bytes]]:
    """numpy.asarray(value, dtype=object) for a tf.string placeholder."""
    if isinstance(value, bytes | str):
        return [], [value.encode("utf-8") if isinstance(value, str) else value]
    if isinstance(value, list) and all(isinstance(v, bytes | str) for v in value):
        return [len(value)], [v.encode("utf-8") if isinstance(v, str) else v for v in value]
    raise InferenceError("Unable to get element as bytes.")


def _as_float_tensor(value: Any, spec: ModelSpec) -> list[list[float]]:
    per_image = spec.height * spec.width * 3
    flat: list[float] = []

    def walk(v: Any, depth: int) -> None:
        if isinstance(v, list):
            for x in v:
                walk(x, depth + 1)
        elif isinstance(v, int | float) and not isinstance(v, bool) and depth == 4:
            flat.append(float(v))
        else:
            raise InferenceError("Cannot feed value of this shape")

    walk(value, 0)
    if not flat or len(flat) % per_image or len(value) * per_image != len(flat):
        raise InferenceError("Cannot feed value of this shape")
    return [flat[i : i + per_image] for i in range(0, len(flat), per_image)]


def run_graph(spec: ModelSpec, value: Any) -> list[Image.Image]:
    """sess.run() with ``value`` fed as given (:382, :411); any failure -> InferenceError."""
    try:
        if spec.input_kind == "base64_text":
            shape, values = _as_string_tensor(value)
            return [decode_base64_text_input(shape, values)]
        if spec.input_kind == "b64":
            shape, values = _as_string_tensor(value)
            if not shape:
                raise InferenceError("Cannot feed value of shape () for Tensor of shape (?,)")
            return [_decode_image(v) for v in values]
        return [
            _tensor_to_image(chunk, spec.height, spec.width, spec)
            for chunk in _as_float_tensor(value, spec)
        ]
    except _TFError as exc:
        raise InferenceError(exc.message) from None


def inference(spec: ModelSpec, doc: dict[str, Any], images_out: list[Image.Image]) -> Any:
    """TensorFlowInferenceService.inference (:322-440)."""
    if "model_version" in doc and str(doc["model_version"]) not in map(str, spec.versions):
        raise InferenceError("KeyError: version")  # :390 version_session_map[str(v)]
    if "data" not in doc:
        raise InferenceError("Inference with empty data, please check the request JSON")
    data = doc["data"]
    sigs = _signatures(spec)
    name = doc.get("signature_name", "serving_default")
    if name not in sigs:
        raise InferenceError(f"Fail to request the signature name: {name}")
    # :263-273 store the SERVING signature's names under every signature name (sic)
    sig = serving_signature(spec)
    if not isinstance(data, dict) or any(alias not in data for alias in sig.inputs):
        raise InferenceError("Input op name does not exist in input data")
    if "run_profile" in doc:
        raise InferenceError("run_profile is not emulated")  # also broken for != "true"
    images = run_graph(spec, data[spec.alias])
    try:
        classes = classify_images(spec, images)
    except _TFError as exc:
        raise InferenceError(exc.message) from None
    images_out.extend(images)
    result: dict[str, Any] = {}
    for alias, kind, rows in output_rows(spec, sig, classes):
        if kind == "str":  # ndarray.tolist() of DT_STRING -> bytes: jsonify raises TypeError
            raise InferenceError("Object of type bytes is not JSON serializable")
        result[alias] = rows
    return result


def check_auth(header: str | None, username: str, password: str) -> bool:
    """werkzeug request.authorization (Basic) compared with --auth_username/--auth_password."""
    if not header or header[:6].lower() != "basic ":
        return False
    try:
        user, _, pw = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        return False
    return user == username and pw == password


def unauthorized() -> Reply:
    return Reply(401, AUTH_BODY, headers={"WWW-Authenticate": AUTH_CHALLENGE})


def not_found() -> Reply:
    return Reply(404, HTML_404)


def not_allowed(allow: str) -> Reply:
    return Reply(405, HTML_405, headers={"Allow": allow})


def dashboard() -> Reply:
    return Reply(200, DASHBOARD)
