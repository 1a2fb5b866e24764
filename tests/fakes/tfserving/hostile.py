"""A scripted HTTP server on 127.0.0.1 for hostile answers: each route answers what the test
says, as fast or as slowly as it says, with bodies of any size streamed in chunks.

Not a TF Serving stand-in (that is :class:`FakeTFServing`): it knows no protocol, so a test can
send what no real server would — a metadata dim whose size is not a number, an answer of
600 MB, a body trickled one byte at a time, a 503 with ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast


@dataclass(frozen=True)
class Scripted:
    """One answer. ``body`` is bytes, or chunks written one by one (``pause_s`` before each);
    ``length`` announces a Content-Length (default: that of bytes; none for chunks, which are
    then sent with chunked transfer encoding)."""

    status: int = 200
    body: bytes | Callable[[], Iterable[bytes]] = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    pause_s: float = 0.0
    length: int | None = None


def json_answer(doc: Any, status: int = 200, **headers: str) -> Scripted:
    body = json.dumps(doc).encode("utf-8")
    return Scripted(status, body, {"Content-Type": "application/json", **headers})


def trickled(data: bytes, pause_s: float) -> Scripted:
    """``data`` one byte at a time, ``pause_s`` apart, with its length announced."""
    return Scripted(
        200, lambda: (data[i : i + 1] for i in range(len(data))), {}, pause_s, len(data)
    )


def tf_tensor(dtype: str, dims: Sequence[Any] | None) -> dict[str, Any]:
    """A TF Serving metadata entry; ``dims`` None = unknown rank. Sizes are written as given."""
    if dims is None:
        return {"dtype": dtype, "tensor_shape": {"dim": [], "unknown_rank": True}}
    shape = {"dim": [{"size": str(d), "name": ""} for d in dims], "unknown_rank": False}
    return {"dtype": dtype, "tensor_shape": shape, "name": "x:0"}


def tf_metadata(inputs: Any, outputs: Any, name: str = "resnet") -> dict[str, Any]:
    signature = {"inputs": inputs, "outputs": outputs, "method_name": "tensorflow/serving/predict"}
    return {
        "model_spec": {"name": name, "signature_name": "", "version": "1"},
        "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}},
    }


def tf_status() -> dict[str, Any]:
    ok = {"error_code": "OK", "error_message": ""}
    return {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": ok}]}


def resnet_routes(num_classes: int = 1001, name: str = "resnet") -> dict[str, list[Scripted]]:
    """Status and metadata of the official ResNet export (JPEG input, class + probabilities)."""
    inputs = {"image_bytes": tf_tensor("DT_STRING", [-1])}
    outputs = {
        "classes": tf_tensor("DT_INT64", [-1]),
        "probabilities": tf_tensor("DT_FLOAT", [-1, num_classes]),
    }
    return {
        f"GET /v1/models/{name}": [json_answer(tf_status())],
        f"GET /v1/models/{name}/metadata": [json_answer(tf_metadata(inputs, outputs, name))],
    }


def stfs_detail(inputs: Any, outputs: Any, versions: Any = ("1",)) -> dict[str, Any]:
    """An STFS 0.8.2 model detail (``GET /v1/models/NAME``); entries are written as given."""
    signature = {"inputs": inputs, "outputs": outputs}
    versions = list(versions) if isinstance(versions, tuple) else versions
    return {"model_name": "default", "model_version_list": versions, "model_signature": signature}


def stfs_routes(num_classes: int = 2) -> dict[str, list[Scripted]]:
    """The detail of seed 000's model on STFS (base64 text in, probabilities out)."""
    inputs = [{"name": "image", "dtype": 7, "shape": []}]
    outputs = [{"name": "probabilities", "dtype": 1, "shape": [-1, num_classes]}]
    return {"GET /v1/models/default": [json_answer(stfs_detail(inputs, outputs))]}


class HostileServer:
    """Answers ``"METHOD /path"`` with its list of ``Scripted`` answers in turn (the last one
    again and again); 404 for any other route. A context manager."""

    def __init__(self, routes: Mapping[str, Sequence[Scripted]]) -> None:
        self.routes = {key: list(answers) for key, answers in routes.items()}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        cast(Any, self._httpd).hostile = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def answer(self, method: str, path: str) -> Scripted:
        key = f"{method} {path}"
        with self._lock:
            self.requests.append(key)
            answers = self.routes.get(key)
            if not answers:
                return json_answer({"error": f"no route {key}"}, 404)
            return answers.pop(0) if len(answers) > 1 else answers[0]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the client hung up between requests
            super().handle()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._serve("POST")

    def _serve(self, method: str) -> None:
        server = cast(Any, self.server).hostile
        answer: Scripted = server.answer(method, self.path)
        chunked = not isinstance(answer.body, bytes) and answer.length is None
        self.send_response_only(answer.status)
        if "Date" not in answer.headers:  # a test may set its own (Retry-After as a date)
            self.send_header("Date", self.date_time_string())
        for key, value in answer.headers.items():
            self.send_header(key, value)
        if isinstance(answer.body, bytes):
            self.send_header("Content-Length", str(len(answer.body)))
        elif answer.length is not None:
            self.send_header("Content-Length", str(answer.length))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunks = [answer.body] if isinstance(answer.body, bytes) else answer.body()
        with contextlib.suppress(OSError):  # the client hung up: what the test wanted
            for chunk in chunks:
                if answer.pause_s:
                    time.sleep(answer.pause_s)
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    self.wfile.write(chunk)
                self.wfile.flush()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        self.close_connection = chunked
