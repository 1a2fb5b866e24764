"""The login flow: QR (jslogin + poll), the login page and its cookies, push login, logout."""

from __future__ import annotations

import secrets
import time

from tests.fakes.wechat_sim.core import _SimCore
from tests.fakes.wechat_sim.models import API, MSG_1203, _PendingLogin, _Session
from tests.fakes.wechat_sim.wire import _js, _json, _Request, _Response


class _Login(_SimCore):
    """Login and session endpoints of :class:`WeChatSimulator`."""

    def scan(self) -> None:
        """The phone scans/confirms every pending QR or push login now."""
        with self._cond:
            now = time.monotonic()
            for p in self._pending.values():
                p.scan_at = now
            self._cond.notify_all()

    def logout(self, retcode: int = 1101) -> None:
        """End every live session: its synccheck answers ``retcode`` (1100/1101/1102)."""
        with self._cond:
            for s in self._sessions.values():
                if s.dead_retcode is None:
                    s.dead_retcode = retcode
            self.logged_in.clear()
            self._cond.notify_all()

    def wait_for_logins(self, count: int, *, timeout_s: float = 10.0) -> None:
        """Wait until ``logins`` (completed webwxinit) reaches ``count``."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self.logins < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} logins, got {self.logins}")
                self._cond.wait(remaining)

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
