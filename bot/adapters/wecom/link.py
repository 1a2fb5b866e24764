"""The WeCom SDK in its own thread and asyncio loop: one connection at a time, reconnects, and
how the connection ended.

SDK 1.0.2 (pinned in pyproject.toml) behaves in ways this module works around:

* It verifies TLS with contexts built from certifi at import (``aibot/ws.py:13-18``,
  ``aibot/api.py:15-20``) and has no option for another CA: ``words.trust_ca`` adds one to both.
* It reconnects by itself, but not after a clean close by the server or after two unanswered
  heartbeats (its receive loop just ends, ``aibot/ws.py:189-208, 307-319``), and it resets its
  backoff on every connect, so a server that cuts each login meets a login every second. So
  its own reconnects are switched off (``max_reconnect_attempts=0``) and a supervisor here
  watches the connection and reconnects with the waits of ``backoff``.
* A refused login is only an ``error`` event (``aibot/ws.py:243-256``), and pyee kills the
  receive task when nobody listens for ``error``: every client here has an ``error`` listener.
  A wrong Secret ends the bot; any other refusal (45009 rate limit) is tried again.
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

import aibot.api
from aibot import WSClient, WSClientOptions

from bot.adapters.wecom import media, words
from bot.adapters.wecom.backoff import AT_START, WHILE_RUNNING, Backoff
from bot.errors import BotError, DownloadFailed, LoginRefused, ReceiveFailed, SessionEnded

log = logging.getLogger(__name__)

T = TypeVar("T")
Frame = dict[str, Any]
AUTH_TIMEOUT_S = 15.0  # no answer to aibot_subscribe in this time: try again
RECONNECT_WAIT_S = 5.0  # a send while reconnecting waits this long for the connection
DOWNLOAD_GRACE_S = 5.0  # a download's own deadline fires first; this one only if the loop hangs
WATCH_INTERVAL_S = 0.5  # how often the supervisor looks at the socket (a clean close is silent)


@dataclass
class _Outcome:
    """How one connection went."""

    authenticated: bool = False
    lived_s: float = 0.0  # how long it was logged in
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
        self._ready = threading.Event()  # first login done, or it failed for good
        self._ended = threading.Event()
        self._end: BotError | None = None
        self._authenticated = False
        self._closing = False
        self._wake: asyncio.Event | None = None
        self._up: asyncio.Event | None = None  # set while a client is logged in

    # -- other threads ----------------------------------------------------------------------
    def start(self) -> None:
        """Connect and log in; raise LoginRefused (credentials, TLS) or ReceiveFailed (gave up
        on the network or on WeCom's refusals for now) when that fails for good."""
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

    def download(
        self, url: str, aeskey: str, *, timeout_s: float, max_bytes: int, what: str
    ) -> bytes:
        """Fetch and decrypt one media URL on the loop (``media.fetch``: streamed, capped at
        ``max_bytes``, within ``timeout_s``); raises DownloadFailed or ImageError."""
        context = aibot.api._SSL_CONTEXT  # the SDK's, with [wecom] ca_file added (trust_ca)
        fetch = media.fetch(
            url, aeskey, ssl_context=context, timeout_s=timeout_s, max_bytes=max_bytes, what=what
        )
        future = asyncio.run_coroutine_threadsafe(fetch, self._loop)
        try:
            return future.result(timeout_s + DOWNLOAD_GRACE_S)
        except TimeoutError as exc:  # the loop is stuck: fetch's own deadline did not fire
            future.cancel()
            raise DownloadFailed(
                f"WeCom's connection thread did not deliver {what} in time"
            ) from exc

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
        backoff = Backoff()
        while not self._closing:
            out = await self._session()
            if self._closing:
                break
            if out.fatal is not None:
                return self._finish(out.fatal)
            policy = WHILE_RUNNING if self._authenticated else AT_START
            delay = backoff.next_delay_s(policy, logged_in=out.authenticated, lived_s=out.lived_s)
            if delay is None:  # exit 75: a restart may well find WeCom reachable again
                why = words.gave_up(self.ws_url, out.why, policy.attempts + 1)
                return self._finish(ReceiveFailed(why))
            if out.authenticated:
                log.warning(
                    "WeCom connection %s after %.1f s; connecting again in %.1f s",
                    out.why, out.lived_s, delay,
                )  # fmt: skip
            else:
                log.warning(
                    "WeCom connection %s; connecting again in %.1f s (retry %d of %d)",
                    out.why, delay, backoff.misses, policy.attempts,
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
        logged_in_at = 0.0

        def authenticated() -> None:
            nonlocal logged_in_at
            out.authenticated, logged_in_at = True, self._loop.time()
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
            if refused is not None and refused[0] in words.CREDENTIAL_REFUSALS:
                code, errmsg = refused
                out.fatal = self._ending(words.refused(self.bot_id, self._secret_env, code, errmsg))
            elif refused is not None:  # 45009 and the like: WeCom's passing state
                out.why = words.turned_away(*refused)
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
            if out.authenticated:
                out.lived_s = self._loop.time() - logged_in_at
            if self._client is client:
                self._client = None
                if self._up is not None:
                    self._up.clear()
            client.remove_all_listeners()
            client.on("error", lambda exc: None)
            client.disconnect()
        return out
