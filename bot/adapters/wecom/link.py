"""The WeCom SDK in its own thread and asyncio loop: one connection at a time, reconnects, and
how the connection ended.

SDK 1.0.2 (pinned in pyproject.toml) behaves in ways this module works around:

* It verifies TLS with contexts built from certifi at import (``aibot/ws.py:13-18``,
  ``aibot/api.py:15-20``) and has no option for another CA: ``words.trust_ca`` adds one to both.
* It reconnects by itself, but not after a clean close by the server or after two unanswered
  heartbeats (its receive loop just ends, ``aibot/ws.py:189-208, 307-319``). So its own
  reconnects are switched off (``max_reconnect_attempts=0``) and a supervisor here watches
  the connection, reconnects with backoff a bounded number of times, then gives up.
* A wrong Secret is only an ``error`` event (``aibot/ws.py:243-256``), and pyee kills the
  receive task when nobody listens for ``error``: every client here has an ``error`` listener.
* ``disconnected_event`` (another process connected as this bot) is only re-emitted
  (``aibot/message_handler.py:73-85``): the supervisor disconnects and ends the session.

Callers on other threads use ``call`` and ``download``; nothing here blocks the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aibot import WSClient, WSClientOptions

from bot.adapters.wecom import words
from bot.adapters.wecom.words import AT_START, WHILE_RUNNING
from bot.errors import BotError, LoginRefused, SessionEnded

log = logging.getLogger(__name__)

T = TypeVar("T")
Frame = dict[str, Any]
AUTH_TIMEOUT_S = 15.0  # no answer to aibot_subscribe in this time: try again
RECONNECT_WAIT_S = 5.0  # a send while reconnecting waits this long for the connection
WATCH_INTERVAL_S = 0.5  # how often the supervisor looks at the socket (a clean close is silent)


@dataclass
class _Outcome:
    """How one connection went."""

    authenticated: bool = False
    why: str = "failed"
    fatal: BotError | None = None


class Link:
    """One bot's long connection, run by a supervisor on the SDK's own loop thread."""

    def __init__(
        self,
        *,
        bot_id: str,
        secret: str,
        secret_env: str,
        ws_url: str,
        ca_file: Path | None,
        request_timeout_s: float,
        on_frame: Callable[[Frame], None],
    ) -> None:
        self.bot_id, self.ws_url = bot_id, ws_url
        self._secret, self._secret_env, self._ca_file = secret, secret_env, ca_file
        self._timeout_ms = int(request_timeout_s * 1000)
        self._on_frame = on_frame
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="wecom", daemon=True)
        self._client: WSClient | None = None  # the authenticated client, if any
        self._downloader: WSClient | None = None  # never connected: media downloads only
        self._ready = threading.Event()  # first login done, or it failed for good
        self._ended = threading.Event()
        self._end: BotError | None = None
        self._authenticated = False
        self._closing = False
        self._wake: asyncio.Event | None = None
        self._up: asyncio.Event | None = None  # set while a client is logged in

    # -- other threads ----------------------------------------------------------------------
    def start(self) -> None:
        """Connect and log in; raise LoginRefused (or LocalError) when that fails for good."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._supervise(), self._loop)
        while not self._ready.wait(1.0):
            pass
        if not self._authenticated and self._end is not None:
            raise self._end

    @property
    def connected(self) -> bool:
        client = self._client
        return client is not None and bool(client.is_connected)

    def wait_ended(self, timeout_s: float) -> bool:
        return self._ended.wait(timeout_s)

    @property
    def end(self) -> BotError | None:
        """Why the connection ended for good (None: still running, or closed by us)."""
        return self._end

    def call(self, make: Callable[[WSClient], Awaitable[T]], timeout_s: float) -> T:
        """Run ``make(client)`` on the loop with the connected client; wait up to
        ``timeout_s``. Raises ConnectionError when not connected, TimeoutError, or the SDK's."""

        async def go() -> T:
            if self._client is None and self._up is not None:  # reconnecting: wait a little
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._up.wait(), min(timeout_s / 2, RECONNECT_WAIT_S))
            client = self._client
            if client is None:
                raise ConnectionError("not connected to WeCom right now")
            return await make(client)

        future = asyncio.run_coroutine_threadsafe(go(), self._loop)
        try:
            return future.result(timeout_s)
        except TimeoutError:
            future.cancel()
            raise

    def download(self, url: str, aeskey: str, timeout_s: float) -> bytes:
        """Fetch and decrypt one media URL (AES-256-CBC, done by the SDK) within ``timeout_s``."""

        async def go() -> bytes:
            assert self._downloader is not None, "made by the supervisor before login"
            data, _name = await self._downloader.download_file(url, aeskey or None)
            return bytes(data)

        future = asyncio.run_coroutine_threadsafe(go(), self._loop)
        try:
            return future.result(timeout_s)
        except TimeoutError:
            future.cancel()
            raise

    def close(self, timeout_s: float = 3.0) -> None:
        """Disconnect and stop the loop thread (idempotent)."""
        if not self._thread.is_alive():
            return
        self._closing = True

        async def shut() -> None:
            if self._wake is not None:
                self._wake.set()
            if self._client is not None:
                self._client.disconnect()
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if rest:
                await asyncio.wait(rest, timeout=timeout_s)

        try:
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout_s + 1)
        except Exception:  # closing is best effort: the process is ending anyway
            log.debug("WeCom link did not close cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout_s)
        self._ended.set()

    # -- the loop thread ----------------------------------------------------------------------
    def _new_client(self) -> WSClient:
        options = WSClientOptions(
            bot_id=self.bot_id,
            secret=self._secret,
            ws_url=self.ws_url,
            max_reconnect_attempts=0,  # the supervisor reconnects (see the module docstring)
            request_timeout=self._timeout_ms,
            logger=words.SdkLog(),
        )
        client = WSClient(options)
        client.on("error", lambda exc: None)  # without a listener pyee kills the receive task
        return client

    async def _supervise(self) -> None:
        self._wake, self._up = asyncio.Event(), asyncio.Event()
        self._downloader = self._new_client()
        failures = 0
        while not self._closing:
            outcome = await self._session()
            if self._closing:
                break
            if outcome.fatal is not None:
                return self._finish(outcome.fatal)
            failures = 1 if outcome.authenticated else failures + 1
            policy = WHILE_RUNNING if self._authenticated else AT_START
            if failures > policy.attempts:
                return self._finish(self._ending(
                    f"cannot reach WeCom at {self.ws_url}: the connection {outcome.why}, "
                    f"{policy.attempts + 1} times; check this machine's network (firewall, "
                    "proxy) and [wecom] ws_url"
                ))  # fmt: skip
            delay = policy.delay_s(failures)
            log.warning(
                "WeCom connection %s; connecting again in %.1f s (retry %d of %d)",
                outcome.why, delay, failures, policy.attempts,
            )  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def _finish(self, error: BotError) -> None:
        self._end = error
        self._ready.set()
        self._ended.set()

    def _ending(self, text: str) -> BotError:
        return SessionEnded(text) if self._authenticated else LoginRefused(text)

    async def _session(self) -> _Outcome:
        """One connection, from connect to its end; never raises."""
        out, done = _Outcome(), asyncio.Event()
        client = self._new_client()

        def authenticated() -> None:
            out.authenticated = True
            self._client = client
            if self._up is not None:
                self._up.set()
            log.info(
                "WeCom: %s as AI bot %s",
                "connection restored" if self._authenticated else "logged in",
                self.bot_id,
            )
            self._authenticated = True
            self._ready.set()

        def error(exc: Exception) -> None:
            text = str(exc)
            refused = words.auth_refused(text)
            if refused is not None:
                code, errmsg = refused
                out.fatal = self._ending(words.refused(self.bot_id, self._secret_env, code, errmsg))
            elif isinstance(exc, ssl.SSLCertVerificationError):  # no retry fixes it
                out.fatal = self._ending(words.untrusted(self.ws_url, self._ca_file, exc))
            elif "Max reconnect attempts" not in text:  # that one is the SDK giving up: ours
                out.why = f"failed ({type(exc).__name__}: {text or 'no detail'})"
            done.set()

        def disconnected(reason: str) -> None:
            out.why = f"was lost ({reason})"
            done.set()

        def kicked(frame: Frame) -> None:
            out.fatal = SessionEnded(words.kicked(self.bot_id))
            done.set()

        def message(frame: Frame) -> None:
            try:
                self._on_frame(frame)
            except Exception:  # one bad message never kills the loop
                log.exception("could not take a WeCom message")

        for name, handler in (
            ("authenticated", authenticated), ("error", error), ("disconnected", disconnected),
            ("event.disconnected_event", kicked), ("message", message),
        ):  # fmt: skip
            client.on(name, handler)
        try:
            await client.connect()
            deadline = self._loop.time() + AUTH_TIMEOUT_S
            while not done.is_set() and not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), WATCH_INTERVAL_S)
                if done.is_set():
                    break
                if out.authenticated and not client.is_connected:
                    out.why = "was closed by the server"
                    break
                if not out.authenticated and self._loop.time() > deadline:
                    out.why = f"got no answer to the login within {AUTH_TIMEOUT_S:.0f} s"
                    break
        except Exception as exc:  # connect() reports through `error`; this is a safety net
            out.why = f"failed ({type(exc).__name__}: {exc})"
        finally:
            if self._client is client:
                self._client = None
                if self._up is not None:
                    self._up.clear()
            client.remove_all_listeners()
            client.on("error", lambda exc: None)
            client.disconnect()
        return out
