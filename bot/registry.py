"""The registries: which chat transports and which serving protocols this bot knows.

Adding a transport is one adapter package that defines a ``Transport`` plus one line here;
the wiring (``bot.app``) and the config reader (``bot.config``) look names up here and never
branch on them.
"""

from __future__ import annotations

from bot.adapters.wechat.transport import TRANSPORT as WECHAT
from bot.adapters.wecom.transport import TRANSPORT as WECOM
from bot.core.transport import Transport

TRANSPORTS: dict[str, Transport] = {
    t.name: t
    for t in (
        WECHAT,
        WECOM,
    )
}
