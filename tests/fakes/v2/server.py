"""The v2 stand-in's HTTP server: lifecycle, routing, records, fault injection, size limits."""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
import time
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, cast
from urllib.parse import unquote, urlsplit

from requests.structures import CaseInsensitiveDict

from tests.fakes.v2 import flavours as fl
from tests.fakes.v2.flavours import DEFAULT_VERSION, FASTAPI, Flavour, V2Error, error
from tests.fakes.v2.infer import infer
from tests.fakes.v2.model import V2Model
from tests.fakes.v2.request import HEADER_LENGTH, Parsed, is_json, read_body, validate_fastapi

Scope = Literal["infer", "any"]
MAX_BODY = 64 << 20  # Triton's default --http-max-input-size (common.h HTTP_DEFAULT_MAX_INPUT_SIZE)


@dataclass
class RecordedV2:
    """One request as the stand-in got it (``status`` is set once answered; 0: dropped)."""

    method: str
    path: str
    headers: CaseInsensitiveDict[str]
    body_bytes: int  # on the wire, before any Content-Encoding is undone
    doc: Any = None  # the JSON part of the body, if it parsed (and is not too large to keep)
    header_length: int | None = None  # Inference-Header-Content-Length, if given and valid
    binary_bytes: int = 0  # the binary part after the JSON
    status: int = 0


@dataclass
class _Fault:
    scope: Scope
    remaining: int
    status: int  # 0: drop the connection
    body: bytes
    content_type: str


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = ""  # none sent when empty
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, doc: Any) -> _Reply:
    """A JSON answer (compact, as rapidjson and orjson write it); None: an empty body."""
    if doc is None:
        return _Reply(status)
    return _Reply(status, json.dumps(doc, separators=(",", ":")).encode(), "application/json")


def _from_error(exc: V2Error) -> _Reply:
    if exc.text is not None:
        return _Reply(exc.status, exc.text.encode(), "text/plain; charset=utf-8")
    return _json(exc.status, exc.doc)


