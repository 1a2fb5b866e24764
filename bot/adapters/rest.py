"""HTTP for the serving adapters (requests): one keep-alive session, credentials, bounded
retries, and answers read against a deadline and a size bound.

A neutral module shared by the serving adapters, which stay independent of each other. It knows
no protocol: each adapter gives it the paths of its own URL grammar, and ``Probe`` lets each
protocol's detector ask the paths it knows when ``[serving] protocol = "auto"``.

* Retries: connection errors, 429, 503 and 504 with exponential backoff. The first 429 or 503
  that carries ``Retry-After`` (seconds or an HTTP date) is waited for instead of the backoff,
  at most ``timeout_s`` and 30 s; every other status goes back to the adapter.
* Time: the whole answer must arrive within ``[serving] timeout_s``. The body is read in chunks
  and every socket read is bounded by the time left, so a server that trickles a byte now and
  then cannot hold a worker. (Before the body, each read of the status line and headers is
  bounded by ``timeout_s`` and the deadline is checked once they are in.)
* Size: a 2xx body larger than the caller's ``AnswerLimit`` is refused — an announced length
  before reading, a growing body where it passes the bound — so it never sits in memory; an
  error body is read up to 64 KiB (its beginning says enough) and the rest dropped.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3

from bot.core.serving import METADATA_LIMIT, AnswerLimit
from bot.core.settings import ServingConfig
from bot.errors import BadPrediction, ServingUnavailable

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 503, 504})
RETRY_AFTER_STATUSES = frozenset({429, 503})
RETRY_AFTER_CAP_S = 30.0
CHUNK_BYTES = 64 * 1024
ERROR_BODY_BYTES = 64 * 1024
JSON_BODY = {"Content-Type": "application/json"}
_TIMEOUTS = (TimeoutError, urllib3.exceptions.TimeoutError)


def redact_url(url: str) -> str:
    """Drop user:password@ from a URL before it goes into any message."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


@dataclass(frozen=True)
class Reply:
    """An answer read whole (within the bounds): status, headers (case-insensitive), body."""

    status_code: int
    reason: str
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json_or_none(self) -> Any:
        try:
            return json.loads(self.content)
        except ValueError:
            return None


def server_message(reply: Reply) -> str:
    """The ``{"error": ...}`` text, else the body as one line (at most 300 characters)."""
    body = reply.json_or_none()
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
    else:
        message = reply.text.strip()
    message = " ".join(message.split())
    return message[:300] or reply.reason or "no message"


