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
    "1100": "WeChat logged this session out (1100): it was logged out from the phone or a "
    "newer login replaced it; start the bot again and scan the QR code",
    "1101": "WeChat ended this session (1101): the account logged in elsewhere or the session "
    "expired; start the bot again and scan the QR code",
    "1102": "WeChat kicked this account off web WeChat right after login (1102), as it does to "
    "many accounts since 2025; try a secondary, real-name-verified account",
}


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


def qr_callback(
    *,
    qr_path: Path,
    state_dir: Path,
    deadline: float,
    out: TextIO,
    on_qr: Callable[[bytes], None],
) -> Callable[..., None]:
    """itchat's qrCallback: show the QR code (terminal, PNG file, status page) and time out."""

    def callback(uuid: str = "", status: str = "", qrcode: bytes = b"") -> None:
        if status == "0" and qrcode:
            on_qr(qrcode)
            qr_path.write_bytes(qrcode)
            qr_path.chmod(0o600)
            print(terminal_qr(f"https://login.weixin.qq.com/l/{uuid}"), file=out)
            print(
                f"Scan this QR code with WeChat to log in (also saved as {qr_path}).",
                file=out,
                flush=True,
            )
        elif status == "0":
            print(
                "Confirm the login on your phone (or delete the session file in "
                f"{state_dir} to get a new QR code).",
                file=out,
                flush=True,
            )
        elif status == "201":
            log.info("QR code scanned; waiting for confirmation on the phone")
        if time.monotonic() > deadline:
            raise LoginTimeout

    return callback


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
