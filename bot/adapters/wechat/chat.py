"""``WeChatChat``: one logged-in WeChat account over itchat — the ``Chat`` port for WeChat.

Logs in (QR code in the terminal, as a PNG and on the status page; hot reload kept in the
private state folder), hands pictures to the core as neutral ``Picture`` events, passes the
owner's file-helper commands on, sends text, and reports how a session ended.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

from bot.adapters.wechat import login
from bot.adapters.wechat.messages import picture_from_itchat
from bot.adapters.wechat.state import QR_FILE, SESSION_FILE, prepare_state_dir
from bot.core.chat import CommandHandler, PictureHandler, QrHandler
from bot.core.names import display_name, normalise_name
from bot.core.settings import WeChatConfig
from bot.errors import SessionEnded

log = logging.getLogger(__name__)

FILEHELPER = "filehelper"


class WeChatChat:
    """One logged-in WeChat account over itchat."""

    name = "WeChat"

    def __init__(self, cfg: WeChatConfig, *, out: TextIO) -> None:
        self.cfg = cfg
        self._out = out
        self._itchat: Any = None
        self._stopped_by_us = threading.Event()
        self._ended = threading.Event()
        self._retcodes = login.RetcodeCatcher()
        self.account = ""

    @property
    def owner_chat(self) -> str | None:
        """Where the per-picture audit lines and command answers go: the file helper."""
        return FILEHELPER if self.cfg.filehelper_audit else None

    @property
    def command_chat(self) -> str:
        return FILEHELPER

    def preflight(self) -> None:
        """Fail fast, before anything else starts: a safe state folder and a reachable WeChat."""
        prepare_state_dir(self.cfg.session_dir)
        login.probe(self.cfg.login_url)

    def is_receiving(self) -> bool:
        """True while itchat's receive loop runs."""
        return bool(self._itchat is not None and self._itchat.alive)

    def connect(
        self, *, on_picture: PictureHandler, on_command: CommandHandler, on_qr: QrHandler
    ) -> None:
        """Log in (QR code or hot reload) and register the handlers; raises LoginRefused."""
        import itchat

        state_dir = self.cfg.session_dir
        session = state_dir / SESSION_FILE
        itchat.config.BASE_URL = self.cfg.login_url
        itchat.set_logging(showOnCmd=False, loggingLevel=logging.DEBUG)
        logging.getLogger("itchat").addHandler(self._retcodes)
        core = itchat.new_instance()
        adapter = login.TimeoutAdapter(self.cfg.download_timeout_s)
        core.s.mount("http://", adapter)
        core.s.mount("https://", adapter)
        self._register(core, on_picture, on_command)
        deadline = time.monotonic() + self.cfg.login_timeout_s
        login.auto_login(
            core,
            login_url=self.cfg.login_url,
            login_timeout_s=self.cfg.login_timeout_s,
            hotReload=True,
            statusStorageDir=str(session),
            enableCmdQR=False,
            qrCallback=login.qr_callback(
                qr_path=state_dir / QR_FILE,
                state_dir=state_dir,
                deadline=deadline,
                out=self._out,
                on_qr=on_qr,
            ),
            loginCallback=lambda: None,
            exitCallback=self._ended.set,
        )
        if session.exists():
            session.chmod(0o600)
        self._itchat = core
        self.account = display_name(html.unescape(str(core.storageClass.nickName or "")))
        (state_dir / QR_FILE).unlink(missing_ok=True)

    def _register(self, core: Any, on_picture: PictureHandler, on_command: CommandHandler) -> None:
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
            if msg.get("FromUserName") != me or msg.get("ToUserName") != FILEHELPER:
                return
            try:
                on_command(html.unescape(str(msg.get("Text") or "")))
            except Exception:
                log.exception("file-helper command failed")

        core.msg_register(PICTURE, isFriendChat=True, isGroupChat=True)(picture)
        core.msg_register(TEXT, isFriendChat=True)(text)

    def resolve_targets(self, wanted: tuple[str, ...]) -> list[str]:
        """Report how the configured group names match this account's groups."""
        rooms = self._itchat.get_chatrooms(update=True)
        names = [html.unescape(str(r.get("NickName") or "")) for r in rooms]
        if "*" in wanted:
            return [f"answering in every group ({len(names)} known now)"]
        lines = []
        for name in wanted:
            hits = [n for n in names if normalise_name(n) == normalise_name(name)]
            shown = display_name(name)
            if not hits:
                lines.append(
                    f"group {shown!r}: no such group on this account yet (check the "
                    "name; groups not saved to contacts appear once someone posts)"
                )
            elif len(hits) > 1:
                lines.append(
                    f"group {shown!r}: {len(hits)} groups have this name; all are "
                    "answered — rename one to tell them apart"
                )
            else:
                lines.append(f"group {shown!r}: found")
        return lines

    def send_text(self, chat_id: str, text: str) -> bool:
        answer = self._itchat.send(text, toUserName=chat_id)
        return bool(answer)

    def run(self) -> None:
        """Receive until stopped or logged out; raise SessionEnded if WeChat ended it."""
        self._itchat.run(blockThread=True)
        self._ended.wait(5.0)
        if not self._stopped_by_us.is_set():
            code = self._retcodes.retcode
            raise SessionEnded(
                login.ENDED.get(
                    code or "",
                    f"WeChat ended the session (retcode {code or 'unknown'}); start the bot again",
                )
            )

    def stop(self) -> None:
        """Stop receiving but keep the session for a hot-reload start (no web logout)."""
        if self._itchat is None or self._stopped_by_us.is_set():
            return
        self._stopped_by_us.set()
        try:
            self._itchat.dump_login_status()
            session = self.cfg.session_dir / SESSION_FILE
            if session.exists():
                session.chmod(0o600)
        except Exception:
            log.exception("could not save the WeChat session")
        self._itchat.alive = False
