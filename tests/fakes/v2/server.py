"""The v2 stand-in's HTTP server and models (see the package docstring)."""

from __future__ import annotations

import base64
import io
import json
import math
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import numpy as np
from PIL import Image

from tests.fakes.tfserving.images import class_from_mean, default_classify

Flavour = Literal["triton", "mlserver", "ovms", "kserve"]
HEADER_LENGTH = "Inference-Header-Content-Length"
MAX_BODY = 64 * 1024 * 1024
NUMPY = {"FP32": "<f4", "UINT8": "<u1", "FP64": "<f8"}


@dataclass
class V2Model:
    """One model. ``kind``: ``bytes`` (one JPEG per element of a BYTES input), ``fp32`` or
    ``uint8`` (a picture tensor, ``layout`` NHWC or NCHW, FP32 in 0..1)."""

    name: str
    kind: Literal["bytes", "fp32", "uint8"] = "bytes"
    num_classes: int = 1001
    layout: Literal["NHWC", "NCHW"] = "NHWC"
    size: int = 224
    input_name: str = "image"
    output_name: str = "probabilities"
    names_output: str | None = None  # set: also a BYTES output of every class's name
    ready: bool = True
    versions: tuple[str, ...] = ("1",)

    def input_meta(self) -> dict[str, Any]:
        if self.kind == "bytes":
            return {"name": self.input_name, "datatype": "BYTES", "shape": [-1]}
        hw = [self.size, self.size]
        shape = [-1, *hw, 3] if self.layout == "NHWC" else [-1, 3, *hw]
        dtype = "FP32" if self.kind == "fp32" else "UINT8"
        return {"name": self.input_name, "datatype": dtype, "shape": shape}

    def classify(self, value: Any) -> int:
        """The class of one picture (JPEG bytes, or an array of the input's shape)."""
        if self.kind == "bytes":
            with Image.open(io.BytesIO(value)) as img:
                return default_classify(img, self.num_classes)
        arr = np.asarray(value, dtype=np.float64)
        if self.layout == "NCHW":
            arr = arr.transpose(1, 2, 0)
        if self.kind == "fp32":
            arr = arr * 255.0
        return class_from_mean(arr.reshape(-1, 3).mean(axis=0).tolist(), self.num_classes)


@dataclass(frozen=True)
class RecordedV2:
    method: str
    path: str
    headers: dict[str, str]
    body_bytes: int
    doc: Any  # the JSON part of an infer request, else None


@dataclass
class FakeV2:
    models: list[V2Model]
    flavour: Flavour = "triton"
    token: str | None = None  # set: every request needs "Authorization: Bearer <token>"
    delay_s: float = 0.0
    requests: list[RecordedV2] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeV2:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def model(self, name: str) -> V2Model | None:
        return next((m for m in self.models if m.name == name), None)

    @property
    def binary(self) -> bool:
        return self.flavour != "mlserver"

    def server_meta(self) -> dict[str, Any]:
        if self.flavour == "triton":
            return {
                "name": "triton",
                "version": "2.51.0",
                "extensions": [
                    "classification",
                    "sequence",
                    "model_repository",
                    "schedule_policy",
                    "model_configuration",
                    "system_shared_memory",
                    "binary_tensor_data",
                    "parameters",
                    "statistics",
                    "trace",
                    "logging",
                ],
            }
        if self.flavour == "mlserver":
            return {"name": "mlserver", "version": "1.6.1", "extensions": []}
        if self.flavour == "kserve":
            return {
                "name": "kserve",
                "version": "0.21.0",
                "extensions": ["model_repository_extension"],
            }
        return {"name": "OpenVINO Model Server", "version": "2024.4"}


