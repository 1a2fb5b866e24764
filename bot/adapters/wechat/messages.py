"""itchat message dicts -> neutral ``Picture`` and ``Question`` events, translated once, at the
border.

No other module knows itchat's keys (``ActualNickName``, ``MsgType``, ...).
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from bot.core.events import Picture, Question, peer_time

PICTURE_TYPES = (3, 47, 49)
STICKER_TYPES = (47, 49)  # 47: an emoticon; 49 with AppMsgType 8: an app sticker ("动画表情")
UNNAMED_SENDER = "朋友"
"""What a sender WeChat gives no name for is called (a reply must never start "@\\u2005")."""


class PictureSource(Protocol):
    """Where a picture's bytes come from, by its ``NewMsgId``; ``what`` names it in errors."""

    def picture(self, new_msg_id: str, *, what: str) -> bytes: ...


def picture_from_itchat(
    msg: Mapping[str, Any],
    *,
    me: str,
    source: PictureSource,
    name_of: Callable[[str], str],
) -> Picture | None:
    """Translate an itchat message dict; None if it is no picture.

    ``name_of(user_name)`` names a sender itchat left unnamed (e.g. from the contact list).
    """
    if msg.get("Type") != "Picture" or msg.get("MsgType") not in PICTURE_TYPES:
        return None
    from_user, to_user = str(msg.get("FromUserName", "")), str(msg.get("ToUserName", ""))
    user = msg.get("User") or {}
    is_group = from_user.startswith("@@") or to_user.startswith("@@")
    if is_group:
        chat_id = from_user if from_user.startswith("@@") else to_user
        actual, sender = _group_sender(msg, name_of)
        from_self = actual == me or from_user == me
    else:
        chat_id = to_user if from_user == me else from_user
        actual, sender = from_user, str(user.get("RemarkName") or user.get("NickName") or "")
        from_self = from_user == me
    msg_id = str(msg.get("MsgId") or "") or _no_msg_id(msg)
    new_msg_id = str(msg.get("NewMsgId") or msg.get("MsgId") or "")
    what = f"picture {msg_id}"
    return Picture(
        ref_ids=(str(msg.get("NewMsgId") or ""),),
        msg_id=msg_id,
        chat_id=chat_id,
        chat_name=html.unescape(str(user.get("NickName") or "")),
        sender=_named(sender),
        is_group=is_group,
        is_sticker=msg.get("MsgType") in STICKER_TYPES,
        from_self=from_self,
        created_at=peer_time(msg.get("CreateTime")),
        fetch=lambda: source.picture(new_msg_id, what=what),
        sender_id=actual,
    )


MAX_QUESTION_CHARS = 2000


QUOTE_APP_TYPE = 57  # 引用: MsgType 49 whose <refermsg> names the quoted message
MAX_QUOTE_XML = 20_000
_TITLE = re.compile(r"<title>(.*?)</title>", re.S)
_SVRID = re.compile(r"<refermsg>.*?<svrid>\s*(\d{1,20})\s*</svrid>", re.S)


def question_from_itchat(
    msg: Mapping[str, Any], *, me: str, my_names: tuple[str, ...], name_of: Callable[[str], str]
) -> Question | None:
    """A group text, or a quote (引用), that @-mentions this account (itchat's ``IsAt``); None
    for any other. The mention of the bot itself is taken out of the question."""
    from_user, to_user = str(msg.get("FromUserName", "")), str(msg.get("ToUserName", ""))
    if not msg.get("IsAt") or not (from_user.startswith("@@") or to_user.startswith("@@")):
        return None
    quotes = None
    if msg.get("Type") == "Text":
        text = str(msg.get("Text") or "")
    elif msg.get("Type") == "Sharing" and msg.get("AppMsgType") == QUOTE_APP_TYPE:
        xml = str(msg.get("Content") or "")[:MAX_QUOTE_XML]
        title, svrid = _TITLE.search(xml), _SVRID.search(xml)
        text = title.group(1) if title else ""
        quotes = svrid.group(1) if svrid else None
    else:
        return None
    actual, sender = _group_sender(msg, name_of)
    return Question(
        msg_id=str(msg.get("MsgId", "")),
        chat_id=from_user if from_user.startswith("@@") else to_user,
        chat_name=html.unescape(str((msg.get("User") or {}).get("NickName") or "")),
        sender=_named(sender),
        is_group=True,
        from_self=actual == me or from_user == me,
        created_at=peer_time(msg.get("CreateTime")),
        text=without_mentions(html.unescape(text), my_names)[:MAX_QUESTION_CHARS],
        quotes=quotes,
        sender_id=actual,
    )


def private_question(msg: Mapping[str, Any], *, me: str) -> Question | None:
    """A friend's text in a private chat: addressed to the bot (``[wechat] private_chats``
    decides whether it is answered); None for the bot's own texts and anything else."""
    from_user = str(msg.get("FromUserName", ""))
    if msg.get("Type") != "Text" or from_user == me or from_user.startswith("@@"):
        return None
    user = msg.get("User") or {}
    return Question(
        msg_id=str(msg.get("MsgId", "")),
        chat_id=from_user,
        chat_name=html.unescape(str(user.get("NickName") or "")),
        sender=_named(str(user.get("RemarkName") or user.get("NickName") or "")),
        is_group=False,
        from_self=False,
        created_at=peer_time(msg.get("CreateTime")),
        text=html.unescape(str(msg.get("Text") or ""))[:MAX_QUESTION_CHARS].strip(),
        sender_id=from_user,
    )


def without_mentions(text: str, names: tuple[str, ...]) -> str:
    """``text`` without "@name" of the bot's own names (followed by U+2005 or a space)."""
    for name in filter(None, names):
        text = re.sub("@" + re.escape(name) + "(\u2005| |$)", " ", text)
    return " ".join(text.split())


def _no_msg_id(msg: Mapping[str, Any]) -> str:
    """An id for a message WeChat sent without a MsgId: its NewMsgId, else one of its own, so
    two such pictures are two pictures (neither can be told apart from a replay of itself)."""
    return str(msg.get("NewMsgId") or "") or f"no-msgid-{uuid.uuid4().hex}"


def _group_sender(msg: Mapping[str, Any], name_of: Callable[[str], str]) -> tuple[str, str]:
    """A group message's sender: (their UserName, their name as the group shows it)."""
    actual = str(msg.get("ActualUserName") or "")
    sender = str(msg.get("ActualNickName") or "") or _member_name(msg.get("User") or {}, actual)
    return actual, sender or (name_of(actual) if actual else "")


def _named(sender: str) -> str:
    name = html.unescape(sender)
    return name if name.strip() else UNNAMED_SENDER


def _member_name(room: Mapping[str, Any], user_name: str) -> str:
    """The member's group display name or nickname from the room's member list, or ""."""
    for member in room.get("MemberList") or []:
        if isinstance(member, Mapping) and member.get("UserName") == user_name:
            return str(member.get("DisplayName") or member.get("NickName") or "")
    return ""
