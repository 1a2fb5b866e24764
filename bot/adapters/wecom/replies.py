"""What the bot sends to WeCom: which callback a reply handle answers, and the SDK call for a
text or a picture.

A message's callback is answered on a stream of its ``req_id`` (``aibot_respond_msg``), finished
in one frame: a text as its ``content``; a picture as the ``msg_item`` of a finished stream
(``{"msgtype": "image", "image": {"base64", "md5"}}``, JPEG or PNG, at most 10 MB before base64:
aibot-node-sdk ``src/types/api.ts`` ``ReplyMsgItem``; SDK 1.0.2 ``reply_stream(msg_item=...)``).
A proactive message (``aibot_send_msg``, the owner's chat) takes markdown or a template card
only, so a picture cannot go there.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aibot import WSClient

# 接收消息 (100719): WeCom waits at most 6 minutes from the user's message for the finished
# stream. A reply is started no later than REPLY_DEADLINE_S, so its ack fits in the window.
STREAM_WINDOW_S = 360.0
REPLY_DEADLINE_S = 330.0
HANDLE = "wecom-reply:"
PICTURE_MAX_BYTES = 10 * 1024 * 1024
_PICTURE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")

Make = Callable[[WSClient], Awaitable[Any]]


@dataclass(frozen=True)
class Ticket:
    """A callback that may still be answered: one stream per picture."""

    req_id: str
    stream_id: str
    msg_id: str
    received: float


class Tickets:
    """Reply handles of the callbacks still inside WeCom's window (thread-safe)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tickets: dict[str, Ticket] = {}

    def issue(self, req_id: str, msg_id: str) -> str:
        now = self._clock()
        handle = HANDLE + secrets.token_hex(8)
        with self._lock:
            old = [h for h, t in self._tickets.items() if now - t.received > STREAM_WINDOW_S]
            for h in old:
                del self._tickets[h]
            self._tickets[handle] = Ticket(req_id, handle[len(HANDLE) :], msg_id, now)
        return handle

    def valid(self, handle: str) -> Ticket | str:
        """The ticket, or why it can no longer be answered."""
        with self._lock:
            ticket = self._tickets.get(handle)
        age = self._clock() - ticket.received if ticket else STREAM_WINDOW_S
        if ticket is None or age > REPLY_DEADLINE_S:
            return f"{age:.0f} s after the message, past WeCom's 6-minute window for answering it"
        return ticket


def stream_text(ticket: Ticket, text: str, *, finish: bool = True) -> Make:
    """The reply's text on its stream; ``finish=False`` shows it while more is coming."""
    headers = {"headers": {"req_id": ticket.req_id}}

    def make(client: WSClient) -> Awaitable[Any]:
        reply: Awaitable[Any] = client.reply_stream(headers, ticket.stream_id, text, finish=finish)
        return reply

    return make


def stream_picture(ticket: Ticket, data: bytes) -> Make | str:
    """The reply carrying one picture, or why WeCom would refuse it. It goes on a stream of
    its own: the ticket's stream may already be finished with a text."""
    if not data.startswith(_PICTURE_MAGIC):
        return "WeCom takes JPEG or PNG pictures only"
    if len(data) > PICTURE_MAX_BYTES:
        return f"the picture is {len(data):,} bytes; WeCom takes at most {PICTURE_MAX_BYTES:,}"
    item = {
        "msgtype": "image",
        "image": {
            "base64": base64.b64encode(data).decode(),
            "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        },
    }
    headers = {"headers": {"req_id": ticket.req_id}}
    stream_id = secrets.token_hex(8)

    def make(client: WSClient) -> Awaitable[Any]:
        reply: Awaitable[Any] = client.reply_stream(
            headers, stream_id, "", finish=True, msg_item=[item]
        )
        return reply

    return make


def markdown(chat_id: str, text: str) -> Make:
    body = {"msgtype": "markdown", "markdown": {"content": text}}

    def make(client: WSClient) -> Awaitable[Any]:
        message: Awaitable[Any] = client.send_message(chat_id, body)
        return message

    return make