class V2Error(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _handler(server: FakeV2) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply(413, {"error": "request too large"})
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items()}
            doc = None
            try:
                if server.token and headers.get("Authorization") != f"Bearer {server.token}":
                    raise V2Error(401, "Unauthorized")
                if method == "POST":
                    doc, tail = _split(body, headers, server.binary)
                    server.requests.append(RecordedV2(method, self.path, headers, len(body), doc))
                    time.sleep(server.delay_s)
                    answer, extra = _infer(server, self.path, doc, tail)
                    self._reply(200, answer, extra)
                    return
                server.requests.append(RecordedV2(method, self.path, headers, 0, None))
                self._reply(200, _get(server, self.path))
            except V2Error as exc:
                if method == "GET" or not server.requests or server.requests[-1].path != self.path:
                    server.requests.append(RecordedV2(method, self.path, headers, len(body), doc))
                self._reply(exc.status, {"error": str(exc)})

        def _reply(self, status: int, doc: Any, tail: bytes = b"") -> None:
            head = json.dumps(doc).encode() if doc is not None else b""
            self.send_response(status)
            if tail:
                self.send_header(HEADER_LENGTH, str(len(head)))
                self.send_header("Content-Type", "application/octet-stream")
            else:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(head) + len(tail)))
            self.end_headers()
            self.wfile.write(head + tail)

    return Handler


def _split(body: bytes, headers: dict[str, str], binary: bool) -> tuple[Any, bytes]:
    declared = headers.get(HEADER_LENGTH)
    if declared is not None and not binary:
        raise V2Error(400, "binary tensor data is not supported")
    cut = int(declared) if declared is not None else len(body)
    try:
        return json.loads(body[:cut]), body[cut:]
    except ValueError as exc:
        raise V2Error(400, f"failed to parse the request JSON buffer: {exc}") from exc


def _get(server: FakeV2, path: str) -> Any:
    parts = path.strip("/").split("/")
    if parts == ["v2"]:
        return server.server_meta()
    if parts in (["v2", "health", "ready"], ["v2", "health", "live"]):
        return None
    model, rest = _model_of(server, parts)
    if rest == ["ready"]:
        if not model.ready:
            raise V2Error(400, f"Request for unknown model: '{model.name}' is not ready")
        return None
    if rest:
        raise V2Error(404, "Not Found")
    return {
        "name": model.name,
        "versions": list(model.versions),
        "platform": "onnxruntime_onnx",
        "inputs": [model.input_meta()],
        "outputs": [
            {"name": model.output_name, "datatype": "FP32", "shape": [-1, model.num_classes]},
            *(
                [
                    {
                        "name": model.names_output,
                        "datatype": "BYTES",
                        "shape": [-1, model.num_classes],
                    }
                ]
                if model.names_output
                else []
            ),
        ],
    }


def _model_of(server: FakeV2, parts: list[str]) -> tuple[V2Model, list[str]]:
    if len(parts) < 3 or parts[:2] != ["v2", "models"]:
        raise V2Error(404, "Not Found")
    model = server.model(parts[2])
    rest = parts[3:]
    if model is not None and rest[:1] == ["versions"]:
        if len(rest) < 2 or rest[1] not in model.versions:
            raise V2Error(400, f"Request for unknown model: '{parts[2]}' version is not found")
        rest = rest[2:]
    if model is None:
        raise V2Error(400, f"Request for unknown model: '{parts[2]}' is not found")
    return model, rest


def _infer(server: FakeV2, path: str, doc: Any, tail: bytes) -> tuple[Any, bytes]:
    model, rest = _model_of(server, path.strip("/").split("/"))
    if rest != ["infer"]:
        raise V2Error(404, "Not Found")
    if not model.ready:
        raise V2Error(503, f"model '{model.name}' is not ready")
    inputs = doc.get("inputs") if isinstance(doc, dict) else None
    if not isinstance(inputs, list) or len(inputs) != 1:
        raise V2Error(400, f"expected 1 inputs but got {len(inputs or [])} inputs")
    entry = inputs[0]
    meta = model.input_meta()
    if entry.get("name") != meta["name"] or entry.get("datatype") != meta["datatype"]:
        raise V2Error(400, f"unexpected inference input '{entry.get('name')}' for model")
    pictures = _pictures(server, model, entry, tail)
    scores = np.full((len(pictures), model.num_classes), 0.1 / model.num_classes)
    for row, picture in enumerate(pictures):
        try:
            best = model.classify(picture)
        except Exception as exc:
            raise V2Error(400, f"could not read the picture: {type(exc).__name__}") from exc
        scores[row, best] += 0.9
    return _outputs(model, scores, doc.get("outputs"), server)


