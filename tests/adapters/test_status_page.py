"""The status page in-process, against a fake telemetry: bounded connections and idle time,
the Host check, IPv6, the exposure warning and clients that hang up mid-response."""

from __future__ import annotations

import logging
import os
import resource
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from bot.adapters import bounded_http, status_page
from bot.adapters.status_page import StatusServer

IDLE_CLIENTS = 1_000  # README, limits: "1,000 idle connections to the status page"
HELD_AT_MOST = 32  # README, limits: "at most 32 sockets"
BIG_METRICS = b"# metrics\n" * 800_000  # 8 MB: far more than a socket buffer holds


@dataclass
class Snapshot:
    phase: str = "logged_in"
    health: dict[str, bool] = field(
        default_factory=lambda: {"wechat_login": True, "receive_loop": True, "tf_serving": True}
    )


class FakeTelemetry:
    def __init__(self, metrics: bytes = b"# none\n") -> None:
        self._metrics = metrics

    def snapshot(self) -> Snapshot:
        return Snapshot()

    def qr_png(self) -> tuple[int, bytes]:
        return 0, b""

    def metrics(self) -> bytes:
        return self._metrics


def serve(host: str = "127.0.0.1", telemetry: Any = None, **kwargs: Any) -> StatusServer:
    server = StatusServer((host, 0), telemetry or FakeTelemetry(), **kwargs)
    server.start()
    return server


@pytest.fixture
def page() -> Iterator[StatusServer]:
    server = serve()
    yield server
    server.close()


def port_of(server: StatusServer) -> int:
    return int(server.url.rstrip("/").rsplit(":", 1)[1])


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def get(server: StatusServer, path: str, host: str | None = None) -> requests.Response:
    headers = {"Host": host} if host is not None else {}
    return requests.get(server.url.rstrip("/") + path, headers=headers, timeout=5)


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def room_for_the_idle_clients() -> Iterator[None]:
    """This process may open IDLE_CLIENTS more sockets: the soft descriptor limit is raised
    as far as the hard limit allows (and put back), or the test is skipped."""
    needed = open_fds() + IDLE_CLIENTS + 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} file descriptors; this machine allows {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def closed_by_peer(s: socket.socket) -> bool:
    """The server has closed this connection (a look that never waits)."""
    timeout = s.gettimeout()
    s.settimeout(0.0)  # with a timeout set, recv waits for data whatever its flags say
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.settimeout(timeout)


def test_1000_idle_connections_hold_a_bounded_number_of_descriptors_and_threads(
    room_for_the_idle_clients: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Idle connections are closed only to make room for new ones, never for their age here.
    monkeypatch.setattr(bounded_http, "IDLE_TIMEOUT_S", 60.0)
    page = serve()
    fds_before, threads_before = open_fds(), threading.active_count()
    clients: list[socket.socket] = []
    try:
        for i in range(IDLE_CLIENTS):
            clients.append(socket.create_connection(("127.0.0.1", port_of(page)), timeout=5))
            if i % 32 == 31:
                time.sleep(0.02)  # a burst beyond the listen backlog waits 1 s for a SYN resend
        # The server has taken every connection once it has closed all but HELD_AT_MOST of
        # them (it closes the oldest idle one to make room for each new one).
        must_close = IDLE_CLIENTS - HELD_AT_MOST
        deadline = time.monotonic() + 10
        while (closed := sum(map(closed_by_peer, clients))) < must_close:
            assert time.monotonic() < deadline, (
                f"the page still holds {IDLE_CLIENTS - closed} of {IDLE_CLIENTS} idle "
                f"connections; it may hold {HELD_AT_MOST}"
            )
            time.sleep(0.05)
        server_fds = open_fds() - fds_before - len(clients)
        started = time.monotonic()
        health = get(page, "/healthz")
        latency_s = time.monotonic() - started
        threads = threading.active_count() - threads_before
    finally:
        for c in clients:
            c.close()
        page.close()
    print(f"{IDLE_CLIENTS} idle: {server_fds} server fds, {threads} threads, {latency_s:.3f} s")
    assert health.status_code == 200
    assert latency_s < 1.0
    assert server_fds <= HELD_AT_MOST + 4, server_fds
    assert threads <= 1, threads


def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bounded_http, "IDLE_TIMEOUT_S", 0.5)
    server = serve()
    try:
        with socket.create_connection(("127.0.0.1", port_of(server)), timeout=5) as s:
            started = time.monotonic()
            assert s.recv(100) == b""
            assert time.monotonic() - started < 3.0
    finally:
        server.close()


def test_a_request_trickled_byte_by_byte_is_cut_at_the_request_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bounded_http, "IDLE_TIMEOUT_S", 0.5)
    monkeypatch.setattr(bounded_http, "REQUEST_TIMEOUT_S", 1.0)
    server = serve()
    try:
        with socket.create_connection(("127.0.0.1", port_of(server)), timeout=5) as s:
            started = time.monotonic()
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
            while time.monotonic() - started < 6.0 and not closed_by_peer(s):
                try:
                    s.sendall(b"X")  # a header line that never ends, a byte at a time
                except OSError:
                    break
                time.sleep(0.1)
            assert time.monotonic() - started < 4.0
    finally:
        server.close()


