"""Logging in to web WeChat through itchat: the QR code, hot reload, and plain words for
itchat's ways of failing (``KeyError('wxsid')``, ``sys.exit()``, a silent ``exitCallback``)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import requests
from requests.adapters import HTTPAdapter

from bot.errors import LoginRefused

log = logging.getLogger(__name__)

_RETCODE = re.compile(r'retcode:"(\d+)"')

REFUSED = (
    "WeChat refused the web login for this account (it answered without a session: 1203 or no "
    "wxsid). Most accounts can no longer use web WeChat; try a secondary, real-name-verified "
    "account that has used web WeChat before"
)
ENDED = {
    "1100": "WeChat logged this session out (1100) {when}: it was logged out from the phone or "
    "a newer login replaced it; start the bot again and scan the QR code",
    "1101": "WeChat ended this session (1101) {when}: the account logged in elsewhere or the "
    "session expired; start the bot again and scan the QR code",
}
KICKED_EARLY = (
    "WeChat kicked this account off web WeChat (1102) {when}: it refuses many accounts this way "
    "since 2025; try a secondary, real-name-verified account"
)
KICKED_LATER = (
    "WeChat kicked this account off web WeChat (1102) {when}: WeChat ends web sessions it "
    "distrusts at any time (a login on another computer or web client does it too); start the "
    "bot again (the phone may be asked to confirm), and if it keeps happening use a secondary, "
    "real-name-verified account"
)
EARLY_KICK_S = 300.0
"""A 1102 sooner than this after login is WeChat refusing the account, not a later kick."""


def running_for(seconds: float) -> str:
    """ "3 s", "12 min", "5 h 3 min", "2 d 4 h": how long a session ran."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def ended_message(retcode: str | None, running_s: float) -> str:
    """Why the session ended, in plain words, saying how long after login it happened."""
    when = f"after {running_for(running_s)} of running"
    if retcode == "1102":
        if running_s < EARLY_KICK_S:
            return KICKED_EARLY.format(when=f"{running_for(running_s)} after login")
        return KICKED_LATER.format(when=when)
    if retcode in ENDED:
        return ENDED[retcode].format(when=when)
    return f"WeChat ended the session (retcode {retcode or 'unknown'}) {when}; start the bot again"


class TimeoutAdapter(HTTPAdapter):
    """itchat sets no timeout on downloads and sends; give every request one."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self._timeout_s = timeout_s

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if not args and kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout_s
        return super().send(request, *args, **kwargs)


class RetcodeCatcher(logging.Handler):
    """itchat reports why a session ended only in a DEBUG log line; keep the code."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.retcode: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        match = _RETCODE.search(record.getMessage())
        if match and match.group(1) != "0":
            self.retcode = match.group(1)


class LoginTimeout(Exception):
    """Raised inside itchat's QR loop to stop waiting for a scan."""


def terminal_qr(text: str) -> str:
    """The QR code as half-block characters (light modules drawn, for dark terminals)."""
    from pyqrcode import QRCode  # shipped with itchat-uos

    rows = QRCode(text).text(quiet_zone=2).split()
    if len(rows) % 2:
        rows.append("0" * len(rows[0]))
    chars = {("0", "0"): "█", ("0", "1"): "▀", ("1", "0"): "▄", ("1", "1"): " "}
    return "\n".join(
        "".join(chars[(a, b)] for a, b in zip(top, bottom, strict=True))
        for top, bottom in zip(rows[::2], rows[1::2], strict=True)
    )


def probe(login_url: str) -> None:
    """Fail fast with one line when WeChat cannot be reached (itchat's own check has no
    timeout and calls sys.exit)."""
    try:
        requests.get(login_url, timeout=10)
    except requests.RequestException as exc:
        raise LoginRefused(
            f"cannot reach WeChat at {login_url} ({type(exc).__name__}); check "
            "this machine's network and DNS, or [wechat] login_url"
        ) from exc


WAITING_FOR_PHONE = "waiting_for_phone"