def _pictures(server: FakeV2, model: V2Model, entry: dict[str, Any], tail: bytes) -> list[Any]:
    shape = entry.get("shape")
    params = entry.get("parameters") or {}
    size = params.get("binary_data_size")
    if model.kind == "bytes":
        if size is not None:
            data, values = tail[:size], []
            while data:
                (n,) = struct.unpack_from("<I", data)
                values.append(data[4 : 4 + n])
                data = data[4 + n :]
            if server.flavour == "kserve":  # InferRequest.from_bytes keeps BYTES as UTF-8 text
                for value in values:
                    try:
                        value.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise V2Error(500, f'Failed to encode "{value[:40]!r}"') from exc
            return values
        if server.flavour in ("mlserver", "kserve") and params.get("content_type") == "base64":
            return [base64.b64decode(v) for v in entry.get("data", [])]
        return [str(v).encode() for v in entry.get("data", [])]  # text, not a picture
    dtype = np.dtype(NUMPY[entry["datatype"]])
    if size is not None:
        flat = np.frombuffer(tail[:size], dtype=dtype)
    else:
        flat = np.asarray(entry.get("data"), dtype=dtype).reshape(-1)
    if not isinstance(shape, list) or flat.size != math.prod(shape):
        raise V2Error(400, f"unexpected shape for input '{entry['name']}': {shape}")
    expected = model.input_meta()["shape"]
    if len(shape) != 4 or shape[1:] != expected[1:]:
        raise V2Error(
            400, f"unexpected shape for input '{entry['name']}', model expects {expected}"
        )
    return list(flat.reshape(shape))


def _outputs(model: V2Model, scores: np.ndarray, asked: Any, server: FakeV2) -> tuple[Any, bytes]:
    wanted: list[Any] = (
        asked if isinstance(asked, list) and asked else [{"name": model.output_name}]
    )
    outputs: list[dict[str, Any]] = []
    tail = b""
    data: Any
    entry: dict[str, Any]
    for out in wanted:
        if out.get("name") not in (model.output_name, model.names_output):
            raise V2Error(400, f"unexpected inference output '{out.get('name')}' for model")
        params: dict[str, Any] = out.get("parameters") or {}
        k = params.get("classification")
        if out["name"] == model.names_output:
            data = [f"class_{i}" for _ in range(len(scores)) for i in range(model.num_classes)]
            entry = {"datatype": "BYTES", "shape": list(scores.shape)}
            raw = b"".join(struct.pack("<I", len(s)) + s.encode() for s in data)
        elif k is not None and server.flavour == "triton":
            top = np.argsort(-scores, axis=1)[:, :k]
            data = [f"{scores[r, i]:f}:{i}" for r in range(len(scores)) for i in top[r]]
            entry = {"datatype": "BYTES", "shape": [len(scores), k]}
            raw = b"".join(struct.pack("<I", len(s)) + s.encode() for s in data)
        else:
            data = scores.astype("<f4").reshape(-1).tolist()
            entry = {"datatype": "FP32", "shape": list(scores.shape)}
            raw = scores.astype("<f4").tobytes()
        entry["name"] = out["name"]
        if params.get("binary_data") and server.binary:
            entry["parameters"] = {"binary_data_size": len(raw)}
            tail += raw
        else:
            entry["data"] = data
        outputs.append(entry)
    return {"model_name": model.name, "model_version": model.versions[-1], "outputs": outputs}, tail
