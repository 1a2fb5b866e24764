"""JSON frames of the WeCom AI-bot long connection, as the server sends them.

Shapes follow wecom-aibot-python-sdk 1.0.2 (``aibot/ws.py``, ``aibot/message_handler.py``), the
Node SDK it mirrors (WecomTeam/aibot-node-sdk ``src/types``) and the official pages 接收消息
(document path 100719) and 智能机器人长连接 (101463). See /tmp/notes/wecom.md for the sources.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

CMD_SUBSCRIBE = "aibot_subscribe"
CMD_PING = "ping"
CMD_RESPOND = "aibot_respond_msg"
CMD_RESPOND_WELCOME = "aibot_respond_welcome_msg"
CMD_RESPOND_UPDATE = "aibot_respond_update_msg"
CMD_SEND = "aibot_send_msg"
CMD_MSG_CALLBACK = "aibot_msg_callback"
CMD_EVENT_CALLBACK = "aibot_event_callback"

ERR_OK = 0
# errmsg text of a real 853000 (WecomTeam/wecom-cli issues 12 and 24); the hint differs per call.
ERR_BAD_SECRET = 853000
ERRMSG_BAD_SECRET = "signature is incorrect, please check if the bot secret is correct"
# Seen in the wild for a stream updated after its window (sunnoy/openclaw-plugin-wecom issue 107).
ERR_STREAM_EXPIRED = 846608
ERRMSG_STREAM_EXPIRED = "stream message update expired"
# Not documented for this channel: the generic WeCom "invalid Request Parameter". The stand-in
# answers it for every malformed or unknown request (unknown req_id, unknown chat, bad body).
ERR_INVALID_REQUEST = 40058
# Seen in the wild on aibot_subscribe after a drop (the brief of issue 16): a rate limit.
ERR_FREQ_LIMIT = 45009
ERRMSG_FREQ_LIMIT = "api freq out of limit"
STREAM_CONTENT_MAX_BYTES = 20480  # aibot-node-sdk src/types/api.ts StreamReplyBody.content
MSG_ITEMS_MAX = 10  # ... StreamReplyBody.msg_item: "目前仅当 finish=true 时支持设置，最多 10 个"
MSG_ITEM_IMAGE_MAX_BYTES = 10 * 1024 * 1024  # ... ReplyMsgItem.image: JPG/PNG, at most 10M


@dataclass(frozen=True)
class Media:
    """One encrypted attachment: where it is served, its key, and the plaintext bytes."""

    url: str
    aeskey: str
    plaintext: bytes


@dataclass(frozen=True)
class Posted:
    """A callback the stand-in pushed: the frame, its ``req_id`` and ``msgid``, the media in it."""

    frame: Json
    media: tuple[Media, ...] = ()

    @property
    def req_id(self) -> str:
        return str(self.frame["headers"]["req_id"])

    @property
    def body(self) -> Json:
        body: Json = self.frame["body"]
        return body

    @property
    def msgid(self) -> str:
        return str(self.body["msgid"])


@dataclass
class ClientFrame:
    """A frame the client sent, with the connection it came on and the answer it got."""

    conn: int
    frame: Json
    at: float = field(default_factory=time.monotonic)
    answer: Json | None = None

    @property
    def cmd(self) -> str:
        return str(self.frame.get("cmd", ""))

    @property
    def req_id(self) -> str:
        headers = self.frame.get("headers") or {}
        return str(headers.get("req_id", ""))

    @property
    def body(self) -> Json:
        body = self.frame.get("body")
        return body if isinstance(body, dict) else {}

    @property
    def errcode(self) -> int | None:
        return None if self.answer is None else int(self.answer.get("errcode", -1))

    @property
    def stream(self) -> Json:
        stream = self.body.get("stream")
        return stream if isinstance(stream, dict) else {}

    @property
    def finish(self) -> bool:
        return bool(self.stream.get("finish", False))


def valid_msg_items(items: object, *, finished: bool) -> bool:
    """A stream's ``msg_item`` as WeCom takes it: only on the finishing frame, at most 10
    images, each JPEG or PNG base64 of at most 10 MB with the md5 of its bytes."""
    if not finished or not isinstance(items, list) or not 1 <= len(items) <= MSG_ITEMS_MAX:
        return False
    for item in items:
        image = item.get("image") if isinstance(item, dict) else None
        if not isinstance(image, dict) or item.get("msgtype") != "image":
            return False
        try:
            data = base64.b64decode(str(image.get("base64")), validate=True)
        except ValueError:
            return False
        if len(data) > MSG_ITEM_IMAGE_MAX_BYTES or not data.startswith((b"\xff\xd8", b"\x89PNG")):
            return False
        if image.get("md5") != hashlib.md5(data, usedforsecurity=False).hexdigest():
            return False
    return True


def new_req_id() -> str:
    # Real callback req_ids look like "4FcR2bSZRBevQKigbaUvNgAA" (AstrBot issue 5938 logs).
    return secrets.token_urlsafe(18)


def new_msgid() -> str:
    return secrets.token_hex(16)


def new_chatid() -> str:
    # Real group chatids look like "wrQoP7CwAAACtAB63uBJCS61p1sy3wGQ" (AstrBot issue 3724).
    return "wr" + secrets.token_urlsafe(22)[:30]


def ack(req_id: str, errcode: int = ERR_OK, errmsg: str = "ok") -> Json:
    """The answer to subscribe, ping and every reply/send: no ``cmd``, same ``req_id``."""
    if errcode != ERR_OK:
        hint = secrets.token_hex(12)
        errmsg = f"{errmsg}, hint: [{hint}], more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"
    return {"headers": {"req_id": req_id}, "errcode": errcode, "errmsg": errmsg}


def text_item(content: str) -> Json:
    return {"msgtype": "text", "text": {"content": content}}


def image_item(media: Media) -> Json:
    return {"msgtype": "image", "image": {"url": media.url, "aeskey": media.aeskey}}


def message_body(
    *,
    bot_id: str,
    from_userid: str,
    chatid: str | None,
    msgtype: str,
    payload: Json,
    quote: Json | None = None,
    create_time: int | None = None,
) -> Json:
    """``aibot_msg_callback`` body; ``chatid`` is present only in group chats (100719)."""
    body: Json = {"msgid": new_msgid(), "aibotid": bot_id}
    if chatid is not None:
        body["chatid"] = chatid
    body["chattype"] = "group" if chatid is not None else "single"
    body["from"] = {"userid": from_userid}
    body["create_time"] = int(time.time()) if create_time is None else create_time
    body["msgtype"] = msgtype
    body[msgtype] = payload
    if quote is not None:
        body["quote"] = quote
    return body


def event_body(
    *, bot_id: str, eventtype: str, from_userid: str | None = None, chatid: str | None = None
) -> Json:
    """``aibot_event_callback`` body (aibot-node-sdk src/types/event.ts ``EventMessage``)."""
    body: Json = {"msgid": new_msgid(), "create_time": int(time.time()), "aibotid": bot_id}
    if chatid is not None:
        body["chatid"] = chatid
        body["chattype"] = "group"
    elif from_userid is not None:
        body["chattype"] = "single"
    if from_userid is not None:
        body["from"] = {"userid": from_userid}
    body["msgtype"] = "event"
    body["event"] = {"eventtype": eventtype}
    return body


def push(cmd: str, body: Json) -> Json:
    return {"cmd": cmd, "headers": {"req_id": new_req_id()}, "body": body}
