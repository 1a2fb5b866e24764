"""itchat message dicts -> neutral ``Picture`` events, translated once, at the border.

No other module knows itchat's keys (``ActualNickName``, ``MsgType``, ...).
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from typing import Any

import requests

from bot.core.pictures import Picture
from bot.errors import DownloadFailed

PICTURE_TYPES = (3, 47, 49)


def picture_from_itchat(msg: Mapping[str, Any], *, me: str) -> Picture | None:
    """Translate an itchat message dict; None if it is no picture."""
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
    msg_id = str(msg.get("MsgId", ""))

    def fetch() -> bytes:
        try:
            data = download(None)
        except requests.RequestException as exc:
            raise DownloadFailed(
                f"WeChat did not deliver picture {msg_id} ({type(exc).__name__}); it is "
                "WeChat's side or this machine's network, nothing to fix in the bot"
            ) from exc
        if not isinstance(data, bytes):
            raise DownloadFailed(
                f"WeChat returned no bytes for picture {msg_id}; the message may have expired"
            )
        return data

    return Picture(
        msg_id=msg_id,
        chat_id=chat_id,
        chat_name=html.unescape(str(user.get("NickName") or "")),
        sender=html.unescape(sender),
        is_group=is_group,
        is_sticker=msg.get("MsgType") == 47,
        from_self=from_self,
        created_at=float(msg.get("CreateTime") or time.time()),
        fetch=fetch,
    )
