"""``WeChatChat``: one logged-in WeChat account over itchat — the ``Chat`` port for WeChat.

Logs in (QR code in the terminal, as a PNG and on the status page; hot reload kept in the
private state folder), hands the core neutral events (``Picture``; ``Question`` for a group text
that @-mentions the account; ``Command`` for the owner's file-helper messages), sends text and
pictures, and reports how a session ended.
"""

from __future__ import annotations

import contextlib
import html
import io
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from bot.adapters.wechat import login
from bot.adapters.wechat.batches import guard_batches
from bot.adapters.wechat.download import Downloader
from bot.adapters.wechat.messages import (
    picture_from_itchat,
    private_question,
    question_from_itchat,
)
from bot.adapters.wechat.settings import WeChatConfig
from bot.adapters.wechat.state import QR_FILE, SESSION_FILE, prepare_state_dir
from bot.core.chat import Draft, EventHandler, Image, Message, PhaseHandler, QrHandler, Sent
from bot.core.events import Command
from bot.core.names import display_name, normalise_name
from bot.errors import ReceiveFailed, SessionEnded

log = logging.getLogger(__name__)

FILEHELPER = "filehelper"
RECEIVER_END_S = 1.0  # at a stop, how long to wait for itchat's receiving thread to end


class WeChatChat:
    """One logged-in WeChat account over itchat."""

    name = "WeChat"
    streams = False

    def __init__(
        self,
        cfg: WeChatConfig,
        *,
        state_dir: Path,
        download_timeout_s: float,
        max_bytes: int,
        out: TextIO,
    ) -> None:
        self.cfg = cfg
        self._state_dir = state_dir
        self._download_timeout_s = download_timeout_s
        self._out = out
        self._max_bytes = max_bytes
        self._itchat: Any = None
        self._downloader: Downloader | None = None
        self._logged_in_at = time.monotonic()
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
        prepare_state_dir(self._state_dir)
        login.probe(self.cfg.login_url)

    def is_receiving(self) -> bool:
        """True while itchat's receive loop runs."""
        return bool(self._itchat is not None and self._itchat.alive)

    def connect(self, *, on_event: EventHandler, on_qr: QrHandler, on_phase: PhaseHandler) -> None:
        """Log in (QR code or hot reload) and register the handlers; raises LoginRefused."""
        with contextlib.redirect_stdout(io.StringIO()):  # itchat writes "█\r" at import
            import itchat

        state_dir = self._state_dir
        session = state_dir / SESSION_FILE
        itchat.config.BASE_URL = self.cfg.login_url
        itchat.set_logging(showOnCmd=False, loggingLevel=logging.DEBUG)
        logging.getLogger("itchat").addHandler(self._retcodes)
        core = itchat.new_instance()
        adapter = login.TimeoutAdapter(self._download_timeout_s)
        core.s.mount("http://", adapter)
        core.s.mount("https://", adapter)
        self._downloader = Downloader(
            core.s, timeout_s=self._download_timeout_s, max_bytes=self._max_bytes
        )
        guard_batches(core)
        self._register(core, on_event)
        narrator = login.LoginNarrator(
            session=session,
            qr_path=state_dir / QR_FILE,
            deadline=time.monotonic() + self.cfg.login_timeout_s,
            out=self._out,
            on_qr=on_qr,
            on_phase=on_phase,
        )
        narrator.install(core)
        login.auto_login(
            core,
            login_url=self.cfg.login_url,
            login_timeout_s=self.cfg.login_timeout_s,
            hotReload=True,
            statusStorageDir=str(session),
            enableCmdQR=False,
            qrCallback=narrator.qr_callback,
            loginCallback=lambda: None,
            exitCallback=self._ended.set,
        )
        if session.exists():
            session.chmod(0o600)
        self._itchat = core
        self._logged_in_at = time.monotonic()
        self.account = display_name(html.unescape(str(core.storageClass.nickName or "")))
        (state_dir / QR_FILE).unlink(missing_ok=True)

    def _register(self, core: Any, on_event: EventHandler) -> None:
        from itchat.content import PICTURE, SHARING, TEXT

        pictures = _Pictures(core, self._downloader)

        def picture(msg: Mapping[str, Any]) -> None:
            try:
                pic = picture_from_itchat(
                    msg, me=str(core.storageClass.userName), source=pictures, name_of=pictures.name
                )
                if pic is not None:
                    on_event(pic)
            except Exception:  # itchat would swallow it silently; log it instead
                log.exception("could not take picture message %s", msg.get("MsgId"))

        def text(msg: Mapping[str, Any]) -> None:
            # Only the account owner writing to their own file helper can give commands; a
            # friend's text in a private chat is addressed to the bot (a question).
            me = str(core.storageClass.userName)
            try:
                if msg.get("FromUserName") == me and msg.get("ToUserName") == FILEHELPER:
                    on_event(Command(html.unescape(str(msg.get("Text") or ""))))
                elif (question := private_question(msg, me=me)) is not None:
                    on_event(question)
            except Exception:
                log.exception("could not take text message %s", msg.get("MsgId"))

        def group_text(msg: Mapping[str, Any]) -> None:
            try:
                room_self = (msg.get("User") or {}).get("Self") or {}
                nick = html.unescape(str(core.storageClass.nickName or ""))
                names = (html.unescape(str(room_self.get("DisplayName") or "")), nick)
                question = question_from_itchat(
                    msg, me=str(core.storageClass.userName), my_names=names, name_of=pictures.name
                )
                if question is not None:
                    on_event(question)
            except Exception:
                log.exception("could not take text message %s", msg.get("MsgId"))

        core.msg_register(PICTURE, isFriendChat=True, isGroupChat=True)(picture)
        core.msg_register(TEXT, isFriendChat=True)(text)
        core.msg_register([TEXT, SHARING], isGroupChat=True)(group_text)

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

    def send(self, chat_id: str, message: Message) -> Sent:
        if isinstance(message, Draft):
            return Sent(False, "web WeChat cannot show an answer while it is written", final=True)
        if isinstance(message, Image):
            # In memory: itchat uploads from a file object; the name only sets the MIME type.
            answer = self._itchat.send_image(
                message.name, toUserName=chat_id, file_=io.BytesIO(message.data)
            )
        else:
            text = message.text
            if chat_id.startswith("@") and not chat_id.startswith("@@"):
                text = _without_mention(text)
            answer = self._itchat.send(text, toUserName=chat_id)
        if answer:
            return Sent(True)
        return _refusal(answer)

    def run(self) -> None:
        """Receive until stopped or logged out; raise SessionEnded if WeChat ended it."""
        try:
            self._itchat.run(blockThread=True)
        finally:
            # Whoever ended the session, nothing more can be downloaded: end downloads now.
            if self._downloader is not None:
                self._downloader.stop()
        if self._stopped_by_us.is_set():
            self._take_fetched()
            self._save_session()
            # itchat's receiving thread may have been between a sync and queueing its
            # messages while the session was saved past them: once it has ended, take those.
            if self._ended.wait(RECEIVER_END_S):
                self._take_fetched()
            return  # stopped by a signal: the session is kept, nothing to report
        self._ended.wait(5.0)  # itchat logs the retcode before it calls exitCallback
        if not self._stopped_by_us.is_set():
            running_s = time.monotonic() - self._logged_in_at
            if self._retcodes.retcode is None:  # WeChat said nothing: the loop failed on our side
                raise ReceiveFailed(
                    f"the receive loop stopped after {login.running_for(running_s)} of running, "
                    "on errors on this machine or its network (logged above, e.g. too many open "
                    "files), not because WeChat ended the session; start the bot again"
                )
            raise SessionEnded(login.ended_message(self._retcodes.retcode, running_s))

    def stop(self) -> None:
        """Stop receiving but keep the session for a hot-reload start (no web logout)."""
        if self._itchat is None or self._stopped_by_us.is_set():
            return
        self._stopped_by_us.set()
        if self._downloader is not None:
            self._downloader.stop()  # a picture in hand must not hold the shutdown
        self._itchat.alive = False  # ``run`` takes what was fetched, then saves the session

    def _take_fetched(self) -> None:
        """Take the messages itchat fetched but had not handed over when it stopped. The
        saved session's SyncKey is past them: WeChat would never deliver them again."""
        fetched = self._itchat.msgList
        while not fetched.empty():
            self._itchat.configured_reply()  # one message, to its handler

    def _save_session(self) -> None:
        try:
            self._itchat.dump_login_status()
            session = self._state_dir / SESSION_FILE
            if session.exists():
                session.chmod(0o600)
        except Exception:
            log.exception("could not save the WeChat session")


