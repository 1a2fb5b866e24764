"""Incoming messages: queueing them, synccheck, and their rendering in webwxsync."""

from __future__ import annotations

import dataclasses
import hashlib
import time

from tests.fakes.wechat_sim.core import _SimCore
from tests.fakes.wechat_sim.models import (
    Json,
    _escape,
    _Msg,
    _parse_synckey_json,
    _parse_synckey_param,
    image_size,
)
from tests.fakes.wechat_sim.wire import _base, _js, _json, _Request, _Response

QUOTE_APP_TYPE = 57  # 引用: a quote of an earlier message


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Sync(_SimCore):
    """Message queue and sync endpoints of :class:`WeChatSimulator`."""

    def _resolve_chat(self, group: str | None, sender: str, to_filehelper: bool) -> tuple[str, str]:
        if sender not in self._people:
            raise ValueError(f"unknown sender {sender!r}: add_group/add_friend first")
        if to_filehelper:
            if sender != self.me:
                raise ValueError("only the bot itself (me) writes to the file helper")
            return "filehelper", "filehelper"
        if group is None:
            if sender == self.me:
                raise ValueError("a private message from me needs the friend's nickname as group")
            return "private", sender
        if group in self._groups:
            g = self._groups[group]
            if sender != self.me and sender not in g.members:
                raise ValueError(f"{sender!r} is not a member of {group!r}")
            return "group", group
        if group in self._people:
            if sender not in (group, self.me):
                raise ValueError(f"a private chat with {group!r} is between them and me")
            return "private", group
        raise ValueError(f"no group or friend {group!r}")

    def post_picture(
        self,
        group: str | None,
        sender: str,
        image: bytes,
        *,
        msg_type: int = 3,
        create_time: float | None = None,
        msg_id: str | None = None,
    ) -> str:
        """Queue a picture (3), sticker (47) or app-image (49, AppMsgType 8); return its MsgId.

        ``group=None``: a private picture from ``sender`` (a friend or member) to the bot.
        ``group=<friend nickname>``: a private chat with that friend; ``sender`` is the friend, or
        the bot itself for a picture the owner sent from the phone. ``sender == me`` in a group:
        FromUserName is the bot and ToUserName the room (the owner posted from the phone).
        """
        if msg_type not in (3, 47, 49):
            raise ValueError("msg_type must be 3 (picture), 47 (sticker) or 49 (app image)")
        with self._cond:
            chat, peer = self._resolve_chat(group, sender, False)
            mid = msg_id or self._new_msg_id()
            new_id = int(mid) if mid.isdigit() else int(hashlib.sha1(mid.encode()).hexdigest(), 16)
            new_id %= 10**19
            self._images[mid] = image
            self._images[str(new_id)] = image
            self._seq += 1
            self._append(
                _Msg(
                    seq=self._seq,
                    msg_id=mid,
                    new_msg_id=new_id,
                    msg_type=msg_type,
                    chat=chat,
                    peer=peer,
                    sender=sender,
                    text="",
                    image=image,
                    create_time=int(create_time if create_time is not None else time.time()),
                )
            )
            return mid

    def post_text(
        self, group: str | None, sender: str, text: str, *, to_filehelper: bool = False
    ) -> str:
        """Queue a text message (same addressing as post_picture); return its MsgId."""
        with self._cond:
            chat, peer = self._resolve_chat(group, sender, to_filehelper)
            mid = self._new_msg_id()
            self._seq += 1
            self._append(
                _Msg(self._seq, mid, int(mid), 1, chat, peer, sender, text, None, int(time.time()))
            )
            return mid

    def post_quote(self, group: str, sender: str, text: str, quoted_msg_id: str) -> str:
        """Queue a quote (引用: MsgType 49, AppMsgType 57) of an earlier message in ``group``:
        ``text`` is what the sender wrote (its <title>); <refermsg><svrid> names the quoted
        message by its NewMsgId, as the phone writes it. Returns the quote's MsgId."""
        with self._cond:
            chat, peer = self._resolve_chat(group, sender, False)
            quoted = next(m for m in reversed(self._messages) if m.msg_id == quoted_msg_id)
            mid = self._new_msg_id()
            self._seq += 1
            self._append(
                _Msg(
                    self._seq, mid, int(mid), 49, chat, peer, sender, text, None,
                    int(time.time()), quotes=quoted.new_msg_id,
                )
            )  # fmt: skip
            return mid

    def redeliver(self, msg_id: str) -> None:
        """Deliver the same AddMsgList entry (same MsgId/NewMsgId) once more."""
        with self._cond:
            for m in reversed(self._messages):
                if m.msg_id == msg_id:
                    self._seq += 1
                    self._append(dataclasses.replace(m, seq=self._seq))
                    return
        raise KeyError(f"no message {msg_id!r}")

    def drop_connections(self, count: int = 1) -> None:
        """The next ``count`` synccheck requests get their socket closed without an answer."""
        with self._cond:
            self._drop_left += count

    @property
    def pending_drops(self) -> int:
        """How many of the ``drop_connections`` are still to happen."""
        with self._lock:
            return self._drop_left

    def fail_synccheck(self, count: int = 1, status: int = 500) -> None:
        """The next ``count`` synccheck requests answer this HTTP status (itchat counts errors)."""
        with self._cond:
            self._fail_left += count
            self._fail_status = status

    # ------------------------------------------------------------------ messages
    def _synccheck(self, req: _Request) -> _Response:
        def answer(retcode: int, selector: int) -> _Response:
            return _js(f'window.synccheck={{retcode:"{retcode}",selector:"{selector}"}}')

        with self._cond:
            if self._drop_left > 0:
                self._drop_left -= 1
                return _Response(drop=True)
            if self._fail_left > 0:
                self._fail_left -= 1
                return _Response(
                    status=self._fail_status, body=b"<html>error</html>", content_type="text/html"
                )
            s = self._session(req)
            client_seq = _parse_synckey_param(req.query.get("synckey", ""))
            deadline = time.monotonic() + self.synccheck_hold_s
            while True:
                if s is None:
                    return answer(1101, 0)
                if s.dead_retcode is not None:
                    return answer(s.dead_retcode, 0)
                if self._seq > client_seq:
                    return answer(0, 2)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closing:
                    return answer(0, 0)
                self._cond.wait(remaining)

    def _render(self, m: _Msg, gen: int) -> Json:
        me_id = self._id(gen, "u", self.me)
        prefix = ""
        if m.chat == "filehelper":
            from_user, to_user = me_id, "filehelper"
        elif m.chat == "group":
            room = self._id(gen, "g", m.peer)
            if m.sender == self.me:
                from_user, to_user = me_id, room
            else:
                from_user, to_user = room, me_id
                prefix = self._id(gen, "u", m.sender) + ":<br/>"
        else:
            peer = self._id(gen, "u", m.peer)
            from_user, to_user = (me_id, peer) if m.sender == self.me else (peer, me_id)
        width = height = 0
        app_type = 0
        if m.image is not None:
            width, height = image_size(m.image)
            n = len(m.image)
            md5 = hashlib.md5(m.image).hexdigest()
            if m.msg_type == 47:
                xml = (
                    f'<msg><emoji fromusername="{from_user}" tousername="{to_user}" type="2" '
                    f'idbuffer="media:0_0" md5="{md5}" len="{n}" productid="" '
                    f'androidmd5="{md5}" androidlen="{n}" cdnurl="http://emoji.qpic.cn/wx_emoji/'
                    f'{md5}/" designerid="" thumburl="" encrypturl="" aeskey="" externurl="" '
                    f'externmd5="" width="{width}" height="{height}"></emoji></msg>'
                )
            elif m.msg_type == 49:
                app_type = 8
                xml = (
                    '<msg><appmsg appid="" sdkver="0"><title></title><des></des><type>8</type>'
                    f"<appattach><totallen>{n}</totallen><attachid></attachid></appattach>"
                    "</appmsg></msg>"
                )
            else:
                aes = md5[::-1]
                xml = (
                    '<?xml version="1.0"?>\n<msg>\n\t<img aeskey="' + aes + '" encryver="1" '
                    f'cdnthumbaeskey="{aes}" cdnthumburl="3057020100044b30490201000204{md5}" '
                    f'cdnthumblength="{n}" cdnthumbheight="{height}" cdnthumbwidth="{width}" '
                    'cdnmidheight="0" cdnmidwidth="0" cdnhdheight="0" cdnhdwidth="0" '
                    f'cdnmidimgurl="3057020100044b30490201000204{md5}" length="{n}" '
                    f'md5="{md5}" />\n\t<platform_signature></platform_signature>\n'
                    "\t<imgdatahash></imgdatahash>\n</msg>\n"
                )
            content = prefix + _escape(xml)
        elif m.quotes is not None:
            app_type = QUOTE_APP_TYPE
            xml = (
                '<?xml version="1.0"?>\n<msg>\n<appmsg appid="" sdkver="0">'
                f"<title>{_xml(m.text)}</title><des></des><type>57</type><url></url>"
                f"<refermsg><type>3</type><svrid>{m.quotes}</svrid><fromusr>{to_user}</fromusr>"
                f"<chatusr>{from_user}</chatusr><displayname></displayname>"
                "<content>&lt;msg&gt;&lt;img /&gt;&lt;/msg&gt;</content></refermsg>"
                f"</appmsg><fromusername>{from_user}</fromusername></msg>"
            )
            content = prefix + _escape(xml)
        else:
            content = prefix + _escape(m.text)
        return {
            "MsgId": m.msg_id,
            "FromUserName": from_user,
            "ToUserName": to_user,
            "MsgType": m.msg_type,
            "Content": content,
            "Status": 3,
            "ImgStatus": 2 if m.image is not None else 1,
            "CreateTime": m.create_time,
            "VoiceLength": 0,
            "PlayLength": 0,
            "FileName": "",
            "FileSize": "",
            "MediaId": "",
            "Url": "",
            "AppMsgType": app_type,
            "StatusNotifyCode": 0,
            "StatusNotifyUserName": "",
            "RecommendInfo": {
                "UserName": "",
                "NickName": "",
                "QQNum": 0,
                "Province": "",
                "City": "",
                "Content": "",
                "Signature": "",
                "Alias": "",
                "Scene": 0,
                "VerifyFlag": 0,
                "AttrStatus": 0,
                "Sex": 0,
                "Ticket": "",
                "OpCode": 0,
            },
            "ForwardFlag": 0,
            "AppInfo": {"AppID": "", "Type": 0},
            "HasProductId": 0,
            "Ticket": "",
            "ImgHeight": height,
            "ImgWidth": width,
            "SubMsgType": 0,
            "NewMsgId": m.new_msg_id,
            "OriContent": "",
            "EncryFileName": "",
        }

    def _webwxsync(self, req: _Request) -> _Response:
        body = req.json()
        with self._cond:
            s = self._session(req, body)
            client_seq = _parse_synckey_json(body.get("SyncKey"))
            if s is None or s.dead_retcode is not None:
                ret = 1101 if s is None or s.dead_retcode is None else s.dead_retcode
                return _json(
                    {
                        "BaseResponse": _base(ret),
                        "AddMsgCount": 0,
                        "AddMsgList": [],
                        "ModContactCount": 0,
                        "ModContactList": [],
                        "SyncKey": self._synckey(client_seq),
                        "SyncCheckKey": self._synckey(client_seq),
                    }
                )
            msgs = [self._render(m, s.generation) for m in self._messages if m.seq > client_seq]
            top = max(client_seq, self._seq)
            return _json(
                {
                    "BaseResponse": _base(),
                    "AddMsgCount": len(msgs),
                    "AddMsgList": msgs,
                    "ModContactCount": 0,
                    "ModContactList": [],
                    "DelContactCount": 0,
                    "DelContactList": [],
                    "ModChatRoomMemberCount": 0,
                    "ModChatRoomMemberList": [],
                    "Profile": {"BitFlag": 0},
                    "ContinueFlag": 0,
                    "SyncKey": self._synckey(top),
                    "SyncCheckKey": self._synckey(top),
                    "SKey": s.skey,
                }
            )
