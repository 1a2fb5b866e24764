"""Media and sending: picture downloads, uploads, the send endpoints and their records."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from http import HTTPStatus

from tests.fakes.wechat_sim.core import _SimCore
from tests.fakes.wechat_sim.models import _TINY_GIF, Json, SentMessage, _Msg, _Session
from tests.fakes.wechat_sim.wire import _base, _json, _Request, _Response


class _Media(_SimCore):
    """Picture download and send endpoints of :class:`WeChatSimulator`."""

    def wait_for_sent(
        self,
        predicate: Callable[[SentMessage], bool],
        *,
        count: int = 1,
        timeout_s: float = 10.0,
    ) -> list[SentMessage]:
        """Wait until ``count`` recorded sends match; return all matching ones (in order)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                matches = [s for s in self.sent if predicate(s)]
                if len(matches) >= count:
                    return matches
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    lines = "\n".join(f"  {s!r}" for s in self.sent) or "  (nothing)"
                    raise AssertionError(
                        f"expected {count} matching sent message(s) within {timeout_s}s, "
                        f"got {len(matches)}; all sent messages:\n{lines}"
                    )
                self._cond.wait(remaining)

    # ------------------------------------------------------------------ media
    def _getmsgimg(self, req: _Request) -> _Response:
        with self._lock:
            data = self._images.get(req.query.get("msgid", ""))
        if self.image_status != 200:
            status = self.image_status
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = ""
            page = f"<html><head><title>{status} {phrase}</title></head><body></body></html>"
            return _Response(status=status, body=page.encode(), content_type="text/html")
        if self.image_body_override is not None:
            override = self.image_body_override
            ctype = "text/html" if override.lstrip()[:1] == b"<" else "image/jpeg"
            return _Response(body=override, content_type=ctype)
        if data is None:
            return _Response(status=404, body=b"<html>404</html>", content_type="text/html")
        ctype = (
            "image/gif"
            if data[:3] == b"GIF"
            else ("image/png" if data[:4] == b"\x89PNG" else "image/jpeg")
        )
        return _Response(body=data, content_type=ctype)

    # ------------------------------------------------------------------ sending
    def _record_send(self, req: _Request, body: Json, *, media_key: str | None = None) -> _Response:
        raw_msg = body.get("Msg")
        msg: Json = raw_msg if isinstance(raw_msg, dict) else {}
        with self._cond:
            s = self._session(req, body)
            if s is None or s.dead_retcode is not None:
                ret = 1101
            elif self.send_fail_count > 0:
                self.send_fail_count -= 1
                ret = self.send_ret
            else:
                ret = 0
            to_user = str(msg.get("ToUserName", ""))
            content = str(msg.get("Content", "") or "")
            msg_type = int(msg.get("Type", 1) or 1)
            msg_id = self._new_msg_id()
            media = self._media.get(str(msg.get(media_key, ""))) if media_key else None
            sent = SentMessage(
                to_user=to_user,
                to_nickname=self.nickname_of(to_user),
                content=content,
                time=time.monotonic(),
                msg_type=msg_type,
                from_user=str(msg.get("FromUserName", "")),
                local_id=str(msg.get("LocalID", "")),
                msg_id=msg_id,
                ret=ret,
                media=media,
            )
            self.sent.append(sent)
            if ret == 0 and self.echo_sent and msg_type == 1 and s is not None:
                self._echo(s, sent)
            self._cond.notify_all()
        return _json({"BaseResponse": _base(ret), "MsgID": msg_id, "LocalID": sent.local_id})

    def _echo(self, s: _Session, sent: SentMessage) -> None:
        key = self._names.get(sent.to_user)
        if sent.to_user == "filehelper":
            chat, peer = "filehelper", "filehelper"
        elif key is not None and key[1] == "g":
            chat, peer = "group", key[2]
        elif key is not None:
            chat, peer = "private", key[2]
        else:
            return
        self._seq += 1
        self._append(
            _Msg(
                self._seq,
                sent.msg_id,
                int(sent.msg_id),
                1,
                chat,
                peer,
                self.me,
                sent.content,
                None,
                int(time.time()),
            )
        )

    def _sendmsg(self, req: _Request) -> _Response:
        return self._record_send(req, req.json())

    def _sendmedia(self, req: _Request) -> _Response:
        return self._record_send(req, req.json(), media_key="MediaId")

    def _uploadmedia(self, req: _Request) -> _Response:
        ctype = req.headers.get("content-type", "")
        parsed = BytesParser(policy=policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + req.body
        )
        data = b""
        request: Json = {}
        for part in parsed.iter_parts() if parsed.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            raw = payload if isinstance(payload, bytes) else b""
            if name == "filename":
                data = raw
            elif name == "uploadmediarequest":
                with contextlib.suppress(ValueError):
                    request = json.loads(raw.decode("utf-8", "replace"))
        media_id = "@crypt_" + secrets.token_hex(24)
        with self._lock:
            self._media[media_id] = data
        return _json(
            {
                "BaseResponse": _base(),
                "MediaId": media_id,
                "StartPos": len(data),
                "CDNThumbImgHeight": 0,
                "CDNThumbImgWidth": 0,
                "EncryFileName": "",
                "ClientMediaId": request.get("ClientMediaId", 0),
            }
        )

    def _revoke(self, req: _Request) -> _Response:
        return _json({"BaseResponse": _base(), "Introduction": "", "SysWording": ""})

    def _icon(self, req: _Request) -> _Response:
        return _Response(body=_TINY_GIF, content_type="image/gif")
