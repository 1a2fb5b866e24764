"""The stand-in object: :class:`WeComStandIn` (what tests push, and what they wait for)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from types import TracebackType

from websockets.asyncio.server import ServerConnection

from tests.fakes.wecom import frames as f
from tests.fakes.wecom.media import Fault
from tests.fakes.wecom.server import _Wire


class WeComStandIn(_Wire):
    """A WeCom AI-bot long-connection server for one bot, on 127.0.0.1 over TLS. Use ``with``.

    Knobs (plain attributes, read when a frame arrives): ``answer_pings``, ``ack_replies``
    (False: replies get no ack, the SDK times out after 5 s), ``stream_window_s`` (after it a
    stream update is answered 846608), ``kick_close_code``, ``refuse_subscribes`` (errcode and
    errmsg for each next login, e.g. ``(45009, "api freq out of limit")``; the socket stays
    open), ``drop_after_subscribe_s`` (each successful login is cut that long after),
    ``media.media_ttl_s``, ``media.expired_status``, ``media.huge_bytes``. Observations:
    ``frames`` (every client frame with its answer), ``pushed``, ``connections``,
    ``subscribes``, ``errors``, ``media.sent_bytes(media)``.
    """

    def __init__(
        self, *, bot_id: str = "aibTestBot0001", secret: str = "s3cret", bot_name: str = "识图"
    ) -> None:
        super().__init__(bot_id=bot_id, secret=secret)
        self.bot_name = bot_name

    def __enter__(self) -> WeComStandIn:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- pushing callbacks -------------------------------------------------------------------

    def new_chatid(self) -> str:
        return f.new_chatid()

    def post_image(
        self,
        from_userid: str,
        picture: bytes,
        *,
        fault: Fault = Fault.NONE,
        create_time: int | None = None,
    ) -> f.Posted:
        """A picture in the single chat with ``from_userid`` (``image`` exists only there);
        ``create_time`` overrides the message's time (seconds since the epoch by default)."""
        media = self.media.add(picture, fault=fault)
        payload = {"url": media.url, "aeskey": media.aeskey}
        return self._post(from_userid, None, "image", payload, (media,), create_time=create_time)

    def post_mixed(
        self,
        chatid: str | None,
        from_userid: str,
        text: str | None,
        pictures: Sequence[bytes],
        *,
        fault: Fault = Fault.NONE,
    ) -> f.Posted:
        """Text and pictures in one message; in a group ``text`` defaults to the @ of the bot."""
        media = tuple(self.media.add(p, fault=fault) for p in pictures)
        if text is None:
            text = f"@{self.bot_name}" if chatid is not None else ""
        items = ([f.text_item(text)] if text else []) + [f.image_item(m) for m in media]
        return self._post(from_userid, chatid, "mixed", {"msg_item": items}, media)

    def post_text(self, chatid: str | None, from_userid: str, text: str) -> f.Posted:
        """A text; in a group the server only delivers it if it @s the bot, so add the @ first."""
        return self._post(from_userid, chatid, "text", {"content": text})

    def post_quote(
        self,
        chatid: str | None,
        from_userid: str,
        text: str,
        quoted_picture: bytes,
        *,
        fault: Fault = Fault.NONE,
    ) -> f.Posted:
        """A text (e.g. "@识图 这是什么") quoting an earlier picture message."""
        media = self.media.add(quoted_picture, fault=fault)
        quote = {"msgtype": "image", "image": {"url": media.url, "aeskey": media.aeskey}}
        return self._post(from_userid, chatid, "text", {"content": text}, (media,), quote=quote)

    def post_voice(self, from_userid: str, transcript: str) -> f.Posted:
        """A voice message in a single chat: WeCom sends only its transcript."""
        return self._post(from_userid, None, "voice", {"content": transcript})

    def post_file(self, from_userid: str, data: bytes, filename: str = "report.pdf") -> f.Posted:
        """A file in a single chat; the download carries the name in Content-Disposition."""
        media = self.media.add(data, filename=filename)
        return self._post(
            from_userid, None, "file", {"url": media.url, "aeskey": media.aeskey}, (media,)
        )

    def post_event(
        self, eventtype: str, *, from_userid: str | None = None, chatid: str | None = None
    ) -> f.Json:
        """An ``aibot_event_callback`` (e.g. ``enter_chat``) to the subscribed connection."""
        frame = f.push(
            f.CMD_EVENT_CALLBACK,
            f.event_body(
                bot_id=self.bot_id, eventtype=eventtype, from_userid=from_userid, chatid=chatid
            ),
        )
        if eventtype == "enter_chat":
            self._remember(frame)
        self.run(self._send(self._current(), frame))
        return frame

    def redeliver(self, posted: f.Posted) -> f.Posted:
        """The same message (same ``msgid``, same media) pushed once more under a new
        ``req_id``, as a server that did not see the first push taken might do."""
        frame = f.push(f.CMD_MSG_CALLBACK, posted.body)
        self._remember(frame)
        self.run(self._send(self._current(), frame))
        return f.Posted(frame, posted.media)

    def _post(
        self,
        from_userid: str,
        chatid: str | None,
        msgtype: str,
        payload: f.Json,
        media: tuple[f.Media, ...] = (),
        *,
        quote: f.Json | None = None,
        create_time: int | None = None,
    ) -> f.Posted:
        body = f.message_body(
            bot_id=self.bot_id,
            from_userid=from_userid,
            chatid=chatid,
            msgtype=msgtype,
            payload=payload,
            quote=quote,
            create_time=create_time,
        )
        frame = f.push(f.CMD_MSG_CALLBACK, body)
        self._remember(frame)
        self.run(self._send(self._current(), frame))
        return f.Posted(frame, media)

    # -- connection faults -------------------------------------------------------------------

    def kick(self) -> None:
        """What another process subscribing as this bot causes: disconnected_event, then close."""
        ws = self._current()
        self.run(self._kick(ws))

    def drop(self) -> None:
        """Cut the subscribed connection without a close frame (TCP abort)."""
        ws: ServerConnection = self._current()
        self._loop.call_soon_threadsafe(ws.transport.abort)

    def drop_all(self) -> None:
        """Abort every open connection, subscribed or not."""
        with self._cond:
            conns = list(self._conns.values())
        for ws in conns:
            self._loop.call_soon_threadsafe(ws.transport.abort)

    # -- waiting -----------------------------------------------------------------------------

    def wait_until(
        self, check: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"WeCom stand-in: no {what} within {timeout_s} s; "
                        f"frames: {[(r.conn, r.cmd, r.errcode) for r in self.frames]}"
                    )
                self._cond.wait(left)

    def wait_subscribed(self, count: int = 1, timeout_s: float = 5.0) -> None:
        """Until ``count`` subscriptions succeeded in total and one is live."""
        self.wait_until(
            lambda: self.subscribes >= count and self._subscribed is not None,
            timeout_s,
            f"successful subscription #{count}",
        )

    def wait_frame(
        self,
        match: Callable[[f.ClientFrame], bool],
        timeout_s: float = 5.0,
        what: str = "matching client frame",
    ) -> f.ClientFrame:
        found: list[f.ClientFrame] = []

        def check() -> bool:
            found[:] = [r for r in self.frames if match(r)]
            return bool(found)

        self.wait_until(check, timeout_s, what)
        return found[0]

    def wait_reply(
        self, req_id: str, *, finished: bool = True, timeout_s: float = 5.0
    ) -> f.ClientFrame:
        """The first ``aibot_respond_msg`` on ``req_id`` (with ``finish`` true if ``finished``)."""
        return self.wait_frame(
            lambda r: r.cmd == f.CMD_RESPOND and r.req_id == req_id and (r.finish or not finished),
            timeout_s,
            f"reply to {req_id}" + (" with finish=true" if finished else ""),
        )

    def replies(self, req_id: str) -> list[f.ClientFrame]:
        with self._cond:
            return [r for r in self.frames if r.cmd == f.CMD_RESPOND and r.req_id == req_id]

    def sent_messages(self) -> list[f.ClientFrame]:
        """Every ``aibot_send_msg`` (proactive message) the client sent."""
        with self._cond:
            return [r for r in self.frames if r.cmd == f.CMD_SEND]

    @property
    def is_subscribed(self) -> bool:
        with self._cond:
            return self._subscribed is not None


__all__ = ["Fault", "WeComStandIn"]
