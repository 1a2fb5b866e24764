"""The HTTP layer: request/response records and the threaded server that dispatches them."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.wechat_sim.models import Json

if TYPE_CHECKING:
    from tests.fakes.wechat_sim.server import WeChatSimulator


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    cookies: dict[str, str]

    def json(self) -> Json:
        try:
            value = json.loads(self.body.decode("utf-8", "replace") or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass
class _Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=UTF-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False
    chunks: Iterable[bytes] | None = None  # a streamed body, written chunk by chunk
    length: int | None = None  # Content-Length of a streamed body; None: none, close after


def _js(text: str) -> _Response:
    return _Response(body=text.encode(), content_type="text/javascript; charset=UTF-8")


def _json(obj: Json) -> _Response:
    return _Response(body=json.dumps(obj, ensure_ascii=False).encode("utf-8"))


def _base(ret: int = 0, msg: str = "") -> Json:
    return {"Ret": ret, "ErrMsg": msg}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], sim: WeChatSimulator) -> None:
        self.sim = sim
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that hung up (a bot killed or stopped mid-request): no traceback
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "WeChatSim/1.0"
    timeout = 120  # idle keep-alive connections end after this (close() ends them at once)
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.sim._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sim._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        cookies: dict[str, str] = {}
        raw_cookie = self.headers.get("Cookie")
        if raw_cookie:
            jar: SimpleCookie = SimpleCookie()
            with contextlib.suppress(Exception):
                jar.load(raw_cookie)
            cookies = {k: m.value for k, m in jar.items()}
        req = _Request(
            method=method,
            path=parts.path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            cookies=cookies,
        )
        resp = self.server.sim._dispatch(req)
        if resp.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if resp.chunks is not None:
            self._stream(resp, resp.chunks)
            return
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
            for name, value in resp.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(resp.body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _stream(self, resp: _Response, chunks: Iterable[bytes]) -> None:
        """Write a body chunk by chunk (trickling or huge bodies); stop when the client leaves."""
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            if resp.length is None:
                self.close_connection = True
                self.send_header("Connection", "close")
            else:
                self.send_header("Content-Length", str(resp.length))
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:
            pass
        finally:
            self.close_connection = True