class LoginNarrator:
    """Says what a login waits for: a QR scan, or the phone confirming a saved session (no QR
    is shown then), and why a saved session was not used. ``install`` wraps two methods of one
    itchat instance (itchat says nothing of either); ``qr_callback`` is its qrCallback."""

    def __init__(
        self,
        *,
        session: Path,
        qr_path: Path,
        deadline: float,
        out: TextIO,
        on_qr: Callable[[bytes], None],
        on_phase: Callable[[str], None],
    ) -> None:
        self._on_phase = on_phase
        self._session = session
        self._qr_path = qr_path
        self._deadline = deadline
        self._out = out
        self._on_qr = on_qr
        self._qr_uuids: set[str] = set()
        self._session_refused = False
        self._asked_phone = False

    def _say(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    def install(self, core: Any) -> None:
        load, check = core.load_login_status, core.check_login

        def load_login_status(fileDir: str, **kwargs: Any) -> Any:
            result = load(fileDir, **kwargs)
            ret = (result.get("BaseResponse") or {}).get("Ret")
            if ret == -1003:  # itchat: "server refused, loading login status failed."
                self._session_refused = True
                self._say(
                    f"WeChat no longer accepts the saved session ({self._session}): it was "
                    "logged out, kicked off or has expired, so this is a new login."
                )
            elif ret == -1005:
                self._say(
                    f"The saved session {self._session} is from another itchat version; "
                    "logging in anew."
                )
            return result

        def check_login(uuid: str | None = None) -> Any:
            # itchat polls without showing a QR code when WeChat pushed the login to the phone.
            if (uuid or core.uuid) not in self._qr_uuids and not self._asked_phone:
                self._asked_phone = True
                self._on_phase(WAITING_FOR_PHONE)
                left = max(0, int(self._deadline - time.monotonic()))
                self._say(
                    "WeChat asked your phone to confirm this login: open WeChat on the phone "
                    f"and tap to log in (within {left} s). No QR code is shown while WeChat "
                    f"waits for the phone; to get one instead, stop the bot, delete "
                    f"{self._session} and start it again."
                )
            return check(uuid)

        core.load_login_status = load_login_status
        core.check_login = check_login

    def qr_callback(self, uuid: str = "", status: str = "", qrcode: bytes = b"") -> None:
        """itchat's qrCallback: show the QR code (terminal, PNG file, status page), time out."""
        if status == "0" and qrcode:
            self._qr_uuids.add(uuid)
            self._on_qr(qrcode)
            self._qr_path.write_bytes(qrcode)
            self._qr_path.chmod(0o600)
            if self._session_refused:
                why = "the phone did not confirm" if self._asked_phone else "it was not accepted"
                self._say(
                    f"A QR code is needed because the saved session could not be used ({why})."
                )
            self._say(terminal_qr(f"https://login.weixin.qq.com/l/{uuid}"))
            self._say(f"Scan this QR code with WeChat to log in (also saved as {self._qr_path}).")
        elif status == "201":
            log.info("login scanned or confirmed; waiting for WeChat")
        if time.monotonic() > self._deadline:
            raise LoginTimeout


def auto_login(itchat_core: Any, *, login_url: str, login_timeout_s: float, **kwargs: Any) -> None:
    """``itchat_core.auto_login(**kwargs)`` with every failure as one ``LoginRefused``."""
    try:
        itchat_core.auto_login(**kwargs)
    except KeyError as exc:
        if exc.args == ("wxsid",):
            raise LoginRefused(REFUSED) from exc
        raise
    except SystemExit as exc:
        raise LoginRefused(
            f"cannot reach WeChat at {login_url}; check this machine's network"
        ) from exc
    except LoginTimeout as exc:
        raise LoginRefused(
            f"nobody confirmed the login within {login_timeout_s:g}"
            " s; start the bot again and scan the QR code"
        ) from exc
    except requests.RequestException as exc:
        raise LoginRefused(
            f"WeChat login failed ({type(exc).__name__}); try again in a few minutes"
        ) from exc
    if not itchat_core.alive:
        raise LoginRefused(REFUSED)
