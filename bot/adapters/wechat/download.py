"""Picture downloads from web WeChat, streamed on itchat's session and bounded three ways.

itchat's download function (``msg['Text']``) reads the whole body into memory, with no bound
on its time. ``Downloader.get`` sends the same request (``GET {url}/webwxgetmsgimg?msgid=
<NewMsgId>&skey=<skey>`` with itchat's User-Agent) and reads the body in chunks against:

* a deadline for the whole download (``download_timeout_s``), with every socket read bounded by
  the time left, so a server that trickles a byte now and then cannot hold a worker;
* ``[images] max_bytes``: a larger announced length is refused before reading, and a body that
  grows past it is dropped at that point, so a huge body never sits in memory;
* ``stop()`` at shutdown: reads in progress are woken (the socket is shut down) and raise.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

import requests
import urllib3

from bot.errors import DownloadFailed, ImageError

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 10.0
_TIMEOUTS = (TimeoutError, urllib3.exceptions.TimeoutError)


class Downloader:
    """Bounded, interruptible GETs of picture bodies on one ``requests.Session``."""

    def __init__(
        self,
        session: requests.Session,
        *,
        timeout_s: float,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._open: set[requests.Response] = set()

    def stop(self) -> None:
        """Refuse new downloads and interrupt those in progress (each raises DownloadFailed)."""
        self._halt.set()
        with self._lock:
            responses = list(self._open)
        for resp in responses:
            try:
                resp.raw.shutdown()  # wakes a read blocked in another thread
            except Exception:  # already finished or closed: nothing to interrupt
                log.debug("download already closed", exc_info=True)

    def get(
        self, url: str, *, params: Mapping[str, str], headers: Mapping[str, str], what: str
    ) -> bytes:
        """The body of ``url``; raises DownloadFailed (network, status, time, stop) or
        ImageError (larger than ``max_bytes``)."""
        self._check_halt(what)
        deadline = self._clock() + self.timeout_s
        try:
            resp = self._session.get(
                url,
                params=dict(params),
                headers=dict(headers),
                stream=True,
                timeout=(min(CONNECT_TIMEOUT_S, self.timeout_s), self.timeout_s),
            )
        except requests.Timeout as exc:
            raise self._timed_out(what) from exc
        except requests.RequestException as exc:
            raise _network(what, exc) from exc
        with self._lock:
            self._open.add(resp)
        try:
            return self._read(resp, deadline, what)
        finally:
            with self._lock:
                self._open.discard(resp)
            resp.close()

    def _read(self, resp: requests.Response, deadline: float, what: str) -> bytes:
        if resp.status_code != 200:
            raise DownloadFailed(
                f"WeChat answered HTTP {resp.status_code} (a web page, not the picture) for "
                f"{what}; the message may have expired"
            )
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_big(what, f"WeChat announced {int(declared):,} bytes")
        sock = getattr(resp.raw.connection, "sock", None)
        body = bytearray()
        while True:
            self._check_halt(what)
            left = deadline - self._clock()
            if left <= 0:
                raise self._timed_out(what)
            if sock is not None:
                sock.settimeout(left)  # one read never outlasts the whole download's deadline
            try:
                chunk = resp.raw.read1(CHUNK_BYTES)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                self._check_halt(what)
                if self._clock() >= deadline or isinstance(exc, _TIMEOUTS):
                    raise self._timed_out(what) from exc
                raise _network(what, exc) from exc
            self._check_halt(what)  # a shut-down socket reads as the end of the body
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > self.max_bytes:
                raise self._too_big(what, "the body grew past it; the rest was not read")

    def _check_halt(self, what: str) -> None:
        if self._halt.is_set():
            raise DownloadFailed(f"the download of {what} was interrupted: the bot is stopping")

    def _timed_out(self, what: str) -> DownloadFailed:
        return DownloadFailed(
            f"WeChat did not deliver {what} within [wechat] download_timeout_s = "
            f"{self.timeout_s:g} s; WeChat's side or this machine's network is slow"
        )

    def _too_big(self, what: str, detail: str) -> ImageError:
        return ImageError(
            f"{what} is larger than [images] max_bytes = {self.max_bytes:,} bytes ({detail}); "
            "raise max_bytes to accept such pictures"
        )


def _network(what: str, exc: BaseException) -> DownloadFailed:
    return DownloadFailed(
        f"WeChat did not deliver {what} ({type(exc).__name__}); it is WeChat's side or this "
        "machine's network, nothing to fix in the bot"
    )
