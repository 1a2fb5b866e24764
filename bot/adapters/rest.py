"""HTTP for the serving adapters (requests): one session, credentials, bounded retries, and
telling TF Serving from Simple TensorFlow Serving by what the server answers.

A neutral module shared by ``bot.adapters.tfserving`` and ``bot.adapters.stfs``, which stay
independent of each other. Retries: connection errors, 429, 503 and 504 with exponential
backoff; every other status goes back to the adapter, which knows what it means.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from bot.core.settings import ServingConfig
from bot.errors import BadPrediction, ServingRejected, ServingUnavailable

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 503, 504})
STFS_AUTH_BODY = "Need basic auth"  # STFS 0.8.2 server.py: the body of its 401
STFS_NOT_FOUND = "Model not found:"  # STFS: GET /v1/models/<unknown> is a 200 with this text
Protocol = Literal["tfserving", "stfs"]


def redact_url(url: str) -> str:
    """Drop user:password@ from a URL before it goes into any message."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def server_message(resp: requests.Response) -> str:
    """The ``{"error": ...}`` text, else the body as one line (at most 300 characters)."""
    try:
        body = json.loads(resp.content)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
    else:
        message = resp.text.strip()
    message = " ".join(message.split())
    return message[:300] or resp.reason or "no message"


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
    ) -> None:
        self.settings = settings
        self.server = server
        self._start_hint = start_hint
        self._session = session
        self._sleep = sleep
        if settings.token:
            session.headers["Authorization"] = f"Bearer {settings.token}"
        elif settings.username and settings.password:
            session.auth = (settings.username, settings.password)  # sent pre-emptively
        self.public_url = redact_url(settings.url)

    def model_url(self) -> str:
        return f"{self.settings.url}/v1/models/{quote(self.settings.model, safe='')}"

    def send(self, method: str, url: str, body: bytes | None = None) -> requests.Response:
        """The answer to a request, after retrying refused connections and 429/503/504."""
        attempts = self.settings.retries + 1
        last = ""
        for attempt in range(attempts):
            if attempt:
                self._sleep(self.settings.retry_backoff_s * (2 ** (attempt - 1)))
            try:
                resp = self._session.request(
                    method,
                    url,
                    data=body,
                    timeout=self.settings.timeout_s,
                    headers={"Content-Type": "application/json"} if body is not None else None,
                )
            except requests.Timeout as exc:
                raise ServingUnavailable(
                    f"{self.server} at {self.public_url} did not answer within "
                    f"{self.settings.timeout_s:g} s; check its load, or raise [serving] timeout_s"
                ) from exc
            except requests.ConnectionError as exc:
                last = f"cannot connect ({type(exc).__name__})"
            else:
                if resp.status_code not in RETRY_STATUSES:
                    return resp
                last = f"HTTP {resp.status_code}: {server_message(resp)}"
            log.info(
                "%s %s: %s (attempt %d/%d)",
                self.server,
                self.public_url,
                last,
                attempt + 1,
                attempts,
            )
        raise ServingUnavailable(
            f"{self.server} at {self.public_url} is unavailable ({last}) after {attempts} "
            f"attempts; start it ({self._start_hint}) or fix [serving] url"
        )

    def json(self, resp: requests.Response, port_hint: str) -> Any:
        try:
            return json.loads(resp.content)
        except ValueError as exc:
            raise BadPrediction(
                f"{self.server} at {self.public_url} answered {resp.status_code} with a body that "
                f"is not JSON; is [serving] url really {port_hint}?"
            ) from exc


def detect_protocol(rest: Rest) -> Protocol:
    """``[serving] protocol = "auto"``: ask ``GET /v1/models/NAME`` (both servers have it) and
    read the answer; STFS's own ``/health`` settles the rest."""
    resp = rest.send("GET", rest.model_url())
    try:
        body = json.loads(resp.content)
    except ValueError:
        body = None
    if isinstance(body, dict) and "model_version_status" in body:
        return "tfserving"
    if isinstance(body, dict) and "model_signature" in body:
        return "stfs"
    text = resp.text.lstrip()
    if text.startswith(STFS_NOT_FOUND) or (resp.status_code == 401 and STFS_AUTH_BODY in text):
        return "stfs"
    if resp.status_code == 500 and text.lower().startswith("<!doctype html"):
        return "stfs"  # Flask's error page (a model STFS failed to load); TF Serving writes JSON
    if resp.status_code in (401, 403):  # not STFS's page: a proxy or TF Serving said no
        raise ServingRejected(
            resp.status_code,
            server_message(resp),
            f"{rest.server} at {rest.public_url} refused the credentials ({resp.status_code}: "
            f"{server_message(resp)}); check the token or password variables",
        )
    if isinstance(body, dict) and "error" in body:
        return "tfserving"  # TF Serving's JSON errors (404 unknown model, 400 ...)
    health = rest.send("GET", f"{rest.settings.url}/health")
    if health.status_code == 200 and health.text.strip() == "healthy":
        return "stfs"
    return "tfserving"
