"""The serving protocols this bot speaks: one registry entry each, and ``[serving] protocol =
"auto"`` asking each in turn whether the server is one of its kind (the first yes wins).

Adding a protocol (say, the Open Inference Protocol) is one adapter module — a client offering
the ``ServingClient`` port, ``looks_like(probe)``, ``start_hint(url)`` and ``SERVER`` — plus one
line in ``bot.registry.PROTOCOLS``. The wiring and ``check`` look protocols up there and never
branch on their names.
"""

from __future__ import annotations

from collections.abc import Callable

import requests

from bot.adapters.rest import Probe, Rest, server_message
from bot.core.serving import ServingClient
from bot.core.settings import ServingConfig
from bot.errors import BadPrediction, ServingError, ServingRejected
from bot.registry import AUTO, PROTOCOLS, ProtocolEntry


def serving_client(
    serving: ServingConfig, *, session: requests.Session, sleep: Callable[[float], None]
) -> ServingClient:
    """The client for ``[serving] protocol``, or (``auto``) for what the server's answers show."""
    if serving.protocol == AUTO:
        entry = detect(serving, session=session, sleep=sleep)
    else:
        entry = PROTOCOLS[serving.protocol]
    return entry.client(serving, session=session, sleep=sleep)


def detect(
    serving: ServingConfig, *, session: requests.Session, sleep: Callable[[float], None]
) -> ProtocolEntry:
    """Ask each protocol in turn whether the server at ``[serving] url`` is one of its kind;
    raises ServingError when it cannot be asked or none says yes."""
    entries = list(PROTOCOLS.values())
    rest = Rest(
        serving,
        session=session,
        sleep=sleep,
        server=entries[0].server,  # the first choice, while the server does not say
        start_hint="; or ".join(entry.start_hint(serving.url) for entry in entries),
    )
    probe = Probe(rest)
    for entry in sorted(entries, key=lambda e: not e.asked_first):
        if entry.looks_like(probe):
            return entry
    raise _unrecognised(probe, entries)


def _unrecognised(probe: Probe, entries: list[ProtocolEntry]) -> ServingError:
    where = f"the server at {probe.rest.public_url}"
    names = ", ".join(f'"{entry.name}"' for entry in entries)
    servers = " or ".join(entry.server for entry in entries)
    if not probe.answers:
        return BadPrediction(f"{where} was not asked anything; set [serving] protocol to {names}")
    # the most telling answer: refused credentials, else the first that is not a plain 404
    answers = sorted(
        probe.answers.items(),
        key=lambda a: (a[1].status_code not in (401, 403), a[1].status_code == 404),
    )
    path, reply = answers[0]
    message = server_message(reply)
    if reply.status_code in (401, 403):
        return ServingRejected(
            reply.status_code,
            message,
            f"{where} refused the credentials ({reply.status_code}: {message}); check the token "
            "or password variables",
        )
    text = (
        f"{where} answers like none of {servers} (GET {path}: {reply.status_code}, {message}); "
        f"check [serving] url and model, or set [serving] protocol to one of {names}"
    )
    if reply.status_code >= 400:
        return ServingRejected(reply.status_code, message, text)
    return BadPrediction(text)
