"""``WeComChat``: a WeCom (企业微信) AI bot over its long connection — the ``Chat`` port for WeCom.

Messages become neutral events (``Picture``, ``Question`` for a text @ the bot, ``Command`` from
the owner) whose ``reply_to`` is a handle for the callback's ``req_id``: ``send(handle, Text)``
answers it with one finished stream reply, ``send(handle, Image)`` with a picture on a stream of
its own; any other ``chat_id`` (the owner's userid) gets a proactive markdown message (``replies``
says what WeCom takes). Messages are taken off the SDK's loop onto a thread of their own, so
screening and audit writes never hold the loop up.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from bot.adapters.wecom import replies
from bot.adapters.wecom.link import Frame, Link
from bot.adapters.wecom.messages import Inbound, Media, inbound
from bot.adapters.wecom.settings import WeComConfig
from bot.adapters.wecom.words import trust_ca
from bot.core.chat import Draft, EventHandler, Image, Message, PhaseHandler, QrHandler, Sent
from bot.core.events import Command, Picture, Question
from bot.errors import LoginRefused

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 15.0  # the SDK waits up to 5 s for each ack; replies on one req_id queue up
STREAM_EXPIRED = "errcode=846608"  # the SDK's "Reply ack error": the window has passed
STOPPING = "the bot was stopping: not answered"  # a picture that came after SIGTERM


class WeComChat:
    """One WeCom AI bot, connected through the SDK's long connection."""

    name = "WeCom"
    streams = True

    def __init__(
        self,
        cfg: WeComConfig,
        *,
        download_timeout_s: float,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.account = f"WeCom AI bot {cfg.bot_id}"
        self._download_timeout_s = download_timeout_s
        self._max_bytes = max_bytes
        self._chats = cfg.chats
        self._tickets = replies.Tickets(clock)
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

    def connect(self, *, on_event: EventHandler, on_qr: QrHandler, on_phase: PhaseHandler) -> None:
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

    def close(self) -> None:
        """Disconnect now (``connect`` has it done at exit, after replies in hand went out)."""
        if self._link is not None:
            self._link.close()

    # -- sending ----------------------------------------------------------------------------
    def send(self, chat_id: str, message: Message) -> Sent:
        """Answer a message's callback (``chat_id`` a reply handle) or message a userid."""
        if not chat_id.startswith(replies.HANDLE):
            if isinstance(message, Draft):
                return Sent(False, "only an answer to a message can stream", final=True)
            if isinstance(message, Image):  # aibot_send_msg takes markdown or a card only
                why = "WeCom lets an AI bot send a picture only as the answer to a message"
                return Sent(False, why, final=True)
            return self._deliver(replies.markdown(chat_id, message.text), f"message to {chat_id}")
        ticket = self._tickets.valid(chat_id)
        if isinstance(ticket, str):
            log.warning("WeCom reply not sent: %s", ticket)
            return Sent(False, ticket, final=True)
        what = f"reply to message {ticket.msg_id}"
        if isinstance(message, Image):
            make = replies.stream_picture(ticket, message.data)
            if isinstance(make, str):
                log.warning("WeCom %s not sent: %s", what, make)
                return Sent(False, make, final=True)
            return self._deliver(make, what)
        if isinstance(message, Draft):
            return self._deliver(replies.stream_text(ticket, message.text, finish=False), what)
        return self._deliver(replies.stream_text(ticket, message.text), what)

    def _deliver(self, make: replies.Make, what: str) -> Sent:
        if self._link is None:
            return Sent(False, "not connected to WeCom")
        try:
            self._link.call(make, SEND_TIMEOUT_S)
        except (RuntimeError, TimeoutError, ConnectionError, OSError) as exc:
            # RuntimeError is the SDK's "Reply ack error: errcode=..." (846608: window passed)
            why = str(exc) or type(exc).__name__
            log.warning("WeCom %s not delivered: %s", what, why)
            return Sent(False, why, final=STREAM_EXPIRED in why)
        return Sent(True)

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
        msg = replace(msg, chat_name=self.cfg.chat_names.get(msg.chat_id, msg.chat_id))
        if self._stopping.is_set():
            # WeCom keeps no queue for a bot that is away: this message is seen now or never.
            # A picture is audited (not answered) so that every picture seen has its row.
            for msg_id in msg.picture_ids() if msg.pictures else ():
                self._on_event(_event(msg, msg_id, fetch=_not_fetched, refused=STOPPING))
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
        asked = without_mention(msg.text)
        if msg.pictures and asked:  # a photo (mixed, or quoted) with a question about it
            pictures = tuple(
                self._picture(msg, msg_id, media)
                for msg_id, media in zip(msg.picture_ids(), msg.pictures, strict=True)
            )
            self._on_event(self._question(msg, pictures))
        elif msg.pictures:
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
            reply_to=self._tickets.issue(msg.req_id, msg_id),
        )

    @staticmethod
    def _not_a_picture(msg: Inbound) -> Picture:
        """A voice message or file: audited as ignored, like a picture the rules leave out."""
        refused = f"{msg.msgtype} message: the bot answers pictures only"
        return _event(msg, msg.msgid, fetch=_not_fetched, refused=refused)

    def _fetch(self, msg_id: str, media: Media) -> bytes:
        """Runs in the bot's worker pool; the download itself runs on the SDK's loop. Raises
        DownloadFailed or ImageError (larger than ``[images] max_bytes``)."""
        assert self._link is not None, "pictures arrive only once connected"
        return self._link.download(
            media.url,
            media.aeskey,
            timeout_s=self._download_timeout_s,
            max_bytes=self._max_bytes,
            what=f"picture {msg_id}",
        )

    def _question(self, msg: Inbound, pictures: tuple[Picture, ...] = ()) -> Question:
        """A text that @-mentions the bot (WeCom delivers only those from groups), with the
        pictures sent or quoted with it."""
        return Question(
            msg_id=msg.msgid,
            chat_id=msg.chat_id,
            chat_name=msg.chat_name,
            sender=msg.sender,
            is_group=msg.is_group,
            from_self=False,
            created_at=msg.created_at,
            text=without_mention(msg.text),
            pictures=pictures,
            reply_to=self._tickets.issue(msg.req_id, msg.msgid),
            sender_id=msg.sender,
        )


def _not_fetched() -> bytes:
    raise AssertionError("an ignored message is never fetched")  # a bug if reached


def without_mention(text: str) -> str:
    """A group text without its leading "@bot" (WeCom delivers only texts that @ the bot)."""
    words = text.split(maxsplit=1)
    if words and words[0].startswith("@"):
        return words[1].strip() if len(words) > 1 else ""
    return text.strip()


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
        chat_name=msg.chat_name,
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
