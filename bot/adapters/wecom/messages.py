"""``aibot_msg_callback`` frames -> ``Inbound``, translated once, at the border.

No other module knows WeCom's keys (``chattype``, ``msg_item``, ``aeskey``, ...). Shapes: the
official page 接收消息 (document path 100719) and the SDK's Node twin (aibot-node-sdk
``src/types/message.ts``): group messages carry ``chatid``, single chats do not (the chat is
the sender's userid); a picture comes as ``image`` (single chats), as ``mixed`` items (groups,
with the @ text) or as the ``quote`` of a text that @s the bot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.events import peer_time

PICTURE_TYPES = ("image", "mixed")


@dataclass(frozen=True)
class Media:
    """One encrypted picture: where to fetch it (valid about five minutes) and its key."""

    url: str
    aeskey: str


@dataclass(frozen=True)
class Inbound:
    """One message callback, as the adapter needs it."""

    req_id: str
    msgid: str
    msgtype: str
    chat_id: str
    """The group's chatid, or the sender's userid in a single chat."""
    sender: str
    is_group: bool
    created_at: float
    text: str
    pictures: tuple[Media, ...]
    chat_name: str = ""
    """What the owner calls this chat ([wecom] chat_names), else its id."""

    def picture_ids(self) -> list[str]:
        """One audit/dedup id per picture: the msgid, suffixed when a message holds several."""
        if len(self.pictures) == 1:
            return [self.msgid]
        return [f"{self.msgid}#{n}" for n in range(1, len(self.pictures) + 1)]


def _media(part: Any) -> Media | None:
    if not isinstance(part, Mapping):
        return None
    url, key = part.get("url"), part.get("aeskey")
    if not isinstance(url, str) or not url:
        return None
    return Media(url, key if isinstance(key, str) else "")


def _content(kind: str, holder: Mapping[str, Any]) -> tuple[str, list[Media]]:
    """Text and pictures of a message (or of its quote) of type ``kind``."""
    part = holder.get(kind)
    if not isinstance(part, Mapping):
        return "", []
    if kind == "text":
        return str(part.get("content") or ""), []
    if kind == "image":
        found = _media(part)
        return "", [found] if found else []
    if kind == "mixed":
        texts: list[str] = []
        pictures: list[Media] = []
        for item in part.get("msg_item") or ():
            if not isinstance(item, Mapping):
                continue
            sub_text, sub_pictures = _content(str(item.get("msgtype") or ""), item)
            texts += [sub_text] if sub_text else []
            pictures += sub_pictures
        return " ".join(texts), pictures
    return "", []


def inbound(frame: Mapping[str, Any]) -> Inbound | None:
    """Translate a message callback frame; None if it lacks what every message has."""
    body = frame.get("body")
    headers = frame.get("headers")
    if not isinstance(body, Mapping) or not isinstance(headers, Mapping):
        return None
    sender = body.get("from")
    userid = sender.get("userid") if isinstance(sender, Mapping) else None
    msgid, msgtype = body.get("msgid"), body.get("msgtype")
    if not userid or not msgid or not msgtype:
        return None
    chatid = body.get("chatid")
    is_group = body.get("chattype") == "group" or bool(chatid)
    text, pictures = _content(str(msgtype), body)
    quote = body.get("quote")
    if isinstance(quote, Mapping):
        _, quoted = _content(str(quote.get("msgtype") or ""), quote)
        pictures += quoted
    return Inbound(
        req_id=str(headers.get("req_id") or ""),
        msgid=str(msgid),
        msgtype=str(msgtype),
        chat_id=str(chatid) if chatid else str(userid),
        sender=str(userid),
        is_group=is_group,
        created_at=peer_time(body.get("create_time")),  # seconds, or milliseconds
        text=text.strip(),
        pictures=tuple(pictures),
    )