class FakeV2:
    """An Open Inference Protocol server on 127.0.0.1 (ephemeral port), serving ``models``
    the way ``flavour`` does. Starts on construction; a context manager; knobs are plain
    attributes, read on every request."""

    def __init__(
        self,
        models: V2Model | Sequence[V2Model] = (),
        flavour: Flavour = "triton",
        *,
        token: str | None = None,
        restricted: tuple[str, str] | None = None,
        delay_s: float = 0.0,
        version: str | None = None,
        max_body: int = MAX_BODY,
        max_json: int = MAX_BODY,
        record_json_limit: int = 4 << 20,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if flavour not in fl.FLAVOURS:
            raise ValueError(f"flavour must be one of {fl.FLAVOURS}, not {flavour!r}")
        self.models: list[V2Model] = [models] if isinstance(models, V2Model) else list(models)
        self.flavour: Flavour = flavour
        self.token = token  # every request needs "Authorization: Bearer <token>" (a gateway: 401)
        self.restricted = restricted  # Triton's --http-restricted-api=...:header=value (403)
        self.delay_s = delay_s  # infer answers wait this long
        self.version = version or DEFAULT_VERSION[flavour]
        self.max_body = max_body
        self.max_json = max_json
        self.record_json_limit = record_json_limit
        self.live = True
        self.server_ready: bool | None = None  # None: as the flavour derives it from the models
        self._lock = threading.Lock()
        self._requests: list[RecordedV2] = []
        self._faults: deque[_Fault] = deque()
        self._conns: set[socket.socket] = set()
        self._server = _Server((host, port), self)
        self.port = int(self._server.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeV2:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- records and faults --------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedV2]:
        """Every request so far, oldest first (a snapshot)."""
        with self._lock:
            return list(self._requests)

    @property
    def infer_requests(self) -> list[RecordedV2]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/infer")]

    def reset_records(self) -> None:
        with self._lock:
            self._requests.clear()

    def model(self, name: str) -> V2Model | None:
        return next((m for m in self.models if m.name == name), None)

    def fail_next(
        self,
        status: int,
        body: Any = None,
        *,
        count: int = 1,
        scope: Scope = "infer",
        content_type: str | None = None,
    ) -> None:
        """Answer the next ``count`` infer requests (``scope="any"``: any request) with
        ``status`` and ``body``: a str is sent as ``{"error": body}``, a dict or list as JSON,
        bytes as they are (``text/plain`` unless ``content_type``). Faults queue up in order."""
        if isinstance(body, bytes):
            data, kind = body, content_type or "text/plain"
        else:
            doc = {"error": body if body is not None else "[stand-in] injected fault"}
            data = json.dumps(doc if isinstance(body, str | None) else body).encode()
            kind = content_type or "application/json"
        with self._lock:
            self._faults.append(_Fault(scope, count, status, data, kind))

    def drop_next(self, count: int = 1, *, scope: Scope = "infer") -> None:
        """Close the connection without an answer for the next ``count`` requests."""
        with self._lock:
            self._faults.append(_Fault(scope, count, 0, b"", ""))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, is_infer: bool) -> _Fault | None:
        with self._lock:
            if not self._faults or (self._faults[0].scope == "infer" and not is_infer):
                return None
            fault = self._faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.popleft()
            return fault

    # -- answers -------------------------------------------------------------------------------
    def _answer(self, method: str, path: str, body: bytes, rec: RecordedV2) -> _Reply:
        """Route one request (the token and size checks are done)."""
        flavour = self.flavour
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:1] != ["v2"]:
            raise fl.no_route(flavour)
        if parts[1:2] != ["models"]:
            if method != "GET" and parts in (
                ["v2"],
                ["v2", "health", "live"],
                ["v2", "health", "ready"],
            ):
                raise fl.wrong_method(flavour)
            if parts == ["v2"]:
                return _json(200, fl.server_metadata(flavour, self.version))
            if parts == ["v2", "health", "live"]:
                return _json(200, fl.live(flavour, self.live or flavour == "mlserver"))
            if parts == ["v2", "health", "ready"]:
                ready = self.server_ready
                if ready is None:
                    ready = fl.default_server_ready(flavour, self.models)
                return _json(200, fl.server_ready(flavour, ready))
            raise fl.no_route(flavour)
        name, rest = (parts[2] if len(parts) > 2 else ""), parts[3:]
        version = None
        if rest[:1] == ["versions"] and len(rest) >= 2:
            version, rest = rest[1], rest[2:]
            if not fl.version_ok(flavour, version):
                raise fl.bad_version(flavour)
        if not name or rest not in ([], ["ready"], ["infer"]):
            raise fl.no_route(flavour)
        kind = rest[0] if rest else "metadata"
        if (kind == "infer") != (method == "POST"):
            raise fl.wrong_method(flavour)
        if kind != "infer":
            model = fl.find(flavour, self.models, name, version)
            problem = fl.unavailable(flavour, model, version, kind)
            if problem is not None:
                raise problem
            if kind == "ready":
                return _json(200, fl.model_ready(flavour, model))
            return _json(200, fl.model_metadata(flavour, model, version))
        return self._infer(name, version, body, rec)

    def _infer(self, name: str, version: str | None, body: bytes, rec: RecordedV2) -> _Reply:
        flavour = self.flavour

        def lookup() -> V2Model:
            model = fl.find(flavour, self.models, name, version)
            problem = fl.unavailable(flavour, model, version, "infer")
            if problem is not None:
                raise problem
            return model

        json_body = flavour == "mlserver" or is_json(rec.headers.get("Content-Type"))
        model = lookup() if flavour == "triton" or (flavour == "kserve" and not json_body) else None
        parsed: Parsed = read_body(flavour, body, rec.headers, self.max_json)
        rec.header_length, rec.binary_bytes = parsed.header_length, len(parsed.tail)
        if len(body) <= self.record_json_limit:
            rec.doc = parsed.doc
        if flavour in FASTAPI and json_body:
            validate_fastapi(flavour, parsed.doc)
        model = model or lookup()
        if self.delay_s:
            time.sleep(self.delay_s)
        doc, tail = infer(flavour, model, version, parsed)
        if not tail:
            return _json(200, doc)
        head = json.dumps(doc, separators=(",", ":")).encode()
        name = HEADER_LENGTH if flavour == "triton" else HEADER_LENGTH.lower()
        kind = {"triton": "application/octet-stream", "ovms": "application/json"}.get(flavour, "")
        return _Reply(200, head + tail, kind, {name: str(len(head))})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], fake: FakeV2) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self) -> None:  # no reverse DNS look-up of 127.0.0.1
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # connection resets are normal in tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    @property
    def fake(self) -> FakeV2:
        return cast(_Server, self.server).fake

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._conns.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.fake._lock:
                self.fake._conns.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _body(self, limit: int) -> bytes | None:
        """The body (chunked or by Content-Length); None when over ``limit`` or unreadable."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return None
                total += size
                if total > limit:
                    return None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > limit:
            return None
        return self.rfile.read(length)

    def _serve(self) -> None:
        fake, method = self.fake, self.command
        path = urlsplit(self.path).path
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(dict(self.headers.items()))
        rec = RecordedV2(method, self.path, headers, 0)
        with fake._lock:
            fake._requests.append(rec)
        body = self._body(fake.max_body)
        if body is None:  # not read: the connection cannot be reused
            self.close_connection = True
            limit = f"over the stand-in's limit of {fake.max_body:,} bytes"
            return self._send(rec, _json(413, {"error": f"[stand-in] request body {limit}"}))
        rec.body_bytes = len(body)
        fault = fake._take_fault(method == "POST" and path.endswith("/infer"))
        if fault is not None and fault.status == 0:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None:
            return self._send(rec, _Reply(fault.status, fault.body, fault.content_type))
        try:
            reply = self._checked(fake, method, path, body, headers, rec)
        except V2Error as exc:
            reply = _from_error(exc)
        self._send(rec, reply)

    def _checked(
        self, fake: FakeV2, method: str, path: str, body: bytes, headers: Any, rec: RecordedV2
    ) -> _Reply:
        if fake.token is not None and headers.get("Authorization") != f"Bearer {fake.token}":
            reply = _json(401, {"error": "Unauthorized"})
            reply.headers["WWW-Authenticate"] = "Bearer"
            return reply
        if fake.restricted is not None and headers.get(fake.restricted[0]) != fake.restricted[1]:
            raise error(403, f"This API is restricted, expecting header '{fake.restricted[0]}'")
        encoding = headers.get("Content-Encoding", "").lower()
        unpack = {"triton": ("gzip", "deflate"), "mlserver": ("gzip",)}.get(fake.flavour, ())
        if encoding in unpack and body:
            body = _inflate(body, encoding, fake.max_body)
        return fake._answer(method, path, body, rec)

    def _send(self, rec: RecordedV2, reply: _Reply) -> None:
        rec.status = reply.status
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(reply.body)


def _inflate(body: bytes, encoding: str, limit: int) -> bytes:
    try:
        d = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
        out = d.decompress(body, limit + 1)
    except zlib.error:
        raise error(400, f"[stand-in] the {encoding} body could not be decompressed") from None
    if len(out) > limit:
        raise error(413, f"[stand-in] the {encoding} body inflates to over {limit:,} bytes")
    return out
