"""The status page under a local user's load, against the real bot process: idle connections
cannot starve the chat of file descriptors; IPv6 and the exposure warning in ``run``/``check``.
Every connection goes to 127.0.0.1 or ::1, bounded in number and time."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.cli import main
from tests.botproc import (
    FAMILY,
    BotProcess,
    class_photo,
    wait_for_rows,
    wait_until,
    write_bot_config,
)
from tests.conftest import free_port
from tests.fakes.tfserving import FakeTFServing
from tests.fakes.wechat_sim import WeChatSimulator

FD_LIMIT = 256  # as a small systemd LimitNOFILE would be: the idle sockets alone exceed it
IDLE_CLIENTS = 1_000  # README, limits: "1,000 idle connections to the status page"
HELD_AT_MOST = 32  # README, limits: "at most 32 sockets"
IDLE_TIMEOUT_S = 5.0  # README, limits: "idle ones closed after 5 s"


@pytest.fixture
def sim() -> Iterator[WeChatSimulator]:
    with WeChatSimulator(auto_scan_after_s=0.05, synccheck_hold_s=0.5) as s:
        s.add_group(FAMILY, ["小明"])
        yield s


def start_bot(tmp_path: Path, sim: WeChatSimulator, tfs: FakeTFServing, listen: str) -> BotProcess:
    cfg = write_bot_config(
        tmp_path,
        wechat_url=sim.url,
        serving_url=tfs.url,
        groups=f'["{FAMILY}"]',
        extra=f'[status]\nlisten = "{listen}"\n',
    )
    return BotProcess(cfg)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture
def room_for_the_idle_clients() -> Iterator[None]:
    """This process may open IDLE_CLIENTS more sockets: the soft descriptor limit is raised
    as far as the hard limit allows (and put back), or the test is skipped."""
    needed = open_fds(os.getpid()) + IDLE_CLIENTS + 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} file descriptors; this machine allows {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def closed_by_peer(s: socket.socket) -> bool:
    """The bot has closed this connection (a look that never waits)."""
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


def test_1000_idle_connections_to_the_page_leave_the_bot_answering_pictures(
    sim: WeChatSimulator, tfs: FakeTFServing, tmp_path: Path, room_for_the_idle_clients: None
) -> None:
    port = free_port()
    proc = start_bot(tmp_path, sim, tfs, f"127.0.0.1:{port}")
    clients: list[socket.socket] = []
    try:
        proc.wait_logged_in()
        pid = proc.proc.pid
        subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={FD_LIMIT}"], check=True)
        before = open_fds(pid)
        unanswered = 0
        began = time.monotonic()
        for i in range(IDLE_CLIENTS):
            try:
                clients.append(socket.create_connection(("127.0.0.1", port), timeout=3))
            except OSError:  # the bot no longer accepts: it is out of descriptors
                unanswered += 1
                if unanswered == 3:
                    break
            if i % 32 == 31:
                time.sleep(0.02)  # a burst beyond the listen backlog waits 1 s for a SYN resend
        # The bot has taken every connection once it has closed all but HELD_AT_MOST of them
        # (it closes the oldest idle one to make room for each new one), and before the
        # idle timeout could have closed any.
        must_close = len(clients) - HELD_AT_MOST
        while (closed := sum(map(closed_by_peer, clients))) < must_close:
            assert time.monotonic() - began < IDLE_TIMEOUT_S - 0.5, (
                f"the bot still holds {len(clients) - closed} of {len(clients)} idle "
                f"connections; it may hold {HELD_AT_MOST}"
            )
            time.sleep(0.05)
        during = open_fds(pid)
        print(f"{len(clients)} idle connections: bot fds {before} -> {during}")
        sim.post_picture(FAMILY, "小明", class_photo(3))
        rows = wait_for_rows(
            tmp_path / "audit.sqlite3", lambda r: len(r) == 1 and r[0]["outcome"] != "pending"
        )
        assert rows[0]["outcome"] == "replied", (rows, proc.stderr[-3000:])
        started = time.monotonic()
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        latency_s = time.monotonic() - started
        print(f"/healthz {health.status_code} in {latency_s:.3f} s")
        assert health.status_code == 200 and latency_s < 1.0
        assert unanswered == 0 and during - before <= 40
        assert proc.proc.poll() is None, proc.stderr
    finally:
        for c in clients:
            c.close()
        proc.kill()


@pytest.mark.skipif(not socket.has_ipv6, reason="needs IPv6")
def test_run_serves_the_page_on_ipv6_loopback(
    sim: WeChatSimulator, tfs: FakeTFServing, tmp_path: Path
) -> None:
    with socket.socket(socket.AF_INET6) as s:
        try:
            s.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback (::1)")
        port = s.getsockname()[1]
    proc = start_bot(tmp_path, sim, tfs, f"[::1]:{port}")
    try:
        proc.wait_for_output(f"Status page: http://[::1]:{port}/")
        wait_until(
            lambda: requests.get(f"http://[::1]:{port}/healthz", timeout=5).status_code == 200
        )
        assert "WARNING" not in proc.stdout
    finally:
        proc.kill()


def test_check_warns_that_a_non_loopback_bind_exposes_the_login_qr_code(
    sim: WeChatSimulator,
    tfs: FakeTFServing,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = write_bot_config(
        tmp_path,
        wechat_url=sim.url,
        serving_url=tfs.url,
        extra='[status]\nlisten = "0.0.0.0:8080"\n',  # check never binds it
    )
    assert main(["--config", str(cfg), "check"]) == 0
    out = capsys.readouterr().out
    assert "WARNING: [status] listen = 0.0.0.0:8080" in out
    assert "ssh -N -L 8080:127.0.0.1:8080 you@server" in out
