"""The core of a TF-Serving-compatible REST server over real TensorFlow (see the package's
docstring): models loaded as TF Serving loads them, JSON <-> tensors, the HTTP handler.

TensorFlow is imported when this module is; the rest of the package does not import it.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import importlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

tf: Any = importlib.import_module("tensorflow")  # no type stubs

DTYPES: dict[int, tuple[str, Any, str]] = {
    1: ("DT_FLOAT", np.float32, "float"),
    2: ("DT_DOUBLE", np.float64, "double"),
    3: ("DT_INT32", np.int32, "int32"),
    4: ("DT_UINT8", np.uint8, "uint8"),
    5: ("DT_INT16", np.int16, "int16"),
    6: ("DT_INT8", np.int8, "int8"),
    7: ("DT_STRING", object, "string"),
    9: ("DT_INT64", np.int64, "int64"),
    10: ("DT_BOOL", np.bool_, "bool"),
}
ENUM_NAMES: dict[int, str] = {
    0: "DT_INVALID",
    19: "DT_HALF",
    14: "DT_BFLOAT16",
    **{k: v[0] for k, v in DTYPES.items()},
}

HTTP_OF: dict[Any, int] = {
    tf.errors.InvalidArgumentError: 400,
    tf.errors.FailedPreconditionError: 400,
    tf.errors.OutOfRangeError: 400,
    tf.errors.NotFoundError: 404,
    tf.errors.UnimplementedError: 501,
    tf.errors.UnavailableError: 503,
    tf.errors.DeadlineExceededError: 504,
    tf.errors.ResourceExhaustedError: 429,
    tf.errors.PermissionDeniedError: 403,
    tf.errors.UnauthenticatedError: 401,
    tf.errors.AbortedError: 409,
    tf.errors.AlreadyExistsError: 409,
    tf.errors.CancelledError: 499,
}


class ApiError(Exception):
    """An answer other than 200: the HTTP status and TF Serving's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def core_message(message: str) -> str:
    """TF's C++ status text (what TF Serving prints), minus Python's preamble."""
    marker = message.rfind("\nNode: '")
    if marker >= 0:
        message = message[message.index("\n", marker + 1) + 1 :]
    return message


# ---------------------------------------------------------------- models


class Servable:
    """The newest numeric version under ``base_path``, loaded in its own graph and session
    through the v1 SavedModel loader (as TF Serving does)."""

    def __init__(self, name: str, base_path: str) -> None:
        versions = sorted(int(d) for d in os.listdir(base_path) if d.isdigit())
        if not versions:
            raise ValueError(f"{base_path}: no numeric version folder")
        self.name = name
        self.version = versions[-1]
        self.graph = tf.Graph()
        self.sess = tf.compat.v1.Session(graph=self.graph)
        t0 = time.perf_counter()
        self.meta = tf.compat.v1.saved_model.loader.load(
            self.sess, ["serve"], os.path.join(base_path, str(self.version))
        )
        self.load_s = time.perf_counter() - t0


def _shape_json(info: Any) -> dict[str, Any]:
    shape = info.tensor_shape
    return {
        "dim": [{"size": str(d.size), "name": d.name} for d in shape.dim],
        "unknown_rank": bool(shape.unknown_rank),
    }


def _tensor_info_json(info: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"dtype": ENUM_NAMES.get(info.dtype, f"DT_{info.dtype}")}
    if info.HasField("tensor_shape"):
        out["tensor_shape"] = _shape_json(info)
    out["name"] = info.name
    return out


def metadata_json(s: Servable) -> dict[str, Any]:
    """GET .../metadata: the signature_def JSON as TF Serving prints it."""
    sigs = {}
    for key, sig in s.meta.signature_def.items():
        sigs[key] = {
            "inputs": {k: _tensor_info_json(v) for k, v in sig.inputs.items()},
            "outputs": {k: _tensor_info_json(v) for k, v in sig.outputs.items()},
            "method_name": sig.method_name,
            "defaults": {},
        }
    return {
        "model_spec": {"name": s.name, "signature_name": "", "version": str(s.version)},
        "metadata": {"signature_def": {"signature_def": sigs}},
    }


# ---------------------------------------------------------------- JSON -> tensors


def _type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, str):
        return "String"
    if isinstance(v, (int, float)):
        return "Number"
    if isinstance(v, dict):
        return "Object"
    if isinstance(v, list):
        return "Array"
    return "Null"


