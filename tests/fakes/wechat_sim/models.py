"""Constants, records (people, groups, sessions, messages, sends) and Web WeChat formats."""

from __future__ import annotations

import contextlib
import struct
from dataclasses import dataclass
from typing import Any, Final

API: Final = "/cgi-bin/mmwebwx-bin"
MSG_1203: Final = (
    "为了你的帐号安全，此微信号不能登录网页微信。你可以使用Windows微信或Mac微信在电脑端登录。"
    "Windows微信下载地址：https://pc.weixin.qq.com  Mac微信下载地址：https://mac.weixin.qq.com"
)
_SYNC_OTHER_KEYS: Final = ((2, 700_000_101), (3, 700_000_052), (1000, 1_700_000_000))
_TINY_GIF: Final = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)

Json = dict[str, Any]
MISSING: Final = object()  # a mangled AddMsgList key that is left out


@dataclass(frozen=True)
class SentMessage:
    """One send request the client made (``webwxsendmsg`` and the media variants)."""

    to_user: str  # ToUserName as sent: "@@room", "@user" or "filehelper"
    to_nickname: str  # the group/friend/member nickname, "filehelper", or "" if unknown
    content: str  # Msg.Content ("" for pictures)
    time: float  # time.monotonic() when the server received it
    msg_type: int = 1  # Msg.Type: 1 text, 3 picture, 47 emoticon, 6 file, 43 video
    from_user: str = ""
    local_id: str = ""
    msg_id: str = ""  # the MsgID this server answered
    ret: int = 0  # BaseResponse.Ret this server answered (non-zero = itchat saw a failure)
    media: bytes | None = None  # the uploaded bytes for picture/file sends

    @property
    def ok(self) -> bool:
        return self.ret == 0


@dataclass
class _Person:
    nickname: str
    friend: bool = False


@dataclass
class _Group:
    nickname: str
    members: list[str]
    display_names: dict[str, str]
    saved: bool = True


@dataclass
class _Session:
    sid: str
    skey: str
    generation: int
    data_ticket: str
    uvid: str
    auth_ticket: str
    loadtime: str
    dead_retcode: int | None = None
    inited: bool = False


@dataclass
class _PendingLogin:
    uuid: str
    created: float
    scan_at: float | None
    push: bool
    scanned: bool = False
    done: bool = False


@dataclass(frozen=True)
class _Msg:
    seq: int
    msg_id: str
    new_msg_id: int
    msg_type: int
    chat: str  # "group", "private" or "filehelper"
    peer: str  # group nickname, the other person's nickname, or "filehelper"
    sender: str  # nickname; the bot's own nickname for messages from the owner's phone
    text: str
    image: bytes | None
    create_time: int
    mangle: tuple[tuple[str, object], ...] = ()  # AddMsgList keys replaced (MISSING: removed)
    quotes: int | None = None  # a quote (MsgType 49, AppMsgType 57): the quoted NewMsgId


def _escape(text: str) -> str:
    """Web WeChat message text: HTML-escaped, newlines as <br/>."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br/>")
    )


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, GIF or JPEG, (0, 0) for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return int(w), int(h)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return 0, 0
            marker = data[i + 1]
            if marker == 0xFF:
                i += 1
                continue
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            (seglen,) = struct.unpack(">H", data[i + 2 : i + 4])
            i += 2 + int(seglen)
    return 0, 0


def _parse_synckey_param(value: str) -> int:
    for item in value.split("|"):
        key, _, val = item.partition("_")
        if key == "1" and val.lstrip("-").isdigit():
            return int(val)
    return 0


def _parse_synckey_json(obj: object) -> int:
    if isinstance(obj, dict):
        for item in obj.get("List") or []:
            if isinstance(item, dict) and item.get("Key") == 1:
                with contextlib.suppress(TypeError, ValueError):
                    return int(item.get("Val", 0))
    return 0


def _contact_template(user_name: str, nickname: str) -> Json:
    return {
        "Uin": 0,
        "UserName": user_name,
        "NickName": nickname,
        "HeadImgUrl": f"{API}/webwxgeticon?seq=0&username={user_name}&skey=",
        "ContactFlag": 3,
        "MemberCount": 0,
        "MemberList": [],
        "RemarkName": "",
        "HideInputBarFlag": 0,
        "Sex": 0,
        "Signature": "",
        "VerifyFlag": 0,
        "OwnerUin": 0,
        "PYInitial": "",
        "PYQuanPin": "",
        "RemarkPYInitial": "",
        "RemarkPYQuanPin": "",
        "StarFriend": 0,
        "AppAccountFlag": 0,
        "Statues": 0,
        "AttrStatus": 0,
        "Province": "",
        "City": "",
        "Alias": "",
        "SnsFlag": 0,
        "UniFriend": 0,
        "DisplayName": "",
        "ChatRoomId": 0,
        "KeyWord": "",
        "EncryChatRoomId": "",
        "IsOwner": 0,
    }
