"""What the WeCom SDK needs from outside and what its failures mean: the extra CA, its logger,
which refused logins are final, and the one-line messages for a refused login, an untrusted
certificate, a kick and giving up."""

from __future__ import annotations

import logging
import re
import ssl
from pathlib import Path

import aibot.api
import aibot.ws

from bot.errors import LocalError

# SDK 1.0.2 reports a refused login only as this exception text (aibot/ws.py:243-256).
_AUTH_FAILED = re.compile(r"^Authentication failed: (?P<msg>.*) \(code: (?P<code>-?\d+)\)$", re.S)
BAD_SECRET = 853000
# Only these refusals of ``aibot_subscribe`` are final: a person must fix the Bot ID or Secret.
# Any other errcode (45009 "api freq out of limit" after a drop, -1 "system busy", ...) is
# WeCom's passing state: the login is tried again with backoff.
CREDENTIAL_REFUSALS = frozenset({BAD_SECRET})


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


def _detail(errmsg: str) -> str:
    return errmsg.split(", hint")[0].strip() or "no detail"


def refused(bot_id: str, secret_env: str, code: int, errmsg: str) -> str:
    why = "the Bot ID and Secret do not match" if code == BAD_SECRET else _detail(errmsg)
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


def turned_away(code: int, errmsg: str) -> str:
    """How a connection ended whose login WeCom refused for now (completes "the connection …")."""
    return f"was refused for now (errcode {code}: {_detail(errmsg)})"


def gave_up(ws_url: str, why: str, times: int) -> str:
    return (
        f"gave up connecting to WeCom at {ws_url}: the connection {why}, {times} times in a row; "
        "check this machine's network (firewall, proxy) and [wecom] ws_url. Nothing to fix if "
        "WeCom itself was down or limiting logins: the bot exits 75, and the systemd unit "
        "starts it again"
    )