def _type_error(v: Any, want: str) -> ApiError:
    text = json.dumps(v)[:256]
    return ApiError(
        400, f"JSON Value: {text} Type: {_type_name(v)} is not of expected type: {want}"
    )


def is_b64_object(v: Any) -> bool:
    return isinstance(v, dict) and len(v) == 1 and isinstance(v.get("b64"), str)


def absl_base64_unescape(text: str) -> bytes:
    """absl::Base64Unescape: standard alphabet, whitespace skipped, padding optional."""
    s = re.sub(r"[ \t\n\r\f\v]", "", text).replace(".", "=")
    if re.search(r"[^A-Za-z0-9+/=]", s):
        raise ValueError
    body = s.rstrip("=")
    pad = len(s) - len(body)
    if "=" in body or (pad and (len(s) % 4 != 0 or pad > 2)) or len(body) % 4 == 1:
        raise ValueError
    return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)


def _leaf(v: Any, dtype_enum: int) -> Any:
    if dtype_enum not in DTYPES:
        raise ApiError(
            501,
            f"Conversion of JSON Value: {json.dumps(v)[:256]} to type: "
            f"{ENUM_NAMES.get(dtype_enum, dtype_enum)}",
        )
    _, np_type, want = DTYPES[dtype_enum]
    if dtype_enum == 7:
        if isinstance(v, str):
            return v.encode("utf-8")
        if is_b64_object(v):
            try:
                return absl_base64_unescape(v["b64"])
            except (ValueError, binascii.Error):
                raise ApiError(400, "Unable to base64 decode") from None
        raise _type_error(v, want)
    if isinstance(v, bool):
        if dtype_enum == 10:
            return v
        raise _type_error(v, want)
    if dtype_enum in (1, 2):
        if isinstance(v, (int, float)):
            return float(v)
        raise _type_error(v, want)
    if isinstance(v, int):
        info = np.iinfo(np_type)
        if info.min <= v <= info.max:
            return v
    raise _type_error(v, want)


def to_tensor(value: Any, dtype_enum: int) -> Any:
    shape: list[int] = []

    def walk(v: Any, level: int) -> Any:
        if isinstance(v, list):
            if level == len(shape):
                shape.append(len(v))
            elif level > len(shape) or shape[level] != len(v):
                raise ApiError(
                    400,
                    f"Encountered list at unexpected size: {len(v)} at level: "
                    f"{level} expected size: {shape[level] if level < len(shape) else 0}",
                )
            return [walk(x, level + 1) for x in v]
        if level != len(shape):
            raise ApiError(
                400, f"Encountered scalar element at level: {level} expected level: {len(shape)}"
            )
        return _leaf(v, dtype_enum)

    data = walk(value, 0)
    np_type = DTYPES[dtype_enum][1]
    if dtype_enum == 7:
        arr = np.empty(tuple(shape), dtype=object)
        if shape:
            arr[...] = np.array(data, dtype=object).reshape(shape)
        else:
            arr[()] = data
        return arr
    return np.array(data, dtype=np_type).reshape(shape)