class _Pictures:
    """Picture bytes and unnamed senders, from one logged-in itchat instance."""

    def __init__(self, itchat_core: Any, downloader: Downloader | None) -> None:
        self._itchat = itchat_core
        self._downloader = downloader

    def picture(self, new_msg_id: str, *, what: str) -> bytes:
        """The request itchat's own download builds, sent through the bounded Downloader."""
        from itchat import config

        assert self._downloader is not None, "connect() builds the downloader first"
        info = self._itchat.loginInfo
        return self._downloader.get(
            f"{info['url']}/webwxgetmsgimg",
            params={"msgid": new_msg_id, "skey": str(info.get("skey") or "")},
            headers={"User-Agent": config.USER_AGENT},
            what=what,
        )

    def name(self, user_name: str) -> str:
        """A sender itchat left unnamed in a group, if this account knows them as a contact."""
        friend = self._itchat.search_friends(userName=user_name)
        if not friend:
            return ""
        return html.unescape(str(friend.get("RemarkName") or friend.get("NickName") or ""))


def _refusal(answer: Mapping[str, Any]) -> Sent:
    """A failed send in plain words, with WeChat's ``Ret`` (no code is documented to mean
    "wait": the paced sender's retries and gaps are the answer to "too often")."""
    base = answer.get("BaseResponse") if isinstance(answer, Mapping) else None
    ret = base.get("Ret") if isinstance(base, Mapping) else None
    return Sent(False, f"WeChat refused the message (Ret {ret})")


def _without_mention(text: str) -> str:
    """A leading "@name\u2005" of a reply template: WeChat @mentions only in groups."""
    head, sep, rest = text.partition("\u2005")
    if sep and head.startswith("@") and "\n" not in head and len(head) <= 64:
        return rest
    return text
