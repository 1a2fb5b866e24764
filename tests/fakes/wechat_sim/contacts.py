"""Groups and friends: world building, webwxinit and the contact list endpoints."""

from __future__ import annotations

import time

from tests.fakes.wechat_sim.core import _SimCore
from tests.fakes.wechat_sim.models import Json, _contact_template, _Group, _Person
from tests.fakes.wechat_sim.wire import _base, _json, _Request, _Response


class _Contacts(_SimCore):
    """Contact endpoints of :class:`WeChatSimulator`."""

    def add_group(
        self,
        nickname: str,
        members: list[str],
        *,
        display_names: dict[str, str] | None = None,
        saved_to_contacts: bool = True,
    ) -> str:
        """Create (or update the members of) a group the bot is in; return its ``@@`` id.

        ``display_names`` maps member nickname -> group display name (itchat's ActualNickName
        prefers it). ``saved_to_contacts=False``: absent from webwxgetcontact (still in the
        webwxinit recent-chat list and resolvable by batchgetcontact), like an unsaved group.
        """
        with self._cond:
            for m in members:
                self._people.setdefault(m, _Person(m))
            self._groups[nickname] = _Group(
                nickname, list(members), dict(display_names or {}), saved_to_contacts
            )
            return self._id(self._generation, "g", nickname)

    def add_friend(self, nickname: str) -> str:
        with self._cond:
            person = self._people.setdefault(nickname, _Person(nickname))
            person.friend = True
            return self._id(self._generation, "u", nickname)

    # ------------------------------------------------------------------ contacts
    def _user_json(self, gen: int, nickname: str) -> Json:
        c = _contact_template(self._id(gen, "u", nickname), nickname)
        if nickname == self.me:
            c["Uin"] = int(self._uin)
            c["ContactFlag"] = 0
        return c

    def _member_json(self, gen: int, group: _Group, nickname: str) -> Json:
        return {
            "Uin": 0,
            "UserName": self._id(gen, "u", nickname),
            "NickName": nickname,
            "AttrStatus": 0,
            "PYInitial": "",
            "PYQuanPin": "",
            "RemarkPYInitial": "",
            "RemarkPYQuanPin": "",
            "MemberStatus": 0,
            "DisplayName": group.display_names.get(nickname, ""),
            "KeyWord": "",
        }

    def _group_json(self, gen: int, group: _Group, *, with_members: bool) -> Json:
        room = self._id(gen, "g", group.nickname)
        c = _contact_template(room, group.nickname)
        everyone = [*group.members, self.me]
        c["MemberCount"] = len(everyone)
        c["ContactFlag"] = 3 if group.saved else 2
        c["EncryChatRoomId"] = self._encry_id(room)
        c["ChatRoomOwner"] = self._id(gen, "u", everyone[0])
        if with_members:
            c["MemberList"] = [self._member_json(gen, group, n) for n in everyone]
        return c

    def _webwxinit(self, req: _Request) -> _Response:
        body = req.json()
        with self._cond:
            s = self._session(req, body)
            if s is None or s.dead_retcode is not None:
                return _json({"BaseResponse": _base(1101), "Count": 0, "ContactList": []})
            gen = s.generation
            contacts = [self._group_json(gen, g, with_members=True) for g in self._groups.values()]
            contacts.append(_contact_template("filehelper", "文件传输助手"))
            s.inited = True
            self.logins += 1
            self.logged_in.set()
            self._cond.notify_all()
            return _json(
                {
                    "BaseResponse": _base(),
                    "Count": len(contacts),
                    "ContactList": contacts,
                    "SyncKey": self._synckey(self._seq),
                    "User": self._user_json(gen, self.me),
                    "ChatSet": ",".join(c["UserName"] for c in contacts) + ",",
                    "SKey": s.skey,
                    "ClientVersion": 1_661_077_505,
                    "SystemTime": int(time.time()),
                    "GrayScale": 1,
                    "InviteStartCount": 40,
                    "MPSubscribeMsgCount": 0,
                    "MPSubscribeMsgList": [],
                    "ClickReportInterval": 600_000,
                }
            )

    def _statusnotify(self, req: _Request) -> _Response:
        with self._lock:
            return _json({"BaseResponse": _base(), "MsgID": self._new_msg_id()})

    def _getcontact(self, req: _Request) -> _Response:
        with self._cond:
            s = self._live_session(req)
            if s is None or s.dead_retcode is not None:
                return _json(
                    {"BaseResponse": _base(1101), "MemberCount": 0, "MemberList": [], "Seq": 0}
                )
            gen = s.generation
            members: list[Json] = [
                self._user_json(gen, p.nickname) for p in self._people.values() if p.friend
            ]
            members += [
                self._group_json(gen, g, with_members=False)
                for g in self._groups.values()
                if g.saved
            ]
            return _json(
                {
                    "BaseResponse": _base(),
                    "MemberCount": len(members),
                    "MemberList": members,
                    "Seq": 0,
                }
            )

    def _batchgetcontact(self, req: _Request) -> _Response:
        body = req.json()
        with self._cond:
            s = self._live_session(req, body)
            if s is None or s.dead_retcode is not None:
                return _json({"BaseResponse": _base(1101), "Count": 0, "ContactList": []})
            found: list[Json] = []
            for item in body.get("List") or []:
                if not isinstance(item, dict):
                    continue
                key = self._names.get(str(item.get("UserName", "")))
                if key is None or key[0] != s.generation:
                    continue  # unknown, or an id from another login
                _, kind, nickname = key
                if kind == "g" and nickname in self._groups:
                    found.append(
                        self._group_json(s.generation, self._groups[nickname], with_members=True)
                    )
                elif kind == "u" and nickname in self._people:
                    found.append(self._user_json(s.generation, nickname))
            return _json({"BaseResponse": _base(), "Count": len(found), "ContactList": found})