def feeds_from_request(body: dict[str, Any], sig: Any) -> tuple[dict[str, Any], bool]:
    """Returns ({alias: tensor}, row_format)."""
    has_inst, has_inp = "instances" in body, "inputs" in body
    if has_inst and has_inp:
        raise ApiError(
            400,
            "Not a valid JSON request: expecting only one of 'inputs' or 'instances' keys to exist",
        )
    if not has_inst and not has_inp:
        raise ApiError(400, "Missing 'inputs' or 'instances' key")
    aliases = list(sig.inputs.keys())
    if has_inst:
        inst = body["instances"]
        if not isinstance(inst, list):
            raise ApiError(400, "Expecting 'instances' to be an list/array")
        if not inst:
            raise ApiError(400, "No values in 'instances' array")
        columns: dict[str, list[Any]] = {a: [] for a in aliases}
        for i, elem in enumerate(inst):
            try:
                if isinstance(elem, dict) and not is_b64_object(elem):
                    if set(elem) != set(aliases):
                        raise ApiError(
                            400,
                            f"Failed to process element: {i} key(s) of 'instances'"
                            " list. Error: INVALID_ARGUMENT: instance keys must "
                            f"be equal to: {','.join(sorted(aliases))}",
                        )
                    for a in aliases:
                        columns[a].append(to_tensor(elem[a], sig.inputs[a].dtype))
                elif len(aliases) == 1:
                    columns[aliases[0]].append(to_tensor(elem, sig.inputs[aliases[0]].dtype))
                else:
                    raise ApiError(
                        400,
                        "instances is a plain list, but expecting list of "
                        "objects as multiple input tensors required as per "
                        "tensorinfo_map",
                    )
            except ApiError as exc:
                if exc.message.startswith(("Failed to process", "instances is")):
                    raise
                raise ApiError(
                    exc.status,
                    f"Failed to process element: {i} of 'instances' "
                    f"list. Error: INVALID_ARGUMENT: {exc.message}",
                ) from None
        feeds = {}
        for a, parts in columns.items():
            first = parts[0]
            for i, p in enumerate(parts[1:], start=1):
                if p.size != first.size:
                    raise ApiError(
                        400,
                        f"Failed to process element: {i} of 'instances' list. "
                        f"Error: INVALID_ARGUMENT: Expecting tensor size: "
                        f"{first.size} but got: {p.size}",
                    )
                if p.shape != first.shape:
                    raise ApiError(
                        400,
                        f"Failed to process element: {i} of 'instances' list. "
                        f"Error: INVALID_ARGUMENT: Expecting shape "
                        f"{list(first.shape)} but got: {list(p.shape)}",
                    )
            feeds[a] = np.stack(parts)
        return feeds, True
    inp = body["inputs"]
    if isinstance(inp, dict) and not is_b64_object(inp):
        feeds = {}
        for a in aliases:
            if a not in inp:
                raise ApiError(400, f"Missing named input: {a} in 'inputs' object.")
            feeds[a] = to_tensor(inp[a], sig.inputs[a].dtype)
        return feeds, False
    if len(aliases) != 1:
        raise ApiError(
            400,
            "inputs is a plain value/list, but expecting an object as multiple "
            "input tensors required as per tensorinfo_map",
        )
    return {aliases[0]: to_tensor(inp, sig.inputs[aliases[0]].dtype)}, False


# ---------------------------------------------------------------- tensors -> JSON


