"""itchat adapter: the only module that imports itchat (itchat-uos fork, same ``import itchat``).

It logs in (QR in the terminal and as a PNG, hot reload kept in a private folder), turns
itchat's message dicts into neutral ``Picture`` events, sends text, and turns itchat's ways of
failing (``KeyError('wxsid')``, ``sys.exit()``, a silent ``exitCallback``) into ``ChatError``s
with plain words.
"""

from __future__ import annotations

import html
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

import requests
from requests.adapters import HTTPAdapter

from bot.config import WeChatConfig
from bot.errors import ChatError, LoginRefused, SessionEnded
from bot.service import Picture, normalise_name

log = logging.getLogger(__name__)

SESSION_FILE = "itchat.pkl"
QR_FILE = "login-qr.png"
PICTURE_TYPES = (3, 47, 49)
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


class _TimeoutAdapter(HTTPAdapter):
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


class _RetcodeCatcher(logging.Handler):
    """itchat reports why a session ended only in a DEBUG log line; keep the code."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.retcode: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        match = _RETCODE.search(record.getMessage())
        if match and match.group(1) != "0":
            self.retcode = match.group(1)


class _LoginTimeout(Exception):
    pass


def patch_unescape(utils: Any) -> bool:
    """itchat 1.3.10 calls ``HTMLParser().unescape``, gone since Python 3.9: every message
    would then fail inside itchat and be lost silently. itchat-uos fixes it itself."""
    parser = getattr(utils, "htmlParser", None)
    if parser is not None and not hasattr(parser, "unescape"):
        parser.unescape = html.unescape
        return True
    return False


def _check_private(path: Path, *, what: str) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise ChatError(
            f"{what} {path} is a symbolic link; refusing it (replace it with a "
            "real folder/file owned by this user)"
        )
    if info.st_uid != os.getuid():
        raise ChatError(
            f"{what} {path} belongs to another user (uid {info.st_uid}); it must be "
            "owned by the user running the bot"
        )
    if info.st_mode & 0o022:
        fix = "chmod 700" if stat.S_ISDIR(info.st_mode) else "chmod 600"
        raise ChatError(
            f"{what} {path} can be written by other users (mode "
            f"{stat.S_IMODE(info.st_mode):o}); the session file is a pickle that "
            f"runs code when loaded: run `{fix} {path}` or delete it"
        )


def prepare_state_dir(state_dir: Path) -> Path:
    """Create the private state folder (0700) and vet the session file before itchat loads it."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ChatError(
            f"cannot create the state folder {state_dir} ({exc.strerror}); set "
            "[wechat] state_dir to a writable folder"
        ) from exc
    _check_private(state_dir, what="state folder")
    session = state_dir / SESSION_FILE
    if session.exists() or session.is_symlink():
        _check_private(session, what="session file")
    if not os.access(state_dir, os.W_OK):
        raise ChatError(
            f"the state folder {state_dir} is not writable; fix its permissions or "
            "set [wechat] state_dir"
        )
    return session


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


def picture_from_itchat(msg: Mapping[str, Any], *, me: str) -> Picture | None:
    """Translate an itchat message dict once, at the border; None if it is no picture."""
    if msg.get("Type") != "Picture" or msg.get("MsgType") not in PICTURE_TYPES:
        return None
    from_user, to_user = str(msg.get("FromUserName", "")), str(msg.get("ToUserName", ""))
    user = msg.get("User") or {}
    is_group = from_user.startswith("@@") or to_user.startswith("@@")
    if is_group:
        chat_id = from_user if from_user.startswith("@@") else to_user
        sender = str(msg.get("ActualNickName") or "")
        from_self = msg.get("ActualUserName") == me or from_user == me
    else:
        chat_id = to_user if from_user == me else from_user
        sender = str(user.get("RemarkName") or user.get("NickName") or "")
        from_self = from_user == me
    download = msg["Text"]

    def fetch() -> bytes:
        try:
            data = download(None)
        except requests.RequestException as exc:
            raise ChatError(f"WeChat download failed ({type(exc).__name__})") from exc
        if not isinstance(data, bytes):
            raise ChatError("WeChat download returned no bytes")
        return data

    return Picture(
        msg_id=str(msg.get("MsgId", "")),
        chat_id=chat_id,
        chat_name=html.unescape(str(user.get("NickName") or "")),
        sender=html.unescape(sender),
        is_group=is_group,
        is_sticker=msg.get("MsgType") == 47,
        from_self=from_self,
        created_at=float(msg.get("CreateTime") or time.time()),
        fetch=fetch,
    )


