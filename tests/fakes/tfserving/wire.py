"""The HTTP layer, with libevent's behaviour: URI checks, error pages, bodies, keep-alive."""

from __future__ import annotations

import contextlib
import email.utils
import re
import socket
import socketserver
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast

from tests.fakes.tfserving.errors import _TFError
from tests.fakes.tfserving.rjson import _parse_json
from tests.fakes.tfserving.spec import RecordedRequest

if TYPE_CHECKING:
    from tests.fakes.tfserving.server import FakeTFServing

# --------------------------------------------------------------------------------------------
# HTTP-level helpers (libevent behaviour)
# --------------------------------------------------------------------------------------------

_LIBEVENT_PHRASES: dict[int, str] = {
    100: "Continue",
    101: "Switching Protocols",
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Time-out",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Large",
    415: "Unsupported Media Type",
    416: "Requested range not satisfiable",
    417: "Expectation Failed",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
    505: "HTTP Version not supported",
}


def _phrase(status: int) -> str:
    return _LIBEVENT_PHRASES.get(status, "Unknown Status Code")


def _libevent_error_page(status: int) -> bytes:
    reason = _phrase(status)
    return (
        f"<HTML><HEAD>\n<TITLE>{status} {reason}</TITLE>\n</HEAD><BODY>\n"
        f"<H1>{reason}</H1>\n</BODY></HTML>\n"
    ).encode("latin-1")


_HTML = "text/html; charset=ISO-8859-1"
_JSON = "application/json"
_UNRESERVED_EXTRA = "-._~!$&'()*+,;=:@/"


def _uri_chars_ok(part: str, allow_question: bool) -> bool:
    i = 0
    n = len(part)
    while i < n:
        ch = part[i]
        if ch.isascii() and (ch.isalnum() or ch in _UNRESERVED_EXTRA):
            i += 1
        elif ch == "%" and _is_hex(part[i + 1 : i + 3]):
            i += 3
        elif ch == "?" and allow_question:
            i += 1
        else:
            return False
    return True


def _is_hex(text: str) -> bool:
    return len(text) == 2 and all(c in "0123456789abcdefABCDEF" for c in text)


def _uri_path_and_query(target: str) -> str | None:
    """evhttp_uri_parse + TFS ParsedEvRequest::decode (path?query#fragment), None = 400."""
    m = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", target)
    if m:
        target = target[m.end() :]
    path, hash_sign, fragment = target.partition("#")
    path, question, query = path.partition("?")
    if not _uri_chars_ok(path, False):
        return None
    if question and not _uri_chars_ok(query, True):
        return None
    if hash_sign and not _uri_chars_ok(fragment, True):
        return None
    out = path or "/"
    if question:
        out += "?" + query
    if hash_sign:
        out += "#" + fragment
    return out


_MAX_GZIP_BYTES = 100 << 20


def _gunzip(body: bytes) -> bytes:
    try:
        d = zlib.decompressobj(wbits=31)
        out = d.decompress(body, _MAX_GZIP_BYTES + 1)
        if len(out) > _MAX_GZIP_BYTES or not d.eof:
            return b""
        return out
    except zlib.error:
        return b""


# --------------------------------------------------------------------------------------------
# The HTTP server
# --------------------------------------------------------------------------------------------


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = _JSON
    drop: bool = False


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeTFServing) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() does a (possibly slow) reverse DNS lookup; skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # connection resets etc. are normal in tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY
    server_version = "tfserving-fake"
    sys_version = ""

    @property
    def fake(self) -> FakeTFServing:
        return cast(_HTTPServer, self.server).fake

    def setup(self) -> None:
        super().setup()
        self.fake._register_connection(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.fake._register_connection(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_TRACE(self) -> None:
        self._not_allowed()

    def do_CONNECT(self) -> None:
        self._not_allowed()

    def _not_allowed(self) -> None:
        # libevent answers methods outside evhttp_set_allowed_methods() itself.
        self._read_body()
        self._send(_Response(501, _libevent_error_page(501), _HTML))

    def _read_body(self) -> bytes | None:
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks: list[bytes] = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    return None
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while True:  # trailers
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    return b"".join(chunks)
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    return None
                chunks.append(chunk)
                self.rfile.readline(3)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            return None
        if length < 0:
            return None
        data = self.rfile.read(length)
        return data if len(data) == length else None

    def _send(self, resp: _Response) -> None:
        if resp.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        lines = [
            f"HTTP/1.1 {resp.status} {_phrase(resp.status)}",
            f"Content-Type: {resp.content_type}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            f"Content-Length: {len(resp.body)}",
        ]
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        payload = head if self.command == "HEAD" else head + resp.body
        try:
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def _dispatch(self) -> None:
        fake = self.fake
        parts = self.requestline.split()
        target = parts[1] if len(parts) >= 2 else self.path
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        if body is None:
            self.close_connection = True
            self._send(_Response(400, _libevent_error_page(400), _HTML))
            return
        wire_length = len(body)
        if "gzip" in self.headers.get("Content-Encoding", ""):
            body = _gunzip(body)
        parsed: Any = None
        parse_error: _TFError | None = None
        try:
            parsed = _parse_json(body)
        except _TFError as exc:
            parse_error = exc
        record = RecordedRequest(
            method=self.command,
            path=target,
            headers=headers,
            body_length=wire_length,
            json=parsed if len(body) <= fake.record_json_limit else None,
        )
        fake._record(record)
        resp = fake._respond(self.command, target, body, parsed, parse_error)
        record.status = 0 if resp.drop else resp.status
        self._send(resp)