def retry_after_s(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (None: no usable header). An HTTP date is
    read against the answer's own ``Date`` where it has one (the server's clock), else ``now``."""
    value = (headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    return max(0.0, when - (_http_date(headers.get("Date") or "") or now))


def _http_date(value: str) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


class _BrokeOff(Exception):
    """The connection failed mid-answer: worth another attempt, like a refused connection."""


class Rest:
    """One keep-alive session to a serving REST port, with the configured credentials."""

    def __init__(
        self,
        settings: ServingConfig,
        *,
        session: requests.Session,
        sleep: Callable[[float], None],
        server: str,
        start_hint: str,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.server = server
        self._start_hint = start_hint
        self._session = session
        self._sleep = sleep
        self._clock = clock
        self._wall = wall
        session.headers.update(dict(settings.headers))  # [serving] headers_env
        if settings.token:
            session.headers["Authorization"] = f"Bearer {settings.token}"
        elif settings.username and settings.password:
            session.auth = (settings.username, settings.password)  # sent pre-emptively
        self.public_url = redact_url(settings.url)

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        limit: AnswerLimit,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """The answer to ``method path``, after retrying refused connections and 429/503/504;
        raises ServingUnavailable (unreachable, too slow) or BadPrediction (too large)."""
        attempts = self.settings.retries + 1
        last = ""
        answered: Reply | None = None  # the last attempt's HTTP answer, if it had one
        asked: float | None = None  # what a Retry-After asked for, honoured once
        honoured = False
        for attempt in range(attempts):
            if attempt:
                backoff = self.settings.retry_backoff_s * (2 ** (attempt - 1))
                self._sleep(backoff if asked is None else asked)
                asked = None
            answer = self._exchange(method, path, body, limit, headers)
            answered = answer if isinstance(answer, Reply) else None
            if isinstance(answer, Reply):
                if answer.status_code not in RETRY_STATUSES:
                    return answer
                last = f"HTTP {answer.status_code}: {server_message(answer)}"
                if not honoured and answer.status_code in RETRY_AFTER_STATUSES:
                    wanted = retry_after_s(answer.headers, self._wall())
                    if wanted is not None:
                        honoured = True
                        asked = min(wanted, self.settings.timeout_s, RETRY_AFTER_CAP_S)
                        last += f", Retry-After {wanted:g} s (waiting {asked:g} s)"
            else:
                last = answer
            log.info(
                "%s %s: %s (attempt %d/%d)",
                self.server,
                self.public_url,
                last,
                attempt + 1,
                attempts,
            )
        if answered is not None:  # it is up: starting it or another URL would not help
            raise ServingUnavailable(
                f"{self.server} at {self.public_url} is up but not serving ({last}) after "
                f"{attempts} attempts; it may be overloaded or still loading a model: wait, "
                "or see the server's log",
                answered.status_code,
                server_message(answered),
            )
        raise ServingUnavailable(
            f"{self.server} at {self.public_url} is unavailable ({last}) after {attempts} "
            f"attempts; start it ({self._start_hint}) or fix [serving] url"
        )

    def _exchange(
        self,
        method: str,
        path: str,
        body: bytes | None,
        limit: AnswerLimit,
        headers: Mapping[str, str] | None = None,
    ) -> Reply | str:
        """One request and its whole answer, or why it could not be had (worth a retry)."""
        timeout_s = self.settings.timeout_s
        deadline = self._clock() + timeout_s
        try:
            resp = self._session.request(
                method,
                self.settings.url + path,
                data=body,
                timeout=(timeout_s, timeout_s),
                stream=True,
                headers=headers or JSON_BODY if body is not None else None,
            )
        except requests.Timeout as exc:
            raise ServingUnavailable(
                f"{self.server} at {self.public_url} did not answer within "
                f"{timeout_s:g} s; check its load, or raise [serving] timeout_s"
            ) from exc
        except requests.ConnectionError as exc:
            return f"cannot connect ({type(exc).__name__})"
        except requests.RequestException as exc:
            raise ServingUnavailable(
                f"{self.server} at {self.public_url} could not be asked {method} {path} "
                f"({type(exc).__name__}: {exc}); check [serving] url"
            ) from exc
        try:
            content = self._read(resp, deadline, limit, f"{method} {path}")
        except _BrokeOff as exc:
            return str(exc)
        finally:
            resp.close()
        return Reply(resp.status_code, resp.reason or "", resp.headers, content)

    def _read(
        self, resp: requests.Response, deadline: float, limit: AnswerLimit, what: str
    ) -> bytes:
        ok = 200 <= resp.status_code < 300
        bound = limit.max_bytes if ok else ERROR_BODY_BYTES
        declared = resp.headers.get("Content-Length", "")
        if ok and declared.isdigit() and int(declared) > bound:
            raise self._too_big(what, limit, f"it announced {int(declared):,} bytes")
        sock = getattr(resp.raw.connection, "sock", None)
        body = bytearray()
        while True:
            left = deadline - self._clock()
            if left <= 0:
                raise self._late(what, len(body))
            if sock is not None:
                sock.settimeout(left)  # one read never outlasts the whole answer's deadline
            try:
                chunk = resp.raw.read1(CHUNK_BYTES, decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if self._clock() >= deadline or isinstance(exc, _TIMEOUTS):
                    raise self._late(what, len(body)) from exc
                raise _BrokeOff(f"the answer to {what} broke off ({type(exc).__name__})") from exc
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > bound:
                if ok:
                    raise self._too_big(what, limit, "the body grew past it")
                return bytes(body[:bound])  # an error page: its beginning says enough

    def _late(self, what: str, received: int) -> ServingUnavailable:
        return ServingUnavailable(
            f"{self.server} at {self.public_url} did not finish its answer to {what} within "
            f"[serving] timeout_s = {self.settings.timeout_s:g} s ({received:,} bytes came); "
            "check its load and the network, or raise [serving] timeout_s"
        )

    def _too_big(self, what: str, limit: AnswerLimit, detail: str) -> BadPrediction:
        return BadPrediction(
            f"{self.server} at {self.public_url} answered {what} with more than "
            f"{limit.max_bytes:,} bytes, {limit.reason}: refused, the rest was not read "
            f"({detail}); check that [serving] url and output point at the model's scores"
        )

    def json(self, reply: Reply, port_hint: str) -> Any:
        try:
            return json.loads(reply.content)
        except ValueError as exc:
            raise BadPrediction(
                f"{self.server} at {self.public_url} answered {reply.status_code} with a body "
                f"that is not JSON; is [serving] url really {port_hint}?"
            ) from exc


class Probe:
    """``GET`` answers for ``[serving] protocol = "auto"``: each protocol's detector asks for
    the paths it knows; a path is asked once, whoever asks again gets the same answer."""

    def __init__(self, rest: Rest) -> None:
        self.rest = rest
        self.settings = rest.settings
        self.answers: dict[str, Reply] = {}

    def get(self, path: str) -> Reply:
        if path not in self.answers:
            self.answers[path] = self.rest.send("GET", path, limit=METADATA_LIMIT)
        return self.answers[path]
