"""HTTP: routes, the bearer key, JSON and server-sent-event answers, hangs and drips.

HTTP/1.1 with keep-alive; a stream is ``text/event-stream`` in chunked transfer encoding, as
uvicorn (vLLM, SGLang, LMDeploy) sends it. Unknown paths get FastAPI's ``{"detail": ...}``.
"""

from __future__ import annotations

import secrets
import socketserver
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

from tests.fakes.openai_api import errors, replies
from tests.fakes.openai_api.errors import ApiError
from tests.fakes.openai_api.protocol import read_chat
from tests.fakes.openai_api.records import RecordedRequest, redacted

if TYPE_CHECKING:
    from tests.fakes.openai_api.standin import OpenAIStandIn

_MAX_BODY = 64 << 20


class Stopped(Exception):
    """The stand-in is stopping: drop the connection."""


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], standin: OpenAIStandIn) -> None:
        self.standin = standin
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # no reverse DNS lookup
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets and timeouts of the client are normal in tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # each event leaves at once
    server_version = "uvicorn"
    sys_version = ""

    @property
    def standin(self) -> OpenAIStandIn:
        return cast(HTTPServer, self.server).standin

    def setup(self) -> None:
        super().setup()
        self.standin._track(self.connection, opened=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.standin._track(self.connection, opened=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        path = unquote(urlsplit(self.path).path)
        rec = RecordedRequest(method, path, redacted(self.headers.items()), time.monotonic())
        try:
            self._route(rec, self._body())
        except (Stopped, OSError):
            self.close_connection = True

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, _MAX_BODY)) if length > 0 else b""

    def _route(self, rec: RecordedRequest, raw: bytes) -> None:
        standin, route = self.standin, rec.path.rstrip("/")
        rec.key_ok = standin._key_ok(self.headers.get("Authorization"))
        if route == "/v1/chat/completions" and rec.method == "POST":
            self._chat(rec, raw)
            return
        standin._record(rec)
        if rec.key_ok is False and route.startswith("/v1/"):
            self._error(rec, errors.invalid_key(missing="Authorization" not in self.headers))
        elif route == "/v1/models" and rec.method == "GET":
            page = replies.models_page(
                standin.models, owned_by=standin.owned_by, created=standin.created
            )
            self._send(rec, 200, replies.dump(page))
        elif route.startswith("/v1/models/") and rec.method == "GET":
            self._one_model(rec, route.removeprefix("/v1/models/"))
        elif route == "/health" and rec.method == "GET":
            self._send(rec, 200, b"", content_type=None)
        elif route in ("/v1/models", "/v1/chat/completions", "/health"):
            self._error(rec, errors.route_not_found(405))
        else:
            self._error(rec, errors.route_not_found(404))

    def _one_model(self, rec: RecordedRequest, name: str) -> None:
        standin = self.standin
        if name not in standin.models:
            self._error(rec, errors.model_not_found(name))
            return
        card = replies.model_card(name, owned_by=standin.owned_by, created=standin.created)
        self._send(rec, 200, replies.dump(card))

    def _chat(self, rec: RecordedRequest, raw: bytes) -> None:
        standin = self.standin
        body, problem = read_chat(raw, standin.models, text_only=standin.text_only)
        rec.take(body)
        standin._record(rec)
        if rec.key_ok is False:
            problem = errors.invalid_key(missing="Authorization" not in self.headers)
        else:
            problem = standin._take_fault() or problem
        if problem is not None:
            self._error(rec, problem)
            return
        while standin.hang:
            standin._pause(0.05)
        answer = replies.plan(
            body, standin.answer, chunk_chars=standin.chunk_chars, created=int(time.time())
        )
        if body.stream:
            self._stream(rec, answer, include_usage=body.include_usage)
        else:
            standin._pause(standin.first_token_delay_s)
            standin._pause(standin.chunk_delay_s * max(0, len(answer.deltas) - 1))
            rec.chunks.extend(answer.deltas)
            self._send(rec, 200, replies.dump(replies.completion(answer)))

    def _stream(self, rec: RecordedRequest, answer: replies.Answer, *, include_usage: bool) -> None:
        standin = self.standin
        rec.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_{secrets.token_hex(16)}")
        self.end_headers()
        standin._pause(standin.first_token_delay_s)
        for event, has_text in replies.events(answer, include_usage=include_usage):
            if has_text and rec.chunks:
                standin._pause(standin.chunk_delay_s)
            self._write(event, chunked=True, done=rec if event == replies.DONE else None)
            if has_text:
                rec.chunk_times.append(time.monotonic())
                rec.chunks.append(answer.deltas[len(rec.chunks)])
        self.wfile.write(b"0\r\n\r\n")

    def _error(self, rec: RecordedRequest, error: ApiError) -> None:
        rec.error = error.message
        self._send(rec, error.status, error.encode(), headers=error.headers)

    def _send(
        self,
        rec: RecordedRequest,
        status: int,
        data: bytes,
        *,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        rec.status = status
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_{secrets.token_hex(16)}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self._write(data, chunked=False, done=rec)

    def _write(self, data: bytes, *, chunked: bool, done: RecordedRequest | None = None) -> None:
        """Write ``data`` at once, or with ``drip_s`` set one byte per interval; ``done`` is
        stamped finished just before the last byte goes (the client may return at once)."""
        drip = self.standin.drip_s
        pieces = [data[i : i + 1] for i in range(len(data))] if drip and data else [data]
        for i, piece in enumerate(pieces):
            if drip:
                self.standin._pause(drip)
            if done is not None and i == len(pieces) - 1:
                done.finished_at = time.monotonic()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