def fmt_float(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    f32 = np.float32(v)
    s = f"{f32:.6g}"
    if np.float32(float(s)) != f32:
        s = f"{f32:.9g}"
    if not any(c in s for c in ".en"):
        s += ".0"
    return s


def to_json_text(v: Any, alias: str = "") -> str:
    if isinstance(v, np.ndarray):
        return (
            to_json_text(v.tolist() if v.dtype != object else list(v), alias)
            if v.ndim
            else to_json_text(v.item(), alias)
        )
    if isinstance(v, list):
        return "[" + ", ".join(to_json_text(x, alias) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {to_json_text(x, k)}" for k, x in v.items()) + "}"
    if isinstance(v, bytes):
        if alias.endswith("_bytes"):
            return json.dumps({"b64": base64.b64encode(v).decode("ascii")})
        return json.dumps(v.decode("utf-8", "replace"), ensure_ascii=False)
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return fmt_float(float(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return json.dumps(v)


def predict(s: Servable, body: dict[str, Any]) -> str:
    """POST ...:predict: the answer's JSON text, laid out as TF Serving's."""
    sig_name = body.get("signature_name", "serving_default")
    if not isinstance(sig_name, str):
        raise ApiError(400, "'signature_name' key must be a string value.")
    if sig_name == "":
        sig_name = "serving_default"
    if sig_name not in s.meta.signature_def:
        raise ApiError(400, f'Serving signature name: "{sig_name}" not found in signature def')
    sig = s.meta.signature_def[sig_name]
    feeds, row = feeds_from_request(body, sig)
    out_names = {k: v.name for k, v in sig.outputs.items()}
    try:
        values = s.sess.run(
            list(out_names.values()), feed_dict={sig.inputs[a].name: t for a, t in feeds.items()}
        )
    except tf.errors.OpError as exc:
        raise ApiError(HTTP_OF.get(type(exc), 500), core_message(exc.message)) from None
    except (ValueError, TypeError) as exc:  # feed rejected by the Python session
        raise ApiError(400, str(exc)) from None
    outs = dict(zip(out_names.keys(), values, strict=True))
    if row:
        batch = next(iter(feeds.values())).shape[0]
        for k, v in outs.items():
            if np.ndim(v) == 0:
                raise ApiError(400, f"Tensor name: {k} has no shape information ")
            if v.shape[0] != batch:
                raise ApiError(
                    400,
                    f"Tensor name: {k} has inconsistent batch size: "
                    f"{v.shape[0]} expecting: {batch}",
                )
        if len(outs) == 1:
            ((alias, v),) = outs.items()
            rows = [to_json_text(v[i], alias) for i in range(batch)]
        else:
            rows = [to_json_text({k: v[i] for k, v in outs.items()}) for i in range(batch)]
        return '{\n    "predictions": [' + ", ".join(rows) + "\n    ]\n}"
    if len(outs) == 1:
        ((alias, v),) = outs.items()
        return '{\n    "outputs": ' + to_json_text(v, alias) + "\n}"
    return '{\n    "outputs": ' + to_json_text(outs) + "\n}"


# ---------------------------------------------------------------- HTTP

GET_RE = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?(/metadata)?$", re.I)
POST_RE = re.compile(
    r"^/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(predict|classify|regress)$", re.I
)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall
    server_version = "tfs-compat/interop"
    models: ClassVar[dict[str, Servable]] = {}

    def log_message(self, fmt: str, *args: Any) -> None:  # one short line per request
        sys.stderr.write(f"{self.log_date_time_string()} {fmt % args}\n")

    def _send(self, status: int, text: str, ctype: str = "application/json") -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, '{ "error": ' + json.dumps(message) + " }")

    def _find(self, name: str, version: str | None, label: str | None, what: str) -> Servable:
        from urllib.parse import unquote

        s = self.models.get(unquote(name))
        if label is not None:
            raise ApiError(400, f"Unrecognized servable version label: {unquote(label)}")
        if s is None or (version is not None and int(version) != s.version):
            if what == "status":
                if s is None:
                    raise ApiError(404, f"Could not find any versions of model {unquote(name)}")
                raise ApiError(404, f"Could not find version {version} of model {unquote(name)}")
            req = f"Specific({unquote(name)}, {version})" if version else f"Latest({unquote(name)})"
            raise ApiError(404, f"Servable not found for request: {req}")
        return s

    def _route(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        body = b""
        if method == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if "gzip" in (self.headers.get("Content-Encoding") or ""):
                body = gzip.decompress(body)
        if not path.lower().startswith("/v1/"):
            self._send(
                404,
                "<HTML><HEAD><TITLE>404 Not Found</TITLE></HEAD><BODY>"
                "<H1>Not Found</H1></BODY></HTML>",
                "text/html",
            )
            return
        try:
            if method == "GET" and path.lower().rstrip("/") == "/v1/models":
                raise ApiError(400, "Missing model name in request.")
            m = (GET_RE if method == "GET" else POST_RE).match(path)
            if not m or method not in ("GET", "POST"):
                raise ApiError(400, f"Malformed request: {method} {path}")
            name, version, label, verb = m.groups()
            if method == "GET":
                if verb:
                    s = self._find(name, version, label, "metadata")
                    self._send(200, json.dumps(metadata_json(s), indent=1))
                else:
                    s = self._find(name, None if version is None else version, None, "status")
                    self._send(
                        200,
                        json.dumps(
                            {
                                "model_version_status": [
                                    {
                                        "version": str(s.version),
                                        "state": "AVAILABLE",
                                        "status": {"error_code": "OK", "error_message": ""},
                                    }
                                ]
                            },
                            indent=1,
                        ),
                    )
                return
            s = self._find(name, version, label, "predict")
            if verb.lower() != "predict":
                raise ApiError(
                    400,
                    "Expected classification signature method_name to be "
                    "tensorflow/serving/classify. Was: tensorflow/serving/predict",
                )
            text = body.decode("utf-8", "replace")
            if not text.strip():
                raise ApiError(400, "JSON Parse error: The document is empty")
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ApiError(
                    400, f"JSON Parse error: Invalid value. at offset: {exc.pos}"
                ) from None
            if not isinstance(parsed, dict):
                raise ApiError(400, "JSON Parse error: The document root must be an object")
            self._send(200, predict(s, parsed))
        except ApiError as exc:
            self._error(exc.status, exc.message)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")


def load_models(base_paths: Mapping[str, str]) -> dict[str, Servable]:
    """``{name: base_path}`` -> the loaded servables, each load reported on stderr."""
    models = {}
    for name, path in base_paths.items():
        s = Servable(name, path)
        models[name] = s
        print(f"loaded {name} version {s.version} in {s.load_s:.2f}s", file=sys.stderr)
    return models


def make_server(
    models: Mapping[str, Servable], host: str = "127.0.0.1", port: int = 0
) -> ThreadingHTTPServer:
    """A server (not yet serving) for ``models`` on ``host:port``; port 0 picks a free one,
    ``server.server_address[1]`` tells which."""
    handler = type("ModelsHandler", (Handler,), {"models": dict(models)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