def test_each_response_closes_the_connection_so_no_keep_alive_idles(page: StatusServer) -> None:
    assert get(page, "/healthz").headers["Connection"] == "close"


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "[::1]:{port}", ""]
)
def test_a_foreign_host_header_is_refused_with_421(page: StatusServer, host: str) -> None:
    answer = get(page, "/api/status", host=host.format(port=port_of(page)))
    assert answer.status_code == 421
    assert "allowed_hosts" in answer.text


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "127.0.0.1", "localhost:{port}", "LocalHost", "bot.lan:{port}"]
)
def test_the_listen_address_localhost_and_configured_names_are_served(host: str) -> None:
    server = serve(allowed_hosts=("bot.lan",))
    try:
        answer = get(server, "/healthz", host=host.format(port=port_of(server)))
        assert answer.status_code == 200
    finally:
        server.close()


@pytest.mark.skipif(not ipv6_loopback(), reason="needs an IPv6 loopback (::1)")
def test_the_page_is_served_on_ipv6_loopback_with_a_bracketed_host() -> None:
    server = serve("::1")
    try:
        assert server.url.startswith("http://[::1]:")
        port = port_of(server)
        assert get(server, "/healthz").json()["ok"] is True
        assert get(server, "/healthz", host=f"[::1]:{port}").status_code == 200
        assert get(server, "/healthz", host=f"localhost:{port}").status_code == 200
        assert get(server, "/healthz", host=f"127.0.0.1:{port}").status_code == 421
    finally:
        server.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "bot.lan"])
def test_a_non_loopback_bind_warns_that_it_exposes_the_qr_code_and_how_to_tunnel(
    host: str,
) -> None:
    warning = status_page.exposure_warning((host, 8080))
    assert warning is not None
    assert "login QR code" in warning
    assert "ssh -N -L 8080:127.0.0.1:8080" in warning


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_a_loopback_bind_gives_no_warning(host: str) -> None:
    assert status_page.exposure_warning((host, 8080)) is None


def test_a_client_hanging_up_mid_response_is_logged_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # What the server logs, at every level: under pytest nothing it logs reaches stderr.
    caplog.set_level(logging.DEBUG, logger="bot.adapters")
    server = serve(telemetry=FakeTelemetry(BIG_METRICS))

    def connections_ended() -> list[logging.LogRecord]:
        """What the connection server said as each hung-up connection ended."""
        return [r for r in caplog.records if r.name == bounded_http.__name__]

    try:
        port = port_of(server)
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            assert s.recv(100).startswith(b"HTTP/1.1 200")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # a reset, as a browser tab closed mid-download sends
        deadline = time.monotonic() + 5
        while len(connections_ended()) < 3:
            ended = len(connections_ended())
            assert time.monotonic() < deadline, f"{ended} of 3 hung-up connections ended"
            time.sleep(0.02)
        assert get(server, "/healthz").status_code == 200
    finally:
        server.close()
    loud = [r for r in caplog.records if r.exc_info is not None or r.levelno >= logging.WARNING]
    assert loud == [], [r.getMessage() for r in loud]
    assert ["client went away" in r.getMessage() for r in connections_ended()] == [True] * 3
