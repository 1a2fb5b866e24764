"""``WeComChat``: a WeCom (企业微信) AI bot over its long connection — the ``Chat`` port for WeCom.

Messages become neutral events (``Picture``, ``Question`` for a text @ the bot, ``Command`` from
the owner) whose ``reply_to`` is a handle for the callback's ``req_id``: ``send(handle, Text)``
answers it with one finished stream reply; any other ``chat_id`` (the owner's userid) gets a
proactive markdown message. Messages are taken off the
SDK's loop onto a thread of their own, so screening and audit writes never hold the loop up.
"""

from __future__ import annotations

import atexit
import logging
import queue
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aibot import WSClient

from bot.adapters.wecom.link import Frame, Link
from bot.adapters.wecom.messages import Inbound, Media, inbound
from bot.adapters.wecom.settings import WeComConfig
from bot.adapters.wecom.words import trust_ca
from bot.core.chat import EventHandler, Image, Message, QrHandler, Sent
from bot.core.events import Command, Picture, Question
from bot.errors import DownloadFailed, LoginRefused

log = logging.getLogger(__name__)

# 接收消息 (100719): WeCom waits at most 6 minutes from the user's message for the finished
# stream. A reply is started no later than REPLY_DEADLINE_S, so its ack fits in the window.
STREAM_WINDOW_S = 360.0
REPLY_DEADLINE_S = 330.0
SEND_TIMEOUT_S = 15.0  # the SDK waits up to 5 s for each ack; replies on one req_id queue up
HANDLE = "wecom-reply:"


@dataclass(frozen=True)
class _Ticket:
    """A callback that may still be answered: one stream per picture."""

    req_id: str
    stream_id: str
    msg_id: str
    received: float


