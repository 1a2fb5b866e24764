"""A transport's registry entry: everything the wiring needs to use one chat transport.

Adding a transport is one adapter package that defines a ``Transport`` and one line in
``bot.registry``; nothing else names it (``grep -n 'transport ==' bot`` finds nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from bot.core.audience import ChatSettings
from bot.core.chat import Chat
from bot.core.sections import Context, Section
from bot.core.settings import Config

Finding = tuple[str, str]
"""One line of ``check``'s report: (topic, what was found)."""


@dataclass(frozen=True)
class Transport:
    name: str
    """``[chat] transport = NAME``; its settings are the section ``[NAME]``."""
    settings: type
    """The section's dataclass, declared with ``bot.core.settings.setting``."""
    read: Callable[[Section, Context], ChatSettings]
    """Validate the section (problems go to the ``Section``) and build the settings."""
    build: Callable[[Config, TextIO], Chat]
    """The ``Chat`` adapter for ``run`` (heavy libraries are imported only here)."""
    check: Callable[[Config], list[Finding]]
    """What ``check`` finds about this transport; raises BotError for what stops ``run``."""
    health: str
    """The name of ``/healthz``'s login part."""
