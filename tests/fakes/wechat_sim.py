"""A local Web WeChat server that the real, unmodified ``itchat`` (itchat-uos 1.4.1) logs into.

Use::

    import itchat
    from tests.fakes.wechat_sim import WeChatSimulator

    with WeChatSimulator() as sim:
        room = sim.add_group("我们一家", ["小明", "小红"])
        itchat.config.BASE_URL = sim.url          # before auto_login; it is a module global
        core = itchat.new_instance()
        core.auto_login(hotReload=True, statusStorageDir=str(tmp / "itchat.pkl"),
                        enableCmdQR=False, qrCallback=on_qr,
                        loginCallback=on_login, exitCallback=on_exit)
        core.run(blockThread=False)
        sim.post_picture("我们一家", "小明", jpeg_bytes)
        sim.wait_for_sent(lambda s: s.to_nickname == "我们一家")

Pointing itchat at the simulator
    itchat-uos reads ``itchat.config.BASE_URL`` (default ``https://login.weixin.qq.com``) at call
    time, in four places only: the connectivity test of ``auto_login`` (a plain ``requests.get``),
    ``webwxpushloginurl`` (hot-reload fallback), ``/jslogin`` and the ``/cgi-bin/mmwebwx-bin/login``
    poll. Everything after the scan uses ``core.loginInfo['url']``, which is the ``redirect_uri``
    the poll returns cut at its last ``/``: this simulator answers
    ``http://127.0.0.1:PORT/cgi-bin/mmwebwx-bin/webwxnewloginpage?ticket=..&uuid=..&lang=zh_CN&scan=..``
    so every later request (``fileUrl`` and ``syncUrl`` too, because the host contains neither
    ``qq.com`` nor ``wechat.com``) comes here. ``BASE_URL`` is shared by every ``new_instance()``;
    set it before ``auto_login`` (every call: the connectivity test runs even for a hot reload)
    and keep it set. A hot reload whose session is still valid then talks to the URL saved in the
    pickle (``loginInfo['url']``); only its push-login fallback uses ``BASE_URL`` again.

What itchat-uos 1.4.1 does (checked against this server by tests/test_wechat_sim.py)
    * Login: ``GET BASE_URL`` (5 tries, no timeout) -> hot reload (see below) -> ``/jslogin``
      (``redirect_uri=...webwxnewloginpage?mod=desktop``) -> QR PNG handed to
      ``qrCallback(uuid=, status='0', qrcode=png)`` -> poll ``/login`` (``qrCallback`` again after
      every poll with status '408'/'201'/'200' and the same PNG) -> ``GET redirect_uri`` with
      the UOS headers ``client-version: 2.0.0``, ``extspam``, ``referer``, no redirects ->
      ``webwxinit`` -> ``webwxstatusnotify`` -> ``webwxgetcontact`` -> ``loginCallback()`` -> the
      receive thread starts -> with hotReload the pickle is written. itchat-uos does NOT parse the
      XML of the login page: it reads ``wxsid``/``wxuin`` from the cookies, sets ``skey`` to ""
      and ``pass_ticket`` to its random DeviceID. ``auto_login`` returns None in every case:
      success means ``core.alive`` is True afterwards (or ``loginCallback`` ran).
    * Nobody scans: the poll loop has no deadline. 408 repeats forever; an expired QR (400) makes
      itchat fetch a new one (``qrCallback`` status '0' again) and go on. The only way out is to
      raise from ``qrCallback`` (called after every poll): the exception leaves ``auto_login``
      and the instance keeps ``isLogging = True``.
    * 1203 (``sim.login_ret = 1203``) and a missing wxsid (``sim.omit_wxsid = True``) look the
      same to itchat-uos: ``cookies["wxsid"]`` raises ``KeyError('wxsid')``, which propagates out of
      ``auto_login()``/``login()`` (no error log, no callback, no pickle). The XML message is never
      read (the 201 poll logs "Please press confirm on your phone.", nothing after). The
      instance is left with ``isLogging = True``: a second ``login()`` on it only logs
      "itchat has already logged in." and returns None, and ``auto_login(hotReload=True)`` would
      then pickle an empty session. Detect: ``except KeyError as e: if e.args == ('wxsid',)`` ->
      "WeChat refused the web login"; use a NEW instance to retry. The last ``qrCallback`` status
      seen is '201' ('200' is never reported).
    * Unreachable ``BASE_URL``: ``auto_login`` calls ``sys.exit()`` after 5 failed ``requests.get``
      (no timeout: a black-holed address costs the OS connect timeout, ~2 min on Linux, per
      try): ``SystemExit`` with code None, after an
      ERROR log with the traceback and an INFO "You can't get access to internet or wechat domain,
      so exit.". Catch ``SystemExit`` around ``auto_login`` (or probe the URL yourself first).
    * Server logout (``sim.logout(1100|1101|1102)``): the next ``synccheck`` returns that retcode;
      the receive thread sets ``alive = False``, calls ``core.logout()`` (no ``webwxlogout``
      request, since alive is already False; cookies and contact lists are cleared) and then
      ``exitCallback()`` with no arguments. Queued but unhandled messages are lost. The retcode is
      only visible as a DEBUG record of logger ``itchat``: ``Unexpected sync check result:
      window.synccheck={retcode:"1102",selector:"0"}``; all retcodes behave the same.
    * ``core.logout()`` by the caller while alive: ``GET webwxlogout`` (this server then ends the
      session and wakes the held synccheck), then the receive thread ends and ALSO calls
      ``exitCallback()``.
    * The receive thread (``Thread-N (maintain_loop)``, daemon) exits after more than
      ``core.receivingRetryCount`` (5) consecutive errors (HTTP errors, bad JSON), sleeping 1 s
      after each; a ``requests`` ReadTimeout is ignored; a connection closed without an answer
      (``drop_connections``) counts as "new messages" (itchat maps ``BadStatusLine`` to selector 2)
      and is not an error.
    * ``core.run(blockThread=True)`` runs handlers in the calling thread until ``alive`` is False;
      ``blockThread=False`` starts ``Thread-N (reply_fn)`` (daemon). Handlers run one at a time;
      the loop polls the queue with a 1 s timeout, so it stops at most 1 s after ``alive`` drops.
      Ctrl-C in a blocking ``run`` re-dumps the pickle (the only re-dump itchat does).
    * Hot reload (``auto_login(hotReload=True)`` with an existing pickle of the same itchat
      VERSION): restore loginInfo and cookies, then ONE ``webwxsync`` with the SAVED SyncKey. If it
      answers Ret 0, the returned AddMsgList (messages newer than the saved SyncKey) is queued
      again, the receive thread starts, then ``loginCallback`` runs (after the thread, unlike a
      QR login), no QR, no ``webwxinit``, and ``qrCallback`` is never called. Because the pickle
      is only written right after the QR login, a restarted bot is replayed every message since
      that login (call ``core.dump_login_status()`` after handling to avoid it, or deduplicate
      by MsgId).
      If ``webwxsync`` fails (e.g. after a 1101/1102 logout), itchat rebuilds the cookies
      ``wxuin``, ``webwxuvid``, ``webwx_auth_ticket``, ``wxloadtime`` from the pickle and calls
      ``webwxpushloginurl?uin=``: this server answers a uuid (the phone is asked to confirm, which
      happens after ``auto_scan_after_s``); ``qrCallback`` is then called with ``qrcode=b''`` and
      statuses '201'/'200' (with a real phone: '408' until someone taps confirm, and no QR to
      show: delete the pickle to get a QR instead); it is a fresh login: new ``@``/``@@`` ids,
      ``webwxinit``, new pickle.
    * Sending: ``core.send(text, toUserName)`` returns an ``itchat.returnvalues.ReturnValue``
      (a dict) that is falsy when ``BaseResponse.Ret != 0`` (``sim.send_ret``); no exception.
    * Downloads: ``msg.download(None)`` / ``msg['Text']()`` return the body whatever the HTTP status
      (404 -> the HTML error page; ``image_body_override=b""`` -> ``b""``). No timeouts anywhere
      except synccheck/webwxsync (10 s connect, 60 s read).
    * Importing itchat writes "\\u2588\\r" to stdout; ``setDaemon`` gives DeprecationWarnings.

Protocol emulated here
    User ids are ``@`` + 32 lowercase hex digits, rooms ``@@`` + 64. They change at every fresh
    login (the first login keeps the ids returned before it); a hot reload keeps them. A fresh
    login ends every other live session (their synccheck answers 1101). The message stream is one
    counter: ``webwxinit`` answers the current value as SyncKey (Key 1); ``webwxsync`` returns every
    message with a sequence number above the client's SyncKey; ``synccheck`` holds up to
    ``synccheck_hold_s`` and answers selector 2 as soon as such a message exists. The login poll
    holds up to ``login_poll_hold_s`` (408) until ``auto_scan_after_s`` after the jslogin, then 201
    once, then 200. Also served: ``webwxbatchgetcontact`` (group members, including the bot),
    ``webwxgetmsgimg``, ``webwxsendmsg``, ``webwxuploadmedia`` + ``webwxsendmsgimg`` /
    ``webwxsendemoticon`` / ``webwxsendappmsg`` / ``webwxsendvideomsg`` (recorded with
    ``media``), ``webwxrevokemsg``, ``webwxgeticon``/``webwxgetheadimg``, ``webwxlogout``.

Run ``python -m tests.fakes.wechat_sim`` for a simulator with the group 我们一家
(小明, 小红) in which 小明 posts a generated JPEG every 5 s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

__all__ = ["SentMessage", "WeChatSimulator"]

API: Final = "/cgi-bin/mmwebwx-bin"
MSG_1203: Final = (
    "为了你的帐号安全，此微信号不能登录网页微信。你可以使用Windows微信或Mac微信在电脑端登录。"
    "Windows微信下载地址：https://pc.weixin.qq.com  Mac微信下载地址：https://mac.weixin.qq.com"
)
_SYNC_OTHER_KEYS: Final = ((2, 700_000_101), (3, 700_000_052), (1000, 1_700_000_000))
_TINY_GIF: Final = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)

Json = dict[str, Any]


@dataclass(frozen=True)
class SentMessage:
    """One send request the client made (``webwxsendmsg`` and the media variants)."""

    to_user: str  # ToUserName as sent: "@@room", "@user" or "filehelper"
    to_nickname: str  # the group/friend/member nickname, "filehelper", or "" if unknown
    content: str  # Msg.Content ("" for pictures)
    time: float  # time.monotonic() when the server received it
    msg_type: int = 1  # Msg.Type: 1 text, 3 picture, 47 emoticon, 6 file, 43 video
    from_user: str = ""
    local_id: str = ""
    msg_id: str = ""  # the MsgID this server answered
    ret: int = 0  # BaseResponse.Ret this server answered (non-zero = itchat saw a failure)
    media: bytes | None = None  # the uploaded bytes for picture/file sends

    @property
    def ok(self) -> bool:
        return self.ret == 0


@dataclass
class _Person:
    nickname: str
    friend: bool = False


@dataclass
class _Group:
    nickname: str
    members: list[str]
    display_names: dict[str, str]
    saved: bool = True


@dataclass
class _Session:
    sid: str
    skey: str
    generation: int
    data_ticket: str
    uvid: str
    auth_ticket: str
    loadtime: str
    dead_retcode: int | None = None
    inited: bool = False


@dataclass
class _PendingLogin:
    uuid: str
    created: float
    scan_at: float | None
    push: bool
    scanned: bool = False
    done: bool = False


@dataclass(frozen=True)
class _Msg:
    seq: int
    msg_id: str
    new_msg_id: int
    msg_type: int
    chat: str  # "group", "private" or "filehelper"
    peer: str  # group nickname, the other person's nickname, or "filehelper"
    sender: str  # nickname; the bot's own nickname for messages from the owner's phone
    text: str
    image: bytes | None
    create_time: int


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


def _js(text: str) -> _Response:
    return _Response(body=text.encode(), content_type="text/javascript; charset=UTF-8")


def _json(obj: Json) -> _Response:
    return _Response(body=json.dumps(obj, ensure_ascii=False).encode("utf-8"))


def _base(ret: int = 0, msg: str = "") -> Json:
    return {"Ret": ret, "ErrMsg": msg}


def _escape(text: str) -> str:
    """Web WeChat message text: HTML-escaped, newlines as <br/>."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br/>")
    )


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, GIF or JPEG, (0, 0) for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return int(w), int(h)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return 0, 0
            marker = data[i + 1]
            if marker == 0xFF:
                i += 1
                continue
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            (seglen,) = struct.unpack(">H", data[i + 2 : i + 4])
            i += 2 + int(seglen)
    return 0, 0


