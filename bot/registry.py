"""The registries: which chat transports and which serving protocols this bot knows.

Adding a transport is one adapter package that defines a ``Transport`` plus one line in
``TRANSPORTS``; adding a serving protocol is one adapter module plus one line in ``PROTOCOLS``.
The wiring (``bot.app``) and the config reader (``bot.config``) look names up here and never
branch on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import requests

from bot.adapters import stfs, tfserving, v2
from bot.adapters.rest import Probe
from bot.adapters.wechat.transport import TRANSPORT as WECHAT
from bot.adapters.wecom.transport import TRANSPORT as WECOM
from bot.core.serving import ServingClient
from bot.core.settings import ServingConfig
from bot.core.transport import Transport

AUTO = "auto"  # [serving] protocol: ask each registered protocol in turn

TRANSPORTS: dict[str, Transport] = {
    t.name: t
    for t in (
        WECHAT,
        WECOM,
    )
}


class ClientFactory(Protocol):
    def __call__(
        self,
        settings: ServingConfig,
        *,
        session: requests.Session,
        sleep: Callable[[float], None],
    ) -> ServingClient: ...


@dataclass(frozen=True)
class ProtocolEntry:
    """One serving protocol: its ``[serving] protocol`` name, the server's display name, how to
    build its client, how to recognise its server, and how to start one (for messages)."""

    name: str
    server: str
    client: ClientFactory
    looks_like: Callable[[Probe], bool]
    start_hint: Callable[[str], str]
    asked_first: bool = False  # its sign is unmistakable, and others' signs would match it


# In the order ``auto`` asks them (those ``asked_first`` before the rest).
PROTOCOLS: dict[str, ProtocolEntry] = {
    entry.name: entry
    for entry in (
        ProtocolEntry(
            "tfserving",
            tfserving.SERVER,
            tfserving.TFServingClient,
            tfserving.looks_like,
            tfserving.start_hint,
        ),
        ProtocolEntry("stfs", stfs.SERVER, stfs.STFSClient, stfs.looks_like, stfs.start_hint),
        # GET /v2 answers server metadata only on a v2 server, while a v2 server's JSON 404
        # for /v1/... would look like TF Serving's: it is asked first
        ProtocolEntry("v2", v2.SERVER, v2.V2Client, v2.looks_like, v2.start_hint, True),
    )
}


def protocol_names() -> tuple[str, ...]:
    """The registered names, for ``[serving] protocol``'s choices (besides ``auto``)."""
    return tuple(PROTOCOLS)
