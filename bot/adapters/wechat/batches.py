"""One malformed message costs only itself, not the sync batch it came in.

itchat's receive loop turns a whole ``webwxsync`` batch into messages in one call
(``produce_msg``): an entry whose ``FromUserName`` is missing or not a string raises there, the
loop swallows the error, and every good picture of the same batch is lost without a trace.
``guard_batches`` wraps ``get_msg`` of one itchat instance (itchat itself is not changed): each
entry is checked and turned into a message on its own, good ones are queued as itchat would
queue them, bad ones are logged with their MsgId and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

_ADDRESSES = ("FromUserName", "ToUserName")


def problem(entry: object) -> str | None:
    """Why this AddMsgList entry cannot be a message, or None when it looks like one."""
    if not isinstance(entry, Mapping):
        return f"an entry that is a {type(entry).__name__}, not an object"
    for key in _ADDRESSES:
        if key not in entry:
            return f"no {key}"
        if not isinstance(entry[key], str):
            return f"{key} is a {type(entry[key]).__name__}, not a string"
    if not isinstance(entry.get("MsgType"), int) or isinstance(entry.get("MsgType"), bool):
        return "no numeric MsgType"
    if not isinstance(entry.get("Content", ""), str):
        return "Content is not a string"
    return None


def msg_id_of(entry: object) -> str:
    """The entry's MsgId for a log line (shortened, never raw control characters), or "?"."""
    raw = entry.get("MsgId") if isinstance(entry, Mapping) else None
    return repr(str(raw)[:40]) if raw is not None else "?"


def guard_batches(core: Any) -> None:
    """Make ``core.get_msg`` queue each good entry of a batch itself and drop the bad ones."""
    from itchat.components.messages import produce_msg

    fetch = core.get_msg

    def get_msg() -> tuple[Any, Any]:
        entries, contacts = fetch()
        if entries is None:  # WeChat answered an error: itchat handles that as before
            return entries, contacts
        if not isinstance(entries, list):
            log.warning("dropped a WeChat batch that is a %s, not a list", type(entries).__name__)
            return [], contacts
        for entry in entries:
            why = problem(entry)
            if why is not None:
                log.warning("dropped malformed WeChat message %s: %s", msg_id_of(entry), why)
                continue
            try:
                messages = produce_msg(core, [entry])
            except Exception:
                log.exception("dropped WeChat message %s that itchat cannot read", msg_id_of(entry))
                continue
            for message in messages:
                core.msgList.put(message)
        # Every entry is queued or dropped: the receive loop has nothing left to produce.
        return [], contacts

    core.get_msg = get_msg
