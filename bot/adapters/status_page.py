"""Local status page: the login QR code, then the bot's state; ``/healthz`` and ``/metrics``.

Served by the stdlib ``http.server`` on the configured address (127.0.0.1 by default; reach it
through an SSH tunnel). The page loads nothing from other sites (a strict CSP enforces it), so
the login QR never leaves the machine. It answers only to its own address, "localhost" and
``[status] allowed_hosts`` (no DNS rebinding).
Connections are bounded in number and time (``bot.adapters.bounded_http``), so the page can
never take the bot down.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST

from bot.adapters.bounded_http import BoundedConnections
from bot.adapters.status_assets import HEADERS, PAGE, SCRIPT
from bot.errors import LocalError

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost",)


class Telemetry(Protocol):
    """What the page shows: the bot's telemetry (``bot.adapters.telemetry``)."""

    def snapshot(self) -> Any: ...

    def qr_png(self) -> tuple[int, bytes]: ...

    def metrics(self) -> bytes: ...


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    ip = _ip(host)
    return host.lower() in LOOPBACK_NAMES if ip is None else ip.is_loopback


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def exposure_warning(listen: tuple[str, int]) -> str | None:
    """What to tell the user when the page is served beyond this machine, else None."""
    host, port = listen
    if _is_loopback(host):
        return None
    return (
        f"[status] listen = {_bracketed(host)}:{port} serves the status page, with the WeChat "
        "login QR code, to the network: whoever reaches it can scan the code and take over the "
        f'account. Prefer listen = "127.0.0.1:{port}" and an SSH tunnel from your computer: '
        f"ssh -N -L {port}:127.0.0.1:{port} you@server, then open http://127.0.0.1:{port}/"
    )


def _split_host(value: str) -> tuple[str, int | None] | None:
    """A Host header as (lower-case name, port or None); None when malformed."""
    value = value.strip().lower().rstrip(".")
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep or (rest and not (rest[:1] == ":" and rest[1:].isdigit())):
            return None
        return name, int(rest[1:]) if rest else None
    name, sep, port = value.partition(":")
    if sep and not port.isdigit():
        return None
    return (name.rstrip("."), int(port) if sep else None) if name else None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("status page: " + format, *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in HEADERS.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")  # one request a connection: none idles between
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, doc: object) -> None:
        self._send(status, json.dumps(doc, ensure_ascii=False).encode(), "application/json")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or not self.server.host_allowed(hosts[0]):
            text = (
                "421 Misdirected Request: this page answers only to its listen address and "
                "localhost; add other names to [status] allowed_hosts\n"
            )
            self._send(421, text.encode(), "text/plain; charset=utf-8")
            return
        self._route(self.path.split("?", 1)[0])

    def _route(self, path: str) -> None:
        telemetry = self.server.telemetry
        if path == "/":
            self._send(200, PAGE.encode(), "text/html; charset=utf-8")
        elif path == "/app.js":
            self._send(200, SCRIPT.encode(), "text/javascript; charset=utf-8")
        elif path == "/api/status":
            self._json(200, asdict(telemetry.snapshot()))
        elif path == "/qr.png":
            _, png = telemetry.qr_png()
            if png:
                self._send(200, png, "image/png")
            else:
                self._json(404, {"error": "no QR code: the bot is not waiting for a scan"})
        elif path == "/healthz":
            health = telemetry.snapshot().health
            down = [part for part, ok in health.items() if not ok]
            self._json(200 if not down else 503, {"ok": not down, **health, "down": down})
        elif path == "/metrics":
            self._send(200, telemetry.metrics(), CONTENT_TYPE_LATEST)
        else:
            self._json(404, {"error": f"no page {path}"})


class _Server(HTTPServer):
    """Binds the address and checks Host headers; ``BoundedConnections`` serves it."""

    request_queue_size = 64  # the kernel holds a burst of new connections, not our descriptors

    def __init__(
        self, address: tuple[str, int], telemetry: Telemetry, allowed_hosts: tuple[str, ...]
    ) -> None:
        ip = _ip(address[0])
        self.address_family = socket.AF_INET6 if ip and ip.version == 6 else socket.AF_INET
        self.telemetry = telemetry
        super().__init__(address, _Handler)
        self.port = int(self.server_address[1])
        host = address[0].lower()
        wildcard = ip is not None and ip.is_unspecified
        extra = [_split_host(name) for name in allowed_hosts]
        names = {host} | {h[0] for h in extra if h}
        if wildcard or _is_loopback(host):  # it answers on loopback: "localhost" reaches it
            names |= set(LOOPBACK_NAMES)
        self.names = frozenset(names)
        # A wildcard bind is reached by any of the machine's addresses; an IP address in Host
        # cannot be rebound by DNS, so any is safe there.
        self.any_ip = wildcard

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the host's full name, which the page never uses.
        super(HTTPServer, self).server_bind()
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def host_allowed(self, value: str) -> bool:
        host = _split_host(value)
        if host is None or host[1] not in (None, self.port):
            return False
        return host[0] in self.names or (self.any_ip and _ip(host[0]) is not None)


class StatusServer:
    """The page on its own thread, within ``bot.adapters.bounded_http``'s bounds."""

    def __init__(
        self,
        address: tuple[str, int],
        telemetry: Telemetry,
        *,
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        try:
            self._server = _Server(address, telemetry, allowed_hosts)
        except OSError as exc:
            host, port = address
            raise LocalError(
                f"cannot serve the status page on {_bracketed(host)}:{port} "
                f"({exc.strerror or exc}); choose another [status] listen address"
            ) from exc
        self._connections = BoundedConnections(self._server, name="status-page")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{_bracketed(str(host))}:{port}/"

    def start(self) -> None:
        self._connections.start()

    def close(self) -> None:
        self._connections.close()
        self._server.server_close()
