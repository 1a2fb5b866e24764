"""The simulator object: :class:`WeChatSimulator` (state, routes, lifecycle, dispatch)."""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
from collections.abc import Callable
from types import TracebackType

from tests.fakes.wechat_sim.contacts import _Contacts
from tests.fakes.wechat_sim.faults import _Faults
from tests.fakes.wechat_sim.login import _Login
from tests.fakes.wechat_sim.models import (
    API,
    SentMessage,
    _Group,
    _Msg,
    _PendingLogin,
    _Person,
    _Session,
)
from tests.fakes.wechat_sim.wire import _Request, _Response, _Server


class WeChatSimulator(_Login, _Contacts, _Faults):
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
    Slow, huge and malformed traffic: see :class:`~tests.fakes.wechat_sim.faults._Faults`.
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