def _parse_synckey_param(value: str) -> int:
    for item in value.split("|"):
        key, _, val = item.partition("_")
        if key == "1" and val.lstrip("-").isdigit():
            return int(val)
    return 0


def _parse_synckey_json(obj: object) -> int:
    if isinstance(obj, dict):
        for item in obj.get("List") or []:
            if isinstance(item, dict) and item.get("Key") == 1:
                with contextlib.suppress(TypeError, ValueError):
                    return int(item.get("Val", 0))
    return 0


def _contact_template(user_name: str, nickname: str) -> Json:
    return {
        "Uin": 0,
        "UserName": user_name,
        "NickName": nickname,
        "HeadImgUrl": f"{API}/webwxgeticon?seq=0&username={user_name}&skey=",
        "ContactFlag": 3,
        "MemberCount": 0,
        "MemberList": [],
        "RemarkName": "",
        "HideInputBarFlag": 0,
        "Sex": 0,
        "Signature": "",
        "VerifyFlag": 0,
        "OwnerUin": 0,
        "PYInitial": "",
        "PYQuanPin": "",
        "RemarkPYInitial": "",
        "RemarkPYQuanPin": "",
        "StarFriend": 0,
        "AppAccountFlag": 0,
        "Statues": 0,
        "AttrStatus": 0,
        "Province": "",
        "City": "",
        "Alias": "",
        "SnsFlag": 0,
        "UniFriend": 0,
        "DisplayName": "",
        "ChatRoomId": 0,
        "KeyWord": "",
        "EncryChatRoomId": "",
        "IsOwner": 0,
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], sim: WeChatSimulator) -> None:
        self.sim = sim
        super().__init__(address, _Handler)


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


