"""What the WeCom SDK needs from outside and what its failures mean: the extra CA, its logger,
the reconnect policy, and the one-line messages for a refused login, an untrusted certificate
and a kick."""

from __future__ import annotations

import logging
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

import aibot.api
import aibot.ws

from bot.errors import LocalError

# SDK 1.0.2 reports a refused login only as this exception text (aibot/ws.py:243-256).
_AUTH_FAILED = re.compile(r"^Authentication failed: (?P<msg>.*) \(code: (?P<code>-?\d+)\)$", re.S)
BAD_SECRET = 853000


@dataclass(frozen=True)
class Retry:
    """Bounded reconnects: ``attempts`` more tries, waits doubling from ``first_delay_s``."""

    attempts: int
    first_delay_s: float
    max_delay_s: float = 30.0

    def delay_s(self, attempt: int) -> float:
        return float(min(self.first_delay_s * 2 ** (attempt - 1), self.max_delay_s))


AT_START = Retry(attempts=3, first_delay_s=1.0)  # 1 + 2 + 4 s: someone is watching the start
WHILE_RUNNING = Retry(attempts=8, first_delay_s=0.5)  # 0.5 ... 30 s: about a minute and a half


def trust_ca(ca_file: Path) -> None:
    """Add ``ca_file`` to the SDK's two TLS contexts (WebSocket and media download), keeping
    certifi's roots. Process-wide, and relies on SDK 1.0.2's private names (a test covers it)."""
    try:
        for context in (aibot.ws._SSL_CONTEXT, aibot.api._SSL_CONTEXT):
            context.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise LocalError(
            f"[wecom] ca_file = {ca_file}: cannot be read as a PEM CA certificate ({exc}); "
            "give the certificate of the CA that signs the server's certificate"
        ) from exc


class SdkLog:
    """The SDK's logger protocol, into ``logging`` at DEBUG: the link logs what matters."""

    def __init__(self) -> None:
        self._log = logging.getLogger("aibot")

    def _emit(self, message: str, *args: object) -> None:
        self._log.debug("%s", " ".join([message, *map(str, args)]))

    debug = info = warn = error = _emit


def auth_refused(text: str) -> tuple[int, str] | None:
    """(errcode, errmsg) when an SDK ``error`` is a refused login, else None."""
    found = _AUTH_FAILED.match(text)
    return (int(found["code"]), found["msg"]) if found else None


def refused(bot_id: str, secret_env: str, code: int, errmsg: str) -> str:
    detail = errmsg.split(", hint")[0].strip() or "no detail"
    why = "the Bot ID and Secret do not match" if code == BAD_SECRET else detail
    return (
        f"WeCom refused the login of AI bot {bot_id} (errcode {code}: {why}); in the WeCom "
        "admin console open this AI bot's API settings (long connection), check that "
        f"[wecom] bot_id is its Bot ID and put its current Secret in ${secret_env}"
    )


def untrusted(ws_url: str, ca_file: Path | None, exc: ssl.SSLCertVerificationError) -> str:
    detail = exc.verify_message or exc.reason or str(exc)
    if ca_file is not None:
        fix = f"[wecom] ca_file = {ca_file} is not the CA that signed it; give that CA"
    else:
        fix = (
            "if a TLS-inspecting proxy or a test server signs it, set [wecom] ca_file to its "
            "CA certificate (PEM)"
        )
    return f"cannot verify the TLS certificate of {ws_url} ({detail}); {fix}"


def kicked(bot_id: str) -> str:
    return (
        f"WeCom disconnected AI bot {bot_id}: another process connected as this bot (WeCom "
        "keeps one connection per bot); stop the other one, then start this bot again"
    )