class WeChatChat:
    """One logged-in WeChat account over itchat."""

    def __init__(
        self, cfg: WeChatConfig, *, out: TextIO, on_qr: Callable[[bytes], None] | None = None
    ) -> None:
        self.cfg = cfg
        self._out = out
        self._on_qr_png = on_qr
        self._session: Path | None = None
        self._core: Any = None
        self._stopped_by_us = threading.Event()
        self._ended = threading.Event()
        self._retcodes = _RetcodeCatcher()
        self.nickname = ""

    # -- login ---------------------------------------------------------------------------
    def _probe(self) -> None:
        try:
            requests.get(self.cfg.login_url, timeout=10)
        except requests.RequestException as exc:
            raise LoginRefused(
                f"cannot reach WeChat at {self.cfg.login_url} ({type(exc).__name__}); check "
                "this machine's network and DNS, or [wechat] login_url"
            ) from None

    def _on_qr(self, qr_path: Path, deadline: float) -> Callable[..., None]:
        def callback(uuid: str = "", status: str = "", qrcode: bytes = b"") -> None:
            if status == "0" and qrcode:
                if self._on_qr_png is not None:
                    self._on_qr_png(qrcode)
                qr_path.write_bytes(qrcode)
                qr_path.chmod(0o600)
                print(terminal_qr(f"https://login.weixin.qq.com/l/{uuid}"), file=self._out)
                print(
                    f"Scan this QR code with WeChat to log in (also saved as {qr_path}).",
                    file=self._out,
                    flush=True,
                )
            elif status == "0":
                print(
                    "Confirm the login on your phone (or delete the session file in "
                    f"{self.cfg.state_dir} to get a new QR code).",
                    file=self._out,
                    flush=True,
                )
            elif status == "201":
                log.info("QR code scanned; waiting for confirmation on the phone")
            if time.monotonic() > deadline:
                raise _LoginTimeout

        return callback

    def preflight(self) -> Path:
        """Fail fast, before anything else starts: a safe state folder and a reachable WeChat."""
        self._session = prepare_state_dir(self.cfg.state_dir)
        self._probe()
        return self._session

    @property
    def receiving(self) -> bool:
        """True while itchat's receive loop runs."""
        return bool(self._core is not None and self._core.alive)

    def login(
        self,
        on_picture: Callable[[Picture], None],
        on_command: Callable[[str], None] | None = None,
    ) -> None:
        import itchat

        session = self._session or self.preflight()
        if patch_unescape(itchat.utils):
            log.info("patched itchat's HTMLParser.unescape for Python 3.9+")
        itchat.config.BASE_URL = self.cfg.login_url
        itchat.set_logging(showOnCmd=False, loggingLevel=logging.DEBUG)
        logging.getLogger("itchat").addHandler(self._retcodes)
        core = itchat.new_instance()
        adapter = _TimeoutAdapter(self.cfg.download_timeout_s)
        core.s.mount("http://", adapter)
        core.s.mount("https://", adapter)
        self._register(core, on_picture, on_command)
        deadline = time.monotonic() + self.cfg.login_timeout_s
        try:
            core.auto_login(
                hotReload=True,
                statusStorageDir=str(session),
                enableCmdQR=False,
                qrCallback=self._on_qr(self.cfg.state_dir / QR_FILE, deadline),
                loginCallback=lambda: None,
                exitCallback=self._ended.set,
            )
        except KeyError as exc:
            if exc.args == ("wxsid",):
                raise LoginRefused(REFUSED) from None
            raise
        except SystemExit:
            raise LoginRefused(
                f"cannot reach WeChat at {self.cfg.login_url}; check this machine's network"
            ) from None
        except _LoginTimeout:
            raise LoginRefused(
                f"nobody confirmed the login within {self.cfg.login_timeout_s:g}"
                " s; start the bot again and scan the QR code"
            ) from None
        except requests.RequestException as exc:
            raise LoginRefused(
                f"WeChat login failed ({type(exc).__name__}); try again later"
            ) from None
        if not core.alive:
            raise LoginRefused(REFUSED)
        if session.exists():
            session.chmod(0o600)
        self._core = core
        self.nickname = str(core.storageClass.nickName or "")
        (self.cfg.state_dir / QR_FILE).unlink(missing_ok=True)

    def _register(
        self,
        core: Any,
        on_picture: Callable[[Picture], None],
        on_command: Callable[[str], None] | None,
    ) -> None:
        from itchat.content import PICTURE, TEXT

        def picture(msg: Mapping[str, Any]) -> None:
            try:
                pic = picture_from_itchat(msg, me=str(core.storageClass.userName))
                if pic is not None:
                    on_picture(pic)
            except Exception:  # itchat would swallow it silently; log it instead
                log.exception("could not take picture message %s", msg.get("MsgId"))

        def text(msg: Mapping[str, Any]) -> None:
            # Only the account owner writing to their own file helper can give commands.
            me = str(core.storageClass.userName)
            if on_command is None or msg.get("FromUserName") != me:
                return
            if msg.get("ToUserName") != "filehelper":
                return
            try:
                on_command(html.unescape(str(msg.get("Text") or "")))
            except Exception:
                log.exception("file-helper command failed")

        core.msg_register(PICTURE, isFriendChat=True, isGroupChat=True)(picture)
        core.msg_register(TEXT, isFriendChat=True)(text)

    # -- groups ---------------------------------------------------------------------------
    def resolve_groups(self, wanted: tuple[str, ...]) -> list[str]:
        """Report how the configured group names match this account's groups."""
        rooms = self._core.get_chatrooms(update=True)
        names = [html.unescape(str(r.get("NickName") or "")) for r in rooms]
        if "*" in wanted:
            return [f"answering in every group ({len(names)} known now)"]
        lines = []
        for name in wanted:
            hits = [n for n in names if normalise_name(n) == normalise_name(name)]
            if not hits:
                lines.append(
                    f"group {name!r}: no such group on this account yet (check the "
                    "name; groups not saved to contacts appear once someone posts)"
                )
            elif len(hits) > 1:
                lines.append(
                    f"group {name!r}: {len(hits)} groups have this name; all are "
                    "answered — rename one to tell them apart"
                )
            else:
                lines.append(f"group {name!r}: found")
        return lines

    # -- sending --------------------------------------------------------------------------
    def send_text(self, chat_id: str, text: str) -> bool:
        answer = self._core.send(text, toUserName=chat_id)
        return bool(answer)

    # -- running --------------------------------------------------------------------------
    def run(self) -> None:
        """Receive until stopped or logged out; raise SessionEnded if WeChat ended it."""
        self._core.run(blockThread=True)
        self._ended.wait(5.0)
        if not self._stopped_by_us.is_set():
            code = self._retcodes.retcode
            raise SessionEnded(
                ENDED.get(
                    code or "",
                    f"WeChat ended the session (retcode {code or 'unknown'}); start the bot again",
                )
            )

    def stop(self) -> None:
        """Stop receiving but keep the session for a hot-reload start (no web logout)."""
        if self._core is None or self._stopped_by_us.is_set():
            return
        self._stopped_by_us.set()
        try:
            self._core.dump_login_status()
            session = self.cfg.state_dir / SESSION_FILE
            if session.exists():
                session.chmod(0o600)
        except Exception:
            log.exception("could not save the WeChat session")
        self._core.alive = False