class WeChatSimulator:
    """A Web WeChat server for one account, on 127.0.0.1. Start on construction; use ``with``.

    Fault knobs are plain attributes, read when a request arrives: ``login_ret`` (e.g. 1203),
    ``omit_wxsid``, ``send_ret`` + ``send_fail_count`` (the next N sends answer that Ret, e.g.
    1205), ``image_status`` (e.g. 404: HTML error page with that status), ``image_body_override``
    (served with status 200 for every picture, e.g. ``b""`` or an HTML page),
    ``require_uos_headers`` (the login page answers 1203 without the itchat-uos ``extspam``
    header, like the real server for plain itchat), ``push_login_enabled``, ``echo_sent`` (each
    accepted text send comes back through webwxsync as a message from the bot itself),
    ``qr_expire_s`` (the poll answers 400 after that; itchat then fetches a new QR),
    ``login_poll_hold_s``, ``synccheck_hold_s``, ``auto_scan_after_s`` (None = only ``scan()``).
    """

    def __init__(
        self,
        *,
        me: str = "视觉机器人",
        port: int = 0,
        auto_scan_after_s: float | None = 0.2,
        synccheck_hold_s: float = 1.0,
    ) -> None:
        self.me = me
        self.auto_scan_after_s = auto_scan_after_s
        self.synccheck_hold_s = synccheck_hold_s
        self.login_poll_hold_s = 1.0
        self.qr_expire_s = 240.0
        # faults
        self.login_ret = 0
        self.omit_wxsid = False
        self.require_uos_headers = True
        self.push_login_enabled = True
        self.send_ret = 0
        self.send_fail_count = 0
        self.image_status = 200
        self.image_body_override: bytes | None = None
        self.echo_sent = False
        # observations
        self.sent: list[SentMessage] = []
        self.requests_log: list[tuple[str, str]] = []
        self.errors: list[str] = []  # tracebacks of requests this server failed to answer
        self.logged_in = threading.Event()
        self.logins = 0
        self.last_login_headers: dict[str, str] = {}

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._closing = False
        self._uin = str(1_000_000_000 + secrets.randbelow(1_000_000_000))
        self._people: dict[str, _Person] = {me: _Person(me)}
        self._groups: dict[str, _Group] = {}
        self._generation = 0
        self._fresh_logins = 0
        self._ids: dict[tuple[int, str, str], str] = {}
        self._names: dict[str, tuple[int, str, str]] = {}
        self._encry: dict[str, str] = {}
        self._sessions: dict[str, _Session] = {}
        self._pending: dict[str, _PendingLogin] = {}
        self._tickets: dict[str, str] = {}
        self._seq = 0
        self._messages: list[_Msg] = []
        self._images: dict[str, bytes] = {}
        self._media: dict[str, bytes] = {}
        self._drop_left = 0
        self._fail_left = 0
        self._fail_status = 500
        self._connections: set[socket.socket] = set()
        self._routes: dict[str, Callable[[_Request], _Response]] = {
            "/": self._root,
            "/jslogin": self._jslogin,
            f"{API}/login": self._login_poll,
            f"{API}/webwxnewloginpage": self._login_page,
            f"{API}/webwxpushloginurl": self._push_login,
            f"{API}/webwxinit": self._webwxinit,
            f"{API}/webwxstatusnotify": self._statusnotify,
            f"{API}/webwxgetcontact": self._getcontact,
            f"{API}/webwxbatchgetcontact": self._batchgetcontact,
            f"{API}/synccheck": self._synccheck,
            f"{API}/webwxsync": self._webwxsync,
            f"{API}/webwxgetmsgimg": self._getmsgimg,
            f"{API}/webwxsendmsg": self._sendmsg,
            f"{API}/webwxuploadmedia": self._uploadmedia,
            f"{API}/webwxsendmsgimg": self._sendmedia,
            f"{API}/webwxsendemoticon": self._sendmedia,
            f"{API}/webwxsendappmsg": self._sendmedia,
            f"{API}/webwxsendvideomsg": self._sendmedia,
            f"{API}/webwxrevokemsg": self._revoke,
            f"{API}/webwxgeticon": self._icon,
            f"{API}/webwxgetheadimg": self._icon,
            f"{API}/webwxlogout": self._webwxlogout,
        }
        self._server = _Server(("127.0.0.1", port), self)
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"wechat-sim-{self.port}",
            daemon=True,
        )
        self._thread.start()

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> WeChatSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving, wake held polls and close every open connection."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ------------------------------------------------------------------ ids
    def _id(self, gen: int, kind: str, nickname: str) -> str:
        key = (gen, kind, nickname)
        found = self._ids.get(key)
        if found is None:
            found = ("@@" + secrets.token_hex(32)) if kind == "g" else ("@" + secrets.token_hex(16))
            self._ids[key] = found
            self._names[found] = key
        return found

    def _encry_id(self, room_id: str) -> str:
        if room_id not in self._encry:
            self._encry[room_id] = "@" + secrets.token_hex(16)
        return self._encry[room_id]

    def room_id(self, nickname: str) -> str:
        """The group's ``@@`` id for the current (or, before any login, the first) session."""
        with self._lock:
            if nickname not in self._groups:
                raise KeyError(f"no group {nickname!r}")
            return self._id(self._generation, "g", nickname)

    def user_id(self, nickname: str) -> str:
        """A person's ``@`` id (the bot itself included) for the current session."""
        with self._lock:
            if nickname not in self._people:
                raise KeyError(f"no person {nickname!r}")
            return self._id(self._generation, "u", nickname)

    @property
    def me_id(self) -> str:
        return self.user_id(self.me)

    def nickname_of(self, user_name: str) -> str:
        """Resolve any id this server ever handed out (any login) to its nickname."""
        if user_name == "filehelper":
            return "filehelper"
        with self._lock:
            key = self._names.get(user_name)
            return key[2] if key else ""

    # ------------------------------------------------------------------ world building
    def add_group(
        self,
        nickname: str,
        members: list[str],
        *,
        display_names: dict[str, str] | None = None,
        saved_to_contacts: bool = True,
    ) -> str:
        """Create (or update the members of) a group the bot is in; return its ``@@`` id.

        ``display_names`` maps member nickname -> group display name (itchat's ActualNickName
        prefers it). ``saved_to_contacts=False``: absent from webwxgetcontact (still in the
        webwxinit recent-chat list and resolvable by batchgetcontact), like an unsaved group.
        """
        with self._cond:
            for m in members:
                self._people.setdefault(m, _Person(m))
            self._groups[nickname] = _Group(
                nickname, list(members), dict(display_names or {}), saved_to_contacts
            )
            return self._id(self._generation, "g", nickname)

    def add_friend(self, nickname: str) -> str:
        with self._cond:
            person = self._people.setdefault(nickname, _Person(nickname))
            person.friend = True
            return self._id(self._generation, "u", nickname)

    def _new_msg_id(self) -> str:
        while True:
            candidate = str(10**18 + secrets.randbelow(9 * 10**18))
            if candidate not in self._images and all(m.msg_id != candidate for m in self._messages):
                return candidate

    def _resolve_chat(self, group: str | None, sender: str, to_filehelper: bool) -> tuple[str, str]:
        if sender not in self._people:
            raise ValueError(f"unknown sender {sender!r}: add_group/add_friend first")
        if to_filehelper:
            if sender != self.me:
                raise ValueError("only the bot itself (me) writes to the file helper")
            return "filehelper", "filehelper"
        if group is None:
            if sender == self.me:
                raise ValueError("a private message from me needs the friend's nickname as group")
            return "private", sender
        if group in self._groups:
            g = self._groups[group]
            if sender != self.me and sender not in g.members:
                raise ValueError(f"{sender!r} is not a member of {group!r}")
            return "group", group
        if group in self._people:
            if sender not in (group, self.me):
                raise ValueError(f"a private chat with {group!r} is between them and me")
            return "private", group
        raise ValueError(f"no group or friend {group!r}")

    def _append(self, msg: _Msg) -> None:
        self._messages.append(msg)
        self._cond.notify_all()

    def post_picture(
        self,
        group: str | None,
        sender: str,
        image: bytes,
        *,
        msg_type: int = 3,
        create_time: float | None = None,
        msg_id: str | None = None,
    ) -> str:
        """Queue a picture (3), sticker (47) or app-image (49, AppMsgType 8); return its MsgId.

        ``group=None``: a private picture from ``sender`` (a friend or member) to the bot.
        ``group=<friend nickname>``: a private chat with that friend; ``sender`` is the friend, or
        the bot itself for a picture the owner sent from the phone. ``sender == me`` in a group:
        FromUserName is the bot and ToUserName the room (the owner posted from the phone).
        """
        if msg_type not in (3, 47, 49):
            raise ValueError("msg_type must be 3 (picture), 47 (sticker) or 49 (app image)")
        with self._cond:
            chat, peer = self._resolve_chat(group, sender, False)
            mid = msg_id or self._new_msg_id()
            new_id = int(mid) if mid.isdigit() else int(hashlib.sha1(mid.encode()).hexdigest(), 16)
            new_id %= 10**19
            self._images[mid] = image
            self._images[str(new_id)] = image
            self._seq += 1
            self._append(
                _Msg(
                    seq=self._seq,
                    msg_id=mid,
                    new_msg_id=new_id,
                    msg_type=msg_type,
                    chat=chat,
                    peer=peer,
                    sender=sender,
                    text="",
                    image=image,
                    create_time=int(create_time if create_time is not None else time.time()),
                )
            )
            return mid

    def post_text(
        self, group: str | None, sender: str, text: str, *, to_filehelper: bool = False
    ) -> str:
        """Queue a text message (same addressing as post_picture); return its MsgId."""
        with self._cond:
            chat, peer = self._resolve_chat(group, sender, to_filehelper)
            mid = self._new_msg_id()
            self._seq += 1
            self._append(
                _Msg(self._seq, mid, int(mid), 1, chat, peer, sender, text, None, int(time.time()))
            )
            return mid

    def redeliver(self, msg_id: str) -> None:
        """Deliver the same AddMsgList entry (same MsgId/NewMsgId) once more."""
        with self._cond:
            for m in reversed(self._messages):
                if m.msg_id == msg_id:
                    self._seq += 1
                    self._append(dataclasses.replace(m, seq=self._seq))
                    return
        raise KeyError(f"no message {msg_id!r}")

    def scan(self) -> None:
        """The phone scans/confirms every pending QR or push login now."""
        with self._cond:
            now = time.monotonic()
            for p in self._pending.values():
                p.scan_at = now
            self._cond.notify_all()

    # ------------------------------------------------------------------ faults
    def logout(self, retcode: int = 1101) -> None:
        """End every live session: its synccheck answers ``retcode`` (1100/1101/1102)."""
        with self._cond:
            for s in self._sessions.values():
                if s.dead_retcode is None:
                    s.dead_retcode = retcode
            self.logged_in.clear()
            self._cond.notify_all()

    def drop_connections(self, count: int = 1) -> None:
        """The next ``count`` synccheck requests get their socket closed without an answer."""
        with self._cond:
            self._drop_left += count

    @property
    def pending_drops(self) -> int:
        """How many of the ``drop_connections`` are still to happen."""
        with self._lock:
            return self._drop_left

    def fail_synccheck(self, count: int = 1, status: int = 500) -> None:
        """The next ``count`` synccheck requests answer this HTTP status (itchat counts errors)."""
        with self._cond:
            self._fail_left += count
            self._fail_status = status

    # ------------------------------------------------------------------ waiting
    def wait_for_sent(
        self,
        predicate: Callable[[SentMessage], bool],
        *,
        count: int = 1,
        timeout_s: float = 10.0,
    ) -> list[SentMessage]:
        """Wait until ``count`` recorded sends match; return all matching ones (in order)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                matches = [s for s in self.sent if predicate(s)]
                if len(matches) >= count:
                    return matches
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    lines = "\n".join(f"  {s!r}" for s in self.sent) or "  (nothing)"
                    raise AssertionError(
                        f"expected {count} matching sent message(s) within {timeout_s}s, "
                        f"got {len(matches)}; all sent messages:\n{lines}"
                    )
                self._cond.wait(remaining)

    def wait_for_logins(self, count: int, *, timeout_s: float = 10.0) -> None:
        """Wait until ``logins`` (completed webwxinit) reaches ``count``."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self.logins < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} logins, got {self.logins}")
                self._cond.wait(remaining)

    def count_requests(self, path: str) -> int:
        """How many requests had this path (e.g. ``"/jslogin"`` or ``"webwxsync"``)."""
        with self._lock:
            return sum(1 for _, p in self.requests_log if p == path or p.endswith("/" + path))

    # ------------------------------------------------------------------ HTTP plumbing
    def _dispatch(self, req: _Request) -> _Response:
        with self._lock:
            self.requests_log.append((req.method, req.path))
        handler = self._routes.get(req.path.rstrip("/") or "/")
        if handler is None:
            return _Response(status=404, body=b"<html><body>404 Not Found</body></html>")
        try:
            return handler(req)
        except Exception:
            import traceback

            with self._lock:
                self.errors.append(traceback.format_exc())
            return _Response(status=500, body=b"simulator error")

    def _session(self, req: _Request, body: Json | None = None) -> _Session | None:
        candidates: list[str] = []
        if body is not None:
            base = body.get("BaseRequest")
            if isinstance(base, dict) and base.get("Sid"):
                candidates.append(str(base["Sid"]))
        for value in (req.query.get("sid"), req.cookies.get("wxsid")):
            if value:
                candidates.append(value)
        for sid in candidates:
            s = self._sessions.get(sid)
            if s is not None:
                return s
        return None

    def _live_session(self, req: _Request, body: Json | None = None) -> _Session | None:
        """The request's session if identifiable, else the newest live one (lenient GETs)."""
        s = self._session(req, body)
        if s is not None:
            return s
        live = [x for x in self._sessions.values() if x.dead_retcode is None]
        return live[-1] if live else None

    # ------------------------------------------------------------------ login
    def _root(self, req: _Request) -> _Response:
        page = b"<html><body>WeChat simulator</body></html>"
        return _Response(body=page, content_type="text/html; charset=UTF-8")

    def _jslogin(self, req: _Request) -> _Response:
        with self._cond:
            uuid = self._new_pending(push=False)
        return _js(f'window.QRLogin.code = 200; window.QRLogin.uuid = "{uuid}";')

    def _new_pending(self, *, push: bool) -> str:
        uuid = secrets.token_hex(5) + "=="
        now = time.monotonic()
        scan_at = None if self.auto_scan_after_s is None else now + self.auto_scan_after_s
        self._pending[uuid] = _PendingLogin(uuid, now, scan_at, push)
        return uuid

    def _login_poll(self, req: _Request) -> _Response:
        uuid = req.query.get("uuid", "")
        deadline = time.monotonic() + self.login_poll_hold_s
        with self._cond:
            p = self._pending.get(uuid)
            while True:
                if p is None or p.done or self._closing:
                    return _js("window.code=400;")
                now = time.monotonic()
                if now - p.created > self.qr_expire_s:
                    p.done = True
                    return _js("window.code=400;")
                if p.scanned:
                    p.done = True
                    ticket = secrets.token_urlsafe(18).replace("-", "A").replace("_", "B")
                    self._tickets[ticket] = uuid
                    redirect = (
                        f"{self.url}{API}/webwxnewloginpage?ticket={ticket}&uuid={uuid}"
                        f"&lang=zh_CN&scan={int(time.time())}"
                    )
                    return _js(f'window.code=200;\nwindow.redirect_uri="{redirect}";')
                if p.scan_at is not None and now >= p.scan_at:
                    p.scanned = True
                    return _js("window.code=201;window.userAvatar = '';")
                if now >= deadline:
                    return _js("window.code=408;")
                until = deadline if p.scan_at is None else min(deadline, p.scan_at)
                self._cond.wait(max(0.0, until - now))

    def _login_page(self, req: _Request) -> _Response:
        with self._cond:
            self.last_login_headers = dict(req.headers)
            uuid = self._tickets.pop(req.query.get("ticket", ""), None)
            if uuid is None or uuid != req.query.get("uuid"):
                return self._xml("<error><ret>1</ret><message>ticket invalid</message></error>")
            ret = self.login_ret
            if ret == 0 and self.require_uos_headers and "extspam" not in req.headers:
                ret = 1203
            if ret != 0:
                message = MSG_1203 if ret == 1203 else "登录失败"
                return self._xml(f"<error><ret>{ret}</ret><message>{message}</message></error>")
            session = _Session(
                sid=secrets.token_urlsafe(12).replace("-", "a").replace("_", "b"),
                skey="@crypt_" + secrets.token_hex(4) + "_" + secrets.token_hex(16),
                generation=self._generation,
                data_ticket=secrets.token_urlsafe(24),
                uvid=secrets.token_hex(16),
                auth_ticket=secrets.token_urlsafe(24),
                loadtime=str(int(time.time())),
            )
            pass_ticket = secrets.token_urlsafe(24)
            cookies = [
                ("wxuin", self._uin),
                ("wxsid", session.sid),
                ("webwx_data_ticket", session.data_ticket),
                ("webwxuvid", session.uvid),
                ("webwx_auth_ticket", session.auth_ticket),
                ("wxloadtime", session.loadtime),
                ("mm_lang", "zh_CN"),
            ]
            wxsid_xml = f"<wxsid>{session.sid}</wxsid>"
            if self.omit_wxsid:
                cookies = [c for c in cookies if c[0] != "wxsid"]
                wxsid_xml = ""
            else:
                # a fresh login: new ids (except the very first) and the other sessions end
                if self._fresh_logins > 0:
                    self._generation += 1
                    session.generation = self._generation
                self._fresh_logins += 1
                for other in self._sessions.values():
                    if other.dead_retcode is None:
                        other.dead_retcode = 1101
                self._sessions[session.sid] = session
                self._cond.notify_all()
            xml = (
                f"<error><ret>0</ret><message></message><skey>{session.skey}</skey>{wxsid_xml}"
                f"<wxuin>{self._uin}</wxuin><pass_ticket>{pass_ticket}</pass_ticket>"
                "<isgrayscale>1</isgrayscale></error>"
            )
            resp = self._xml(xml)
            resp.headers = [("Set-Cookie", f"{k}={v}; Path=/") for k, v in cookies]
            return resp

    @staticmethod
    def _xml(text: str) -> _Response:
        return _Response(body=text.encode("utf-8"), content_type="text/plain; charset=UTF-8")

    def _push_login(self, req: _Request) -> _Response:
        with self._cond:
            if self.push_login_enabled and req.query.get("uin") == self._uin and self._sessions:
                uuid = self._new_pending(push=True)
                return _json({"ret": "0", "msg": "all ok", "uuid": uuid})
        return _json({"ret": "1", "msg": "push login refused"})

    # ------------------------------------------------------------------ contacts
    def _user_json(self, gen: int, nickname: str) -> Json:
        c = _contact_template(self._id(gen, "u", nickname), nickname)
        if nickname == self.me:
            c["Uin"] = int(self._uin)
            c["ContactFlag"] = 0
        return c

    def _member_json(self, gen: int, group: _Group, nickname: str) -> Json:
        return {
            "Uin": 0,
            "UserName": self._id(gen, "u", nickname),
            "NickName": nickname,
            "AttrStatus": 0,
            "PYInitial": "",
            "PYQuanPin": "",
            "RemarkPYInitial": "",
            "RemarkPYQuanPin": "",
            "MemberStatus": 0,
            "DisplayName": group.display_names.get(nickname, ""),
            "KeyWord": "",
        }

    def _group_json(self, gen: int, group: _Group, *, with_members: bool) -> Json:
        room = self._id(gen, "g", group.nickname)
        c = _contact_template(room, group.nickname)
        everyone = [*group.members, self.me]
        c["MemberCount"] = len(everyone)
        c["ContactFlag"] = 3 if group.saved else 2
        c["EncryChatRoomId"] = self._encry_id(room)
        c["ChatRoomOwner"] = self._id(gen, "u", everyone[0])
        if with_members:
            c["MemberList"] = [self._member_json(gen, group, n) for n in everyone]
        return c

    def _webwxinit(self, req: _Request) -> _Response:
        body = req.json()
        with self._cond:
            s = self._session(req, body)
            if s is None or s.dead_retcode is not None:
                return _json({"BaseResponse": _base(1101), "Count": 0, "ContactList": []})
            gen = s.generation
            contacts = [self._group_json(gen, g, with_members=True) for g in self._groups.values()]
            contacts.append(_contact_template("filehelper", "文件传输助手"))
            s.inited = True
            self.logins += 1
            self.logged_in.set()
            self._cond.notify_all()
            return _json(
                {
                    "BaseResponse": _base(),
                    "Count": len(contacts),
                    "ContactList": contacts,
                    "SyncKey": self._synckey(self._seq),
                    "User": self._user_json(gen, self.me),
                    "ChatSet": ",".join(c["UserName"] for c in contacts) + ",",
                    "SKey": s.skey,
                    "ClientVersion": 1_661_077_505,
                    "SystemTime": int(time.time()),
                    "GrayScale": 1,
                    "InviteStartCount": 40,
                    "MPSubscribeMsgCount": 0,
                    "MPSubscribeMsgList": [],
                    "ClickReportInterval": 600_000,
                }
            )

    def _statusnotify(self, req: _Request) -> _Response:
        with self._lock:
            return _json({"BaseResponse": _base(), "MsgID": self._new_msg_id()})

    def _getcontact(self, req: _Request) -> _Response:
        with self._cond:
            s = self._live_session(req)
            if s is None or s.dead_retcode is not None:
                return _json(
                    {"BaseResponse": _base(1101), "MemberCount": 0, "MemberList": [], "Seq": 0}
                )
            gen = s.generation
            members: list[Json] = [
                self._user_json(gen, p.nickname) for p in self._people.values() if p.friend
            ]
            members += [
                self._group_json(gen, g, with_members=False)
                for g in self._groups.values()
                if g.saved
            ]
            return _json(
                {
                    "BaseResponse": _base(),
                    "MemberCount": len(members),
                    "MemberList": members,
                    "Seq": 0,
                }
            )

    def _batchgetcontact(self, req: _Request) -> _Response:
        body = req.json()
        with self._cond:
            s = self._live_session(req, body)
            if s is None or s.dead_retcode is not None:
                return _json({"BaseResponse": _base(1101), "Count": 0, "ContactList": []})
            found: list[Json] = []
            for item in body.get("List") or []:
                if not isinstance(item, dict):
                    continue
                key = self._names.get(str(item.get("UserName", "")))
                if key is None or key[0] != s.generation:
                    continue  # unknown, or an id from another login
                _, kind, nickname = key
                if kind == "g" and nickname in self._groups:
                    found.append(
                        self._group_json(s.generation, self._groups[nickname], with_members=True)
                    )
                elif kind == "u" and nickname in self._people:
                    found.append(self._user_json(s.generation, nickname))
            return _json({"BaseResponse": _base(), "Count": len(found), "ContactList": found})

    # ------------------------------------------------------------------ messages
    def _synckey(self, seq: int) -> Json:
        items = [{"Key": 1, "Val": seq}] + [{"Key": k, "Val": v} for k, v in _SYNC_OTHER_KEYS]
        return {"Count": len(items), "List": items}

    def _synccheck(self, req: _Request) -> _Response:
        def answer(retcode: int, selector: int) -> _Response:
            return _js(f'window.synccheck={{retcode:"{retcode}",selector:"{selector}"}}')

        with self._cond:
            if self._drop_left > 0:
                self._drop_left -= 1
                return _Response(drop=True)
            if self._fail_left > 0:
                self._fail_left -= 1
                return _Response(
                    status=self._fail_status, body=b"<html>error</html>", content_type="text/html"
                )
            s = self._session(req)
            client_seq = _parse_synckey_param(req.query.get("synckey", ""))
            deadline = time.monotonic() + self.synccheck_hold_s
            while True:
                if s is None:
                    return answer(1101, 0)
                if s.dead_retcode is not None:
                    return answer(s.dead_retcode, 0)
                if self._seq > client_seq:
                    return answer(0, 2)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closing:
                    return answer(0, 0)
                self._cond.wait(remaining)

    def _render(self, m: _Msg, gen: int) -> Json:
        me_id = self._id(gen, "u", self.me)
        prefix = ""
        if m.chat == "filehelper":
            from_user, to_user = me_id, "filehelper"
        elif m.chat == "group":
            room = self._id(gen, "g", m.peer)
            if m.sender == self.me:
                from_user, to_user = me_id, room
            else:
                from_user, to_user = room, me_id
                prefix = self._id(gen, "u", m.sender) + ":<br/>"
        else:
            peer = self._id(gen, "u", m.peer)
            from_user, to_user = (me_id, peer) if m.sender == self.me else (peer, me_id)
        width = height = 0
        app_type = 0
        if m.image is not None:
            width, height = image_size(m.image)
            n = len(m.image)
            md5 = hashlib.md5(m.image).hexdigest()
            if m.msg_type == 47:
                xml = (
                    f'<msg><emoji fromusername="{from_user}" tousername="{to_user}" type="2" '
                    f'idbuffer="media:0_0" md5="{md5}" len="{n}" productid="" '
                    f'androidmd5="{md5}" androidlen="{n}" cdnurl="http://emoji.qpic.cn/wx_emoji/'
                    f'{md5}/" designerid="" thumburl="" encrypturl="" aeskey="" externurl="" '
                    f'externmd5="" width="{width}" height="{height}"></emoji></msg>'
                )
            elif m.msg_type == 49:
                app_type = 8
                xml = (
                    '<msg><appmsg appid="" sdkver="0"><title></title><des></des><type>8</type>'
                    f"<appattach><totallen>{n}</totallen><attachid></attachid></appattach>"
                    "</appmsg></msg>"
                )
            else:
                aes = md5[::-1]
                xml = (
                    '<?xml version="1.0"?>\n<msg>\n\t<img aeskey="' + aes + '" encryver="1" '
                    f'cdnthumbaeskey="{aes}" cdnthumburl="3057020100044b30490201000204{md5}" '
                    f'cdnthumblength="{n}" cdnthumbheight="{height}" cdnthumbwidth="{width}" '
                    'cdnmidheight="0" cdnmidwidth="0" cdnhdheight="0" cdnhdwidth="0" '
                    f'cdnmidimgurl="3057020100044b30490201000204{md5}" length="{n}" '
                    f'md5="{md5}" />\n\t<platform_signature></platform_signature>\n'
                    "\t<imgdatahash></imgdatahash>\n</msg>\n"
                )
            content = prefix + _escape(xml)
        else:
            content = prefix + _escape(m.text)
        return {
            "MsgId": m.msg_id,
            "FromUserName": from_user,
            "ToUserName": to_user,
            "MsgType": m.msg_type,
            "Content": content,
            "Status": 3,
            "ImgStatus": 2 if m.image is not None else 1,
            "CreateTime": m.create_time,
            "VoiceLength": 0,
            "PlayLength": 0,
            "FileName": "",
            "FileSize": "",
            "MediaId": "",
            "Url": "",
            "AppMsgType": app_type,
            "StatusNotifyCode": 0,
            "StatusNotifyUserName": "",
            "RecommendInfo": {
                "UserName": "",
                "NickName": "",
                "QQNum": 0,
                "Province": "",
                "City": "",
                "Content": "",
                "Signature": "",
                "Alias": "",
                "Scene": 0,
                "VerifyFlag": 0,
                "AttrStatus": 0,
                "Sex": 0,
                "Ticket": "",
                "OpCode": 0,
            },
            "ForwardFlag": 0,
            "AppInfo": {"AppID": "", "Type": 0},
            "HasProductId": 0,
            "Ticket": "",
            "ImgHeight": height,
            "ImgWidth": width,
            "SubMsgType": 0,
            "NewMsgId": m.new_msg_id,
            "OriContent": "",
            "EncryFileName": "",
        }

    def _webwxsync(self, req: _Request) -> _Response:
        body = req.json()
        with self._cond:
            s = self._session(req, body)
            client_seq = _parse_synckey_json(body.get("SyncKey"))
            if s is None or s.dead_retcode is not None:
                ret = 1101 if s is None or s.dead_retcode is None else s.dead_retcode
                return _json(
                    {
                        "BaseResponse": _base(ret),
                        "AddMsgCount": 0,
                        "AddMsgList": [],
                        "ModContactCount": 0,
                        "ModContactList": [],
                        "SyncKey": self._synckey(client_seq),
                        "SyncCheckKey": self._synckey(client_seq),
                    }
                )
            msgs = [self._render(m, s.generation) for m in self._messages if m.seq > client_seq]
            top = max(client_seq, self._seq)
            return _json(
                {
                    "BaseResponse": _base(),
                    "AddMsgCount": len(msgs),
                    "AddMsgList": msgs,
                    "ModContactCount": 0,
                    "ModContactList": [],
                    "DelContactCount": 0,
                    "DelContactList": [],
                    "ModChatRoomMemberCount": 0,
                    "ModChatRoomMemberList": [],
                    "Profile": {"BitFlag": 0},
                    "ContinueFlag": 0,
                    "SyncKey": self._synckey(top),
                    "SyncCheckKey": self._synckey(top),
                    "SKey": s.skey,
                }
            )

    def _getmsgimg(self, req: _Request) -> _Response:
        with self._lock:
            data = self._images.get(req.query.get("msgid", ""))
        if self.image_status != 200:
            status = self.image_status
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = ""
            page = f"<html><head><title>{status} {phrase}</title></head><body></body></html>"
            return _Response(status=status, body=page.encode(), content_type="text/html")
        if self.image_body_override is not None:
            override = self.image_body_override
            ctype = "text/html" if override.lstrip()[:1] == b"<" else "image/jpeg"
            return _Response(body=override, content_type=ctype)
        if data is None:
            return _Response(status=404, body=b"<html>404</html>", content_type="text/html")
        ctype = (
            "image/gif"
            if data[:3] == b"GIF"
            else ("image/png" if data[:4] == b"\x89PNG" else "image/jpeg")
        )
        return _Response(body=data, content_type=ctype)

    # ------------------------------------------------------------------ sending
    def _record_send(self, req: _Request, body: Json, *, media_key: str | None = None) -> _Response:
        raw_msg = body.get("Msg")
        msg: Json = raw_msg if isinstance(raw_msg, dict) else {}
        with self._cond:
            s = self._session(req, body)
            if s is None or s.dead_retcode is not None:
                ret = 1101
            elif self.send_fail_count > 0:
                self.send_fail_count -= 1
                ret = self.send_ret
            else:
                ret = 0
            to_user = str(msg.get("ToUserName", ""))
            content = str(msg.get("Content", "") or "")
            msg_type = int(msg.get("Type", 1) or 1)
            msg_id = self._new_msg_id()
            media = self._media.get(str(msg.get(media_key, ""))) if media_key else None
            sent = SentMessage(
                to_user=to_user,
                to_nickname=self.nickname_of(to_user),
                content=content,
                time=time.monotonic(),
                msg_type=msg_type,
                from_user=str(msg.get("FromUserName", "")),
                local_id=str(msg.get("LocalID", "")),
                msg_id=msg_id,
                ret=ret,
                media=media,
            )
            self.sent.append(sent)
            if ret == 0 and self.echo_sent and msg_type == 1 and s is not None:
                self._echo(s, sent)
            self._cond.notify_all()
        return _json({"BaseResponse": _base(ret), "MsgID": msg_id, "LocalID": sent.local_id})

    def _echo(self, s: _Session, sent: SentMessage) -> None:
        key = self._names.get(sent.to_user)
        if sent.to_user == "filehelper":
            chat, peer = "filehelper", "filehelper"
        elif key is not None and key[1] == "g":
            chat, peer = "group", key[2]
        elif key is not None:
            chat, peer = "private", key[2]
        else:
            return
        self._seq += 1
        self._append(
            _Msg(
                self._seq,
                sent.msg_id,
                int(sent.msg_id),
                1,
                chat,
                peer,
                self.me,
                sent.content,
                None,
                int(time.time()),
            )
        )

    def _sendmsg(self, req: _Request) -> _Response:
        return self._record_send(req, req.json())

    def _sendmedia(self, req: _Request) -> _Response:
        return self._record_send(req, req.json(), media_key="MediaId")

    def _uploadmedia(self, req: _Request) -> _Response:
        ctype = req.headers.get("content-type", "")
        parsed = BytesParser(policy=policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + req.body
        )
        data = b""
        request: Json = {}
        for part in parsed.iter_parts() if parsed.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            raw = payload if isinstance(payload, bytes) else b""
            if name == "filename":
                data = raw
            elif name == "uploadmediarequest":
                with contextlib.suppress(ValueError):
                    request = json.loads(raw.decode("utf-8", "replace"))
        media_id = "@crypt_" + secrets.token_hex(24)
        with self._lock:
            self._media[media_id] = data
        return _json(
            {
                "BaseResponse": _base(),
                "MediaId": media_id,
                "StartPos": len(data),
                "CDNThumbImgHeight": 0,
                "CDNThumbImgWidth": 0,
                "EncryFileName": "",
                "ClientMediaId": request.get("ClientMediaId", 0),
            }
        )

    def _revoke(self, req: _Request) -> _Response:
        return _json({"BaseResponse": _base(), "Introduction": "", "SysWording": ""})

    def _icon(self, req: _Request) -> _Response:
        return _Response(body=_TINY_GIF, content_type="image/gif")

    def _webwxlogout(self, req: _Request) -> _Response:
        with self._cond:
            s = self._session(req, req.json() if req.body else None)
            if s is not None and s.dead_retcode is None:
                s.dead_retcode = 1101
            if not any(x.dead_retcode is None and x.inited for x in self._sessions.values()):
                self.logged_in.clear()
            self._cond.notify_all()
        return _Response(body=b"", content_type="text/html")

    def sessions_alive(self) -> int:
        """How many sessions this server still accepts."""
        with self._lock:
            return sum(1 for s in self._sessions.values() if s.dead_retcode is None)


