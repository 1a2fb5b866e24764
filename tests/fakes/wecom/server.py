"""The wire side of the stand-in: TLS, the event-loop thread, the WebSocket protocol."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import trustme
from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.fakes.wecom import frames as f
from tests.fakes.wecom.media import MediaStore

T = TypeVar("T")


@dataclass
class _Callback:
    """A pushed callback the client may answer: when, in which chat, its streams."""

    posted: float
    chat: str
    streams: dict[str, bool] = field(default_factory=dict)  # stream id -> finished


class _Wire:
    """TLS material, the loop thread, connections and the answers to client frames."""

    def __init__(self, *, bot_id: str, secret: str) -> None:
        self.bot_id = bot_id
        self.secret = secret
        # knobs, read when a frame arrives
        self.answer_pings = True
        self.ack_replies = True
        self.stream_window_s = 360.0  # 100719: "最多等待6min"
        self.kick_close_code = 1000
        self.refuse_subscribes: list[tuple[int, str]] = []  # the next logins: these errcodes
        self.drop_after_subscribe_s: float | None = None  # cut each login after this long
        # observations
        self.frames: list[f.ClientFrame] = []
        self.pushed: list[f.Json] = []
        self.connections = 0
        self.subscribes = 0
        self.errors: list[str] = []

        self._cond = threading.Condition()
        self._conns: dict[int, ServerConnection] = {}
        self._subscribed: int | None = None
        self._callbacks: dict[str, _Callback] = {}
        self._known_chats: set[str] = set()
        self.media = MediaStore()

        self._dir = Path(tempfile.mkdtemp(prefix="wecom-standin-"))
        ca = trustme.CA()
        self._ca_file = self._dir / "ca.pem"
        ca.cert_pem.write_to_path(str(self._ca_file))
        self._server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(self._server_ssl)

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="wecom-standin", daemon=True
        )
        self._thread.start()
        self._ws_server: Server | None = None
        self._runner: web.AppRunner | None = None
        self.ws_port, self.media_port = self.run(self._start())
        self.media.base_url = f"https://127.0.0.1:{self.media_port}"

    @property
    def ca_file(self) -> Path:
        """PEM of the throw-away CA that signed the server certificate (for 127.0.0.1)."""
        return self._ca_file

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.ws_port}"

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 5.0) -> T:
        """Run ``coro`` on the stand-in's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    async def _start(self) -> tuple[int, int]:
        self._ws_server = await serve(
            self._handle, "127.0.0.1", 0, ssl=self._server_ssl, ping_interval=None
        )
        self._runner = web.AppRunner(self.media.app(), access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock, ssl_context=self._server_ssl).start()
        media_port = int(sock.getsockname()[1])
        return int(self._ws_server.sockets[0].getsockname()[1]), media_port

    async def _stop(self) -> None:
        if self._ws_server is not None:
            self._ws_server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws_server.wait_closed(), 3)
        if self._runner is not None:
            await self._runner.cleanup()
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- connections -------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        with self._cond:
            self.connections += 1
            conn = self.connections
            self._conns[conn] = ws
            self._cond.notify_all()
        try:
            async for raw in ws:
                await self._on_frame(conn, ws, raw)
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                self._conns.pop(conn, None)
                if self._subscribed == conn:
                    self._subscribed = None
                self._cond.notify_all()

    async def _on_frame(self, conn: int, ws: ServerConnection, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
            if not isinstance(frame, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            with self._cond:
                self.errors.append(f"conn {conn}: unparsable frame {raw!r:.200}: {exc}")
            return
        rec = f.ClientFrame(conn, frame)
        with self._cond:
            rec.answer = self._answer(rec)
            kicked = (
                self._take_over(conn) if rec.cmd == f.CMD_SUBSCRIBE and rec.errcode == 0 else []
            )
            self.frames.append(rec)
            self._cond.notify_all()
        if rec.answer is not None:
            await ws.send(json.dumps(rec.answer, ensure_ascii=False))
        if rec.cmd == f.CMD_SUBSCRIBE and rec.errcode == 0 and self.drop_after_subscribe_s:
            self._loop.call_later(self.drop_after_subscribe_s, ws.transport.abort)
        for old in kicked:
            await self._kick(old)

    def _take_over(self, conn: int) -> list[ServerConnection]:
        """A new subscription for the bot ends the previous one (101463 连接数量限制)."""
        old = [ws for n, ws in self._conns.items() if n != conn and n == self._subscribed]
        self._subscribed = conn
        self.subscribes += 1
        return old

    async def _kick(self, ws: ServerConnection) -> None:
        body = f.event_body(bot_id=self.bot_id, eventtype="disconnected_event")
        await self._send(ws, f.push(f.CMD_EVENT_CALLBACK, body))
        await ws.close(self.kick_close_code)

    async def _send(self, ws: ServerConnection, frame: f.Json) -> None:
        with self._cond:
            self.pushed.append(frame)
            self._cond.notify_all()
        await ws.send(json.dumps(frame, ensure_ascii=False))

    def _current(self) -> ServerConnection:
        with self._cond:
            if self._subscribed is None:
                raise RuntimeError("no client is subscribed to the WeCom stand-in")
            return self._conns[self._subscribed]

    # -- answers (called with the lock held) -------------------------------------------------

    def _answer(self, rec: f.ClientFrame) -> f.Json | None:
        rid = rec.req_id
        if rec.cmd == f.CMD_SUBSCRIBE:
            body = rec.body
            if self.refuse_subscribes:
                return f.ack(rid, *self.refuse_subscribes.pop(0))
            if body.get("bot_id") == self.bot_id and body.get("secret") == self.secret:
                return f.ack(rid)
            return f.ack(rid, f.ERR_BAD_SECRET, f.ERRMSG_BAD_SECRET)
        if rec.cmd == f.CMD_PING:
            return f.ack(rid) if self.answer_pings else None
        if self._subscribed != rec.conn:
            return f.ack(rid, f.ERR_INVALID_REQUEST, "connection not subscribed")
        if rec.cmd in (f.CMD_RESPOND, f.CMD_RESPOND_WELCOME, f.CMD_RESPOND_UPDATE):
            problem = self._check_reply(rec)
        elif rec.cmd == f.CMD_SEND:
            problem = self._check_send(rec)
        else:
            problem = (f.ERR_INVALID_REQUEST, f"unknown cmd {rec.cmd!r}")
        if problem is not None:
            return f.ack(rid, *problem)
        return f.ack(rid) if self.ack_replies else None

    def _check_reply(self, rec: f.ClientFrame) -> tuple[int, str] | None:
        cb = self._callbacks.get(rec.req_id)
        if cb is None:
            return f.ERR_INVALID_REQUEST, "req_id is not a callback of this bot"
        if rec.cmd != f.CMD_RESPOND or rec.body.get("msgtype") not in (
            "stream",
            "stream_with_template_card",
        ):
            return None
        stream = rec.stream
        sid = stream.get("id")
        if not isinstance(sid, str) or not sid:
            return f.ERR_INVALID_REQUEST, "stream.id missing"
        content = stream.get("content", "")
        if not isinstance(content, str) or len(content.encode()) > f.STREAM_CONTENT_MAX_BYTES:
            return f.ERR_INVALID_REQUEST, "stream.content invalid or over 20480 bytes"
        items = stream.get("msg_item")
        if items is not None and not f.valid_msg_items(items, finished=bool(stream.get("finish"))):
            return f.ERR_INVALID_REQUEST, "msg_item invalid (finish, <= 10 JPEG/PNG images, md5)"
        if time.monotonic() - cb.posted > self.stream_window_s or cb.streams.get(sid, False):
            return f.ERR_STREAM_EXPIRED, f.ERRMSG_STREAM_EXPIRED
        cb.streams[sid] = bool(stream.get("finish", False))
        return None

    def _check_send(self, rec: f.ClientFrame) -> tuple[int, str] | None:
        chatid = rec.body.get("chatid")
        if chatid not in self._known_chats:
            return f.ERR_INVALID_REQUEST, "chatid unknown: nobody wrote to the bot there"
        if rec.body.get("msgtype") not in ("markdown", "template_card"):
            return f.ERR_INVALID_REQUEST, "msgtype not supported by aibot_send_msg"
        return None

    def _remember(self, frame: f.Json) -> None:
        body = frame["body"]
        chat = str(body.get("chatid") or body["from"]["userid"])
        with self._cond:
            self._known_chats.add(chat)
            self._callbacks[frame["headers"]["req_id"]] = _Callback(time.monotonic(), chat)
