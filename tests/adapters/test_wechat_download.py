"""Picture downloads, malformed sync batches and login wording of the WeChat adapter, fast:
the real ``requests`` against a small HTTP server on 127.0.0.1, the real itchat-uos for
``produce_msg``."""

from __future__ import annotations

import io
import queue
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.adapters.wechat import login
from bot.adapters.wechat.batches import guard_batches, problem
from bot.adapters.wechat.chat import _without_mention
from bot.adapters.wechat.download import Downloader
from bot.errors import DownloadFailed, ImageError

JPEG_HEAD = b"\xff\xd8\xff\xe0"


class Server(ThreadingHTTPServer):
    """Answers every GET as ``mode`` says; counts the body bytes it managed to send."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = "ok"
        self.body = JPEG_HEAD + b"picture"
        self.interval_s = 0.2
        self.size = 0
        self.declare = True
        self.sent = 0
        self.paths: list[str] = []
        self.requested = threading.Event()
        """Set once a request has reached the handler."""
        self.closing = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/webwxgetmsgimg"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        srv.paths.append(self.path)
        srv.requested.set()
        if srv.mode == "404":
            self._head(404, len(b"<html>gone</html>"))
            self.wfile.write(b"<html>gone</html>")
            return
        if srv.mode == "ok":
            self._head(200, len(srv.body))
            self.wfile.write(srv.body)
            return
        self.close_connection = True
        try:
            if srv.mode == "trickle":
                self._head(200, 100_000)
                self._send(JPEG_HEAD)
                while not srv.closing.wait(srv.interval_s):
                    self._send(b"\0" * 1024)
            elif srv.mode == "huge":
                self._head(200, srv.size if srv.declare else None)
                self._send(JPEG_HEAD)
                block = b"\0" * (1 << 20)
                while srv.sent < srv.size and not srv.closing.is_set():
                    self._send(block)
        except OSError:
            pass  # the client hung up, as it should

    def _head(self, status: int, length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "image/jpeg" if status == 200 else "text/html")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.server.sent += len(data)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield srv
    srv.closing.set()
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def downloader(timeout_s: float = 5.0, max_bytes: int = 1_000_000) -> Downloader:
    return Downloader(requests.Session(), timeout_s=timeout_s, max_bytes=max_bytes)


def get(d: Downloader, srv: Server) -> bytes:
    return d.get(srv.url, params={"msgid": "42", "skey": "k"}, headers={}, what="picture 7")


def test_a_picture_is_downloaded_whole_with_the_request_itchat_builds(server: Server) -> None:
    assert get(downloader(), server) == server.body
    assert server.paths == ["/webwxgetmsgimg?msgid=42&skey=k"]


def test_a_trickling_server_cannot_hold_a_download_past_its_deadline(server: Server) -> None:
    server.mode = "trickle"
    began = time.monotonic()
    with pytest.raises(DownloadFailed, match="download_timeout_s = 1 s"):
        get(downloader(timeout_s=1.0), server)
    assert time.monotonic() - began < 1.5


def test_a_silent_server_cannot_hold_a_download_past_its_deadline(server: Server) -> None:
    server.mode, server.interval_s = "trickle", 30.0  # headers and 4 bytes, then nothing
    began = time.monotonic()
    with pytest.raises(DownloadFailed, match="within"):
        get(downloader(timeout_s=1.0), server)
    assert time.monotonic() - began < 1.5


def test_an_announced_length_over_max_bytes_is_refused_before_reading(server: Server) -> None:
    server.mode, server.size = "huge", 400_000_000
    with pytest.raises(ImageError, match=r"max_bytes = 1,000,000 bytes \(WeChat announced"):
        get(downloader(), server)
    assert server.sent < 50_000_000


def test_a_body_without_length_is_dropped_once_it_passes_max_bytes(server: Server) -> None:
    server.mode, server.size, server.declare = "huge", 400_000_000, False
    with pytest.raises(ImageError, match="max_bytes = 1,000,000 bytes .the body grew past it"):
        get(downloader(), server)
    assert server.sent < 50_000_000  # what loopback buffers hold, not 400 MB


def reading_the_body(thread: threading.Thread) -> bool:
    """The thread is inside ``Downloader._read``, waiting in a socket read."""
    frame = sys._current_frames().get(thread.ident or -1)
    where: list[tuple[str, str]] = []
    while frame is not None:
        where.append((Path(frame.f_code.co_filename).name, frame.f_code.co_name))
        frame = frame.f_back
    return (
        bool(where) and where[0] == ("socket.py", "readinto") and ("download.py", "_read") in where
    )


def test_stop_interrupts_a_download_in_progress_at_once(server: Server) -> None:
    server.mode, server.interval_s = "trickle", 30.0  # headers and 4 bytes, then nothing
    d = downloader(timeout_s=60.0)
    errors: queue.Queue[BaseException] = queue.Queue()

    def work() -> None:
        try:
            get(d, server)
        except BaseException as exc:
            errors.put(exc)

    worker = threading.Thread(target=work)
    worker.start()
    # The download is in progress: the server has the request,
    assert server.requested.wait(5), "the download never reached the server"
    # and waits for the rest of the body: seen there twice in a row, 50 ms apart (the first
    # 4 bytes are read at once, the next read blocks)
    deadline, looks = time.monotonic() + 5, 0
    while looks < 2:
        assert time.monotonic() < deadline, "the worker never waited for the rest of the body"
        looks = looks + 1 if reading_the_body(worker) else 0
        time.sleep(0.05)
    assert server.sent == len(JPEG_HEAD)  # the download is in progress, not over
    began = time.monotonic()
    d.stop()
    worker.join(5)
    assert not worker.is_alive(), "stop() did not interrupt the download"
    assert time.monotonic() - began < 1.0
    assert "interrupted: the bot is stopping" in str(errors.get_nowait())
    with pytest.raises(DownloadFailed, match="stopping"):
        get(d, server)


def test_an_error_page_is_a_failed_download_not_picture_bytes(server: Server) -> None:
    server.mode = "404"
    with pytest.raises(DownloadFailed, match="HTTP 404 .a web page"):
        get(downloader(), server)


def test_an_unreachable_server_is_a_failed_download(server: Server) -> None:
    d = downloader()
    with pytest.raises(DownloadFailed, match="did not deliver picture 7 .ConnectionError"):
        d.get("http://127.0.0.1:9/x", params={}, headers={}, what="picture 7")


# -- one malformed entry in a sync batch -------------------------------------------------
ME = "@0f5c1a2b3c4d5e6f708192a3b4c5d6e7"
FRIEND = "@7e6d5c4b3a2918f7e6d5c4b3a2918f7e"


def entry(msg_id: str, **overrides: object) -> dict[str, object]:
    e: dict[str, object] = {
        "MsgId": msg_id,
        "NewMsgId": int(msg_id),
        "FromUserName": FRIEND,
        "ToUserName": ME,
        "MsgType": 3,
        "Content": "&lt;msg&gt;&lt;img /&gt;&lt;/msg&gt;",
        "CreateTime": 1717400000,
        "Url": "",
        "AppMsgType": 0,
    }
    e.update(overrides)
    return {k: v for k, v in e.items() if v is not None}


def test_a_malformed_entry_costs_only_itself(caplog: pytest.LogCaptureFixture) -> None:
    import itchat

    core = itchat.new_instance()
    core.storageClass.userName = ME
    core.loginInfo = {"url": "http://127.0.0.1:9", "skey": ""}
    batch = [
        entry("101"),
        entry("102", FromUserName=None),
        entry("103", FromUserName=12345),
        "not an entry",
        entry("104", NewMsgId=None),  # itchat's produce_msg raises KeyError on this one
        entry("105"),
    ]
    core.get_msg = lambda: (batch, [])
    guard_batches(core)
    assert core.get_msg() == ([], [])
    queued = [core.msgList.get_nowait()["MsgId"] for _ in range(core.msgList.qsize())]
    assert queued == ["101", "105"]
    log = caplog.text
    assert "message '102': no FromUserName" in log
    assert "message '103': FromUserName is a int, not a string" in log
    assert "message '104' that itchat cannot read" in log


def test_a_failed_sync_passes_through_unchanged() -> None:
    import itchat

    core = itchat.new_instance()
    core.get_msg = lambda: (None, None)
    guard_batches(core)
    assert core.get_msg() == (None, None)


@pytest.mark.parametrize(
    "bad,why",
    [
        ({"ToUserName": ME, "MsgType": 3}, "no FromUserName"),
        ({"FromUserName": None, "ToUserName": ME, "MsgType": 3}, "FromUserName is a NoneType"),
        ({"FromUserName": FRIEND, "ToUserName": [ME], "MsgType": 3}, "ToUserName is a list"),
        ({"FromUserName": FRIEND, "ToUserName": ME, "MsgType": "3"}, "no numeric MsgType"),
        ({"FromUserName": FRIEND, "ToUserName": ME, "MsgType": 3, "Content": 5}, "Content"),
    ],
)
def test_problem_names_what_is_wrong(bad: dict[str, object], why: str) -> None:
    assert why in str(problem(bad))


# -- how a session ended, and how a login proceeds ------------------------------------
def test_1102_soon_after_login_is_worded_as_a_refusal() -> None:
    text = login.ended_message("1102", 4.2)
    assert "off web WeChat (1102) 4 s after login: it refuses many accounts" in text


def test_1102_after_hours_of_running_says_how_long_it_ran() -> None:
    text = login.ended_message("1102", 3 * 3600 + 125)
    assert "right after login" not in text
    assert "(1102) after 3 h 2 min of running" in text


@pytest.mark.parametrize(
    "seconds,shown", [(0.4, "0 s"), (90, "90 s"), (600, "10 min"), (90061, "1 d 1 h")]
)
def test_running_for_is_plain(seconds: float, shown: str) -> None:
    assert login.running_for(seconds) == shown


PHASES: list[str] = []


def narrator(tmp_path: Path, out: io.StringIO) -> login.LoginNarrator:
    PHASES.clear()
    return login.LoginNarrator(
        session=tmp_path / "itchat.pkl",
        qr_path=tmp_path / "qr.png",
        deadline=time.monotonic() + 60,
        out=out,
        on_qr=lambda png: None,
        on_phase=PHASES.append,
    )


class FakeCore:
    """The two itchat methods the narrator wraps, answering as itchat-uos does."""

    def __init__(self, load_ret: int) -> None:
        self.uuid = "push=="
        self.load_ret = load_ret

    def load_login_status(self, fileDir: str, **kwargs: Any) -> dict[str, Any]:
        return {"BaseResponse": {"Ret": self.load_ret}}

    def check_login(self, uuid: str | None = None) -> str:
        return "408"


def test_a_push_login_says_the_phone_was_asked_and_how_to_get_a_qr(tmp_path: Path) -> None:
    out = io.StringIO()
    n, core = narrator(tmp_path, out), FakeCore(-1003)
    n.install(core)
    core.load_login_status(str(tmp_path / "itchat.pkl"))
    core.check_login()
    core.check_login()
    text = out.getvalue()
    assert "no longer accepts the saved session" in text
    assert text.count("WeChat asked your phone to confirm this login") == 1
    assert f"delete {tmp_path / 'itchat.pkl'}" in text
    assert PHASES == ["waiting_for_phone"]  # the status page says so, not "starting"


def test_a_qr_after_a_refused_session_says_why(tmp_path: Path) -> None:
    out = io.StringIO()
    n, core = narrator(tmp_path, out), FakeCore(-1003)
    n.install(core)
    core.load_login_status(str(tmp_path / "itchat.pkl"))
    n.qr_callback(uuid="qr==", status="0", qrcode=b"\x89PNG")
    core.check_login("qr==")
    text = out.getvalue()
    assert "A QR code is needed because the saved session could not be used" in text
    assert "asked your phone" not in text


def test_a_first_login_shows_just_the_qr(tmp_path: Path) -> None:
    out = io.StringIO()
    n, core = narrator(tmp_path, out), FakeCore(-1002)
    n.install(core)
    core.load_login_status(str(tmp_path / "itchat.pkl"))
    n.qr_callback(uuid="qr==", status="0", qrcode=b"\x89PNG")
    core.uuid = "qr=="
    core.check_login()
    assert "saved session" not in out.getvalue() and "Scan this QR code" in out.getvalue()


@pytest.mark.parametrize(
    "text,sent",
    [
        ("@小明\u2005让我猜猜", "让我猜猜"),
        ("@朋友\u2005这张图片", "这张图片"),
        ("没有提及", "没有提及"),
        ("@a\nb\u2005x", "@a\nb\u2005x"),
    ],
)
def test_private_replies_lose_the_group_mention(text: str, sent: str) -> None:
    assert _without_mention(text) == sent