# ---------------------------------------------------------------------- manual runs
def _demo_jpeg(n: int) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 240), ((n * 53) % 256, (n * 97) % 256, (n * 151) % 256))
    draw = ImageDraw.Draw(img)
    draw.rectangle((40, 40, 280, 200), outline=(255, 255, 255), width=4)
    draw.text((60, 110), f"picture {n} at {time.strftime('%H:%M:%S')}", fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _ticks(period_s: float) -> Iterator[int]:
    n = 0
    while True:
        time.sleep(period_s)
        n += 1
        yield n


def main() -> None:
    with WeChatSimulator() as sim:
        room = sim.add_group("我们一家", ["小明", "小红"])
        print(f"WeChat simulator at {sim.url}", flush=True)
        print(f"  set itchat.config.BASE_URL = {sim.url!r} before auto_login", flush=True)
        print(f"  group 我们一家 = {room} (小明, 小红); 小明 posts a JPEG every 5 s", flush=True)
        shown = 0
        try:
            for n in _ticks(5.0):
                msg_id = sim.post_picture("我们一家", "小明", _demo_jpeg(n))
                print(f"posted picture {n} (MsgId {msg_id}); logins={sim.logins}", flush=True)
                for s in sim.sent[shown:]:
                    print(f"  bot -> {s.to_nickname or s.to_user}: {s.content!r}", flush=True)
                shown = len(sim.sent)
        except KeyboardInterrupt:
            print("bye", flush=True)


if __name__ == "__main__":
    main()