class WeComChat:
    """One WeCom AI bot, connected through the SDK's long connection."""

    name = "WeCom"

    def __init__(
        self,
        cfg: WeComConfig,
        *,
        download_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.account = f"WeCom AI bot {cfg.bot_id}"
        self._download_timeout_s = download_timeout_s
        self._clock = clock
        self._chats = cfg.chats
        self._lock = threading.Lock()
        self._tickets: dict[str, _Ticket] = {}
        self._unlisted: set[str] = set()
        self._inbox: queue.SimpleQueue[Frame] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._link: Link | None = None
        self._on_event: EventHandler = lambda event: None

    @property
    def owner_chat(self) -> str | None:
        """The owner's single chat (their userid) gets the one-line-per-picture audit."""
        return self.cfg.owner

    @property
    def command_chat(self) -> str:
        return self.cfg.owner or ""

    def preflight(self) -> None:
        """The Secret is set and the extra CA (if any) is readable; nothing is contacted."""
        if not self.cfg.secret:
            raise LoginRefused(
                f"the environment variable {self.cfg.secret_env} is not set: put the AI bot's "
                "Secret in it (WeCom admin console, the AI bot's API settings); [wecom] "
                "secret_env names the variable"
            )
        if self.cfg.ca_file is not None:
            trust_ca(self.cfg.ca_file)

    def _new_link(self) -> Link:
        assert self.cfg.bot_id is not None and self.cfg.secret is not None, "see preflight"
        return Link(
            bot_id=self.cfg.bot_id,
            secret=self.cfg.secret,
            secret_env=self.cfg.secret_env,
            ws_url=self.cfg.ws_url,
            ca_file=self.cfg.ca_file,
            request_timeout_s=self._download_timeout_s,
            on_frame=self._inbox.put,
        )

    def probe(self) -> str:
        """Connect, log in and disconnect (``check``); raise LoginRefused as ``run`` would."""
        self.preflight()
        link = self._new_link()
        try:
            link.start()
        finally:
            link.close()
        return f"{self.cfg.ws_url}: logged in as AI bot {self.cfg.bot_id}, then disconnected"

    def connect(self, *, on_event: EventHandler, on_qr: QrHandler) -> None:
        """Connect and log in (no QR code: the Bot ID and Secret); raises LoginRefused."""
        self._on_event = on_event
        self._link = self._new_link()
        threading.Thread(target=self._take_all, name="wecom-inbox", daemon=True).start()
        atexit.register(self._link.close)  # after shutdown: replies in hand went out by then
        self._link.start()

    def resolve_targets(self, wanted: tuple[str, ...]) -> list[str]:
        """Take the configured chats (at start and on reload) and say what will happen."""
        self._chats = wanted
        if "*" in wanted:
            return ["answering in every WeCom chat (groups that @ the bot, and single chats)"]
        return [f"chat {chat}: answered (WeCom lists no chats; a wrong id shows in the log)"
                for chat in wanted]  # fmt: skip

    def is_receiving(self) -> bool:
        return self._link is not None and self._link.connected and not self._stopping.is_set()

    def run(self) -> None:
        """Receive until ``stop``; raise SessionEnded when WeCom ended the connection."""
        assert self._link is not None, "connect first"
        while not self._stopping.is_set():
            if self._link.wait_ended(0.5):
                break
        end = self._link.end
        if end is not None and not self._stopping.is_set():
            raise end

    def stop(self) -> None:
        """Take no more messages; the connection stays up so replies in hand still go out."""
        self._stopping.set()

    # -- sending ----------------------------------------------------------------------------
    def send(self, chat_id: str, message: Message) -> Sent:
        """Answer a message's callback (``chat_id`` a reply handle) or message a userid."""
        if isinstance(message, Image):
            return Sent(False, "the WeCom transport sends text only", final=True)
        return self._send_text(chat_id, message.text)

    def _send_text(self, chat_id: str, text: str) -> Sent:
        if self._link is None:
            return Sent(False, "not connected to WeCom")
        make: Callable[[WSClient], Awaitable[Any]]
        if chat_id.startswith(HANDLE):
            with self._lock:
                ticket = self._tickets.get(chat_id)
            age = self._clock() - ticket.received if ticket else STREAM_WINDOW_S
            if ticket is None or age > REPLY_DEADLINE_S:
                why = f"{age:.0f} s after the message, past WeCom's 6-minute window"
                log.warning("WeCom reply not sent: %s for answering it", why)
                return Sent(False, why, final=True)
            headers = {"headers": {"req_id": ticket.req_id}}
            stream = ticket.stream_id
            what = f"reply to message {ticket.msg_id}"

            def make(c: WSClient) -> Awaitable[Any]:
                reply: Awaitable[Any] = c.reply_stream(headers, stream, text, finish=True)
                return reply
        else:
            what = f"message to {chat_id}"

            def make(c: WSClient) -> Awaitable[Any]:
                body = {"msgtype": "markdown", "markdown": {"content": text}}
                message: Awaitable[Any] = c.send_message(chat_id, body)
                return message

        try:
            self._link.call(make, SEND_TIMEOUT_S)
        except (RuntimeError, TimeoutError, ConnectionError, OSError) as exc:
            # RuntimeError is the SDK's "Reply ack error: errcode=..." (846608: window passed)
            why = str(exc) or type(exc).__name__
            log.warning("WeCom %s not delivered: %s", what, why)
            return Sent(False, why)
        return Sent(True)

    def _reply_handle(self, msg: Inbound, msg_id: str) -> str:
        now = self._clock()
        handle = HANDLE + secrets.token_hex(8)
        with self._lock:
            old = [h for h, t in self._tickets.items() if now - t.received > STREAM_WINDOW_S]
            for h in old:
                del self._tickets[h]
            self._tickets[handle] = _Ticket(msg.req_id, handle[len(HANDLE) :], msg_id, now)
        return handle

    # -- receiving (the inbox thread) -------------------------------------------------------
    def _take_all(self) -> None:
        while True:
            frame = self._inbox.get()
            try:
                self._take(frame)
            except Exception:  # one bad message never kills the inbox
                log.exception("could not take a WeCom message")

    def _take(self, frame: Frame) -> None:
        msg = inbound(frame)
        if msg is None:
            return
        if self._stopping.is_set():
            log.info("WeCom message %s arrived while stopping: not taken", msg.msgid)
            return
        listed = "*" in self._chats or msg.chat_id in self._chats
        if not listed and msg.chat_id not in self._unlisted:
            self._unlisted.add(msg.chat_id)
            kind = "group chatid" if msg.is_group else "single chat with userid"
            log.info(
                'WeCom %s %s is not in [wecom] chats: ignored; add "%s" to answer there',
                kind, msg.chat_id, msg.chat_id,
            )  # fmt: skip
        if msg.pictures:
            for msg_id, media in zip(msg.picture_ids(), msg.pictures, strict=True):
                self._on_event(self._picture(msg, msg_id, media))
        elif msg.msgtype == "text" and not msg.is_group and msg.sender == self.cfg.owner:
            self._on_event(Command(msg.text))
        elif msg.msgtype == "text" and listed:
            self._on_event(self._question(msg))
        elif msg.msgtype in ("voice", "file", "video"):
            self._on_event(self._not_a_picture(msg))
        else:
            why = "the bot answers pictures only" if listed else "chat not in [wecom] chats"
            log.info(
                "WeCom %s message %s in %s from %s ignored: %s",
                msg.msgtype, msg.msgid, msg.chat_id, msg.sender, why,
            )  # fmt: skip

    def _picture(self, msg: Inbound, msg_id: str, media: Media) -> Picture:
        return _event(
            msg,
            msg_id,
            fetch=lambda: self._fetch(msg_id, media),
            reply_to=self._reply_handle(msg, msg_id),
        )

    @staticmethod
    def _not_a_picture(msg: Inbound) -> Picture:
        """A voice message or file: audited as ignored, like a picture the rules leave out."""

        def nothing() -> bytes:
            raise AssertionError("an ignored message is never fetched")  # a bug if reached

        refused = f"{msg.msgtype} message: the bot answers pictures only"
        return _event(msg, msg.msgid, fetch=nothing, refused=refused)

    def _fetch(self, msg_id: str, media: Media) -> bytes:
        """Runs in the bot's worker pool; the download itself runs on the SDK's loop."""
        assert self._link is not None, "pictures arrive only once connected"
        try:
            return self._link.download(media.url, media.aeskey, self._download_timeout_s)
        except TimeoutError as exc:
            raise DownloadFailed(
                f"WeCom did not deliver picture {msg_id} within [wechat] download_timeout_s = "
                f"{self._download_timeout_s:g} s"
            ) from exc
        except aiohttp.ClientResponseError as exc:
            raise DownloadFailed(
                f"WeCom refused picture {msg_id} (HTTP {exc.status}); its link is valid about "
                "five minutes, so it may have expired"
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise DownloadFailed(
                f"WeCom did not deliver picture {msg_id} ({type(exc).__name__}); it is WeCom's "
                "side or this machine's network, nothing to fix in the bot"
            ) from exc
        except (RuntimeError, ValueError) as exc:  # the SDK's decrypt_file errors
            raise DownloadFailed(
                f"picture {msg_id} from WeCom could not be decrypted with its key; the file "
                "was damaged on WeCom's side, nothing to fix in the bot"
            ) from exc

    def _question(self, msg: Inbound) -> Question:
        """A text that @-mentions the bot (WeCom delivers only those from groups)."""
        return Question(
            msg_id=msg.msgid,
            chat_id=msg.chat_id,
            chat_name=msg.chat_id,
            sender=msg.sender,
            is_group=msg.is_group,
            from_self=False,
            created_at=msg.created_at,
            text=msg.text,
            reply_to=self._reply_handle(msg, msg.msgid),
            sender_id=msg.sender,
        )


def _event(
    msg: Inbound,
    msg_id: str,
    *,
    fetch: Callable[[], bytes],
    reply_to: str | None = None,
    refused: str | None = None,
) -> Picture:
    """The neutral event for one picture (or one ignored message) of a WeCom message."""
    return Picture(
        msg_id=msg_id,
        chat_id=msg.chat_id,
        chat_name=msg.chat_id,
        sender=msg.sender,
        is_group=msg.is_group,
        is_sticker=False,
        from_self=False,
        created_at=msg.created_at,
        fetch=fetch,
        reply_to=reply_to,
        refused=refused,
        sender_id=msg.sender,
        to_me=msg.is_group,
    )
