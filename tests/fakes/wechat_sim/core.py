"""State shared by the handler mixins: ids per login, sessions, the message stream."""

from __future__ import annotations

import secrets
import threading

from tests.fakes.wechat_sim.models import (
    _SYNC_OTHER_KEYS,
    Json,
    SentMessage,
    _Group,
    _Msg,
    _PendingLogin,
    _Person,
    _Session,
)
from tests.fakes.wechat_sim.wire import _Request


class _SimCore:
    """Base of the :class:`WeChatSimulator` mixins; ``WeChatSimulator.__init__`` sets the state."""

    me: str
    url: str
    auto_scan_after_s: float | None
    synccheck_hold_s: float
    login_poll_hold_s: float
    qr_expire_s: float
    login_ret: int
    omit_wxsid: bool
    require_uos_headers: bool
    push_login_enabled: bool
    send_ret: int
    send_fail_count: int
    image_status: int
    image_body_override: bytes | None
    echo_sent: bool
    sent: list[SentMessage]
    logged_in: threading.Event
    logins: int
    last_login_headers: dict[str, str]
    _lock: threading.RLock
    _cond: threading.Condition
    _closing: bool
    _uin: str
    _people: dict[str, _Person]
    _groups: dict[str, _Group]
    _generation: int
    _fresh_logins: int
    _ids: dict[tuple[int, str, str], str]
    _names: dict[str, tuple[int, str, str]]
    _encry: dict[str, str]
    _sessions: dict[str, _Session]
    _pending: dict[str, _PendingLogin]
    _tickets: dict[str, str]
    _seq: int
    _messages: list[_Msg]
    _images: dict[str, bytes]
    _media: dict[str, bytes]
    _drop_left: int
    _fail_left: int
    _fail_status: int

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

    def _new_msg_id(self) -> str:
        while True:
            candidate = str(10**18 + secrets.randbelow(9 * 10**18))
            if candidate not in self._images and all(m.msg_id != candidate for m in self._messages):
                return candidate

    def _append(self, msg: _Msg) -> None:
        self._messages.append(msg)
        self._cond.notify_all()

    # ------------------------------------------------------------------ sessions
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

    # ------------------------------------------------------------------ messages
    def _synckey(self, seq: int) -> Json:
        items = [{"Key": 1, "Val": seq}] + [{"Key": k, "Val": v} for k, v in _SYNC_OTHER_KEYS]
        return {"Count": len(items), "List": items}
