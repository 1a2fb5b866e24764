"""Chats: the configured transport's adapter and its ``check``, from the registry (part of the
wiring, ``bot.app``)."""

from __future__ import annotations

from typing import TextIO

from bot.core.chat import Chat
from bot.core.settings import Config
from bot.core.transport import Finding, Transport
from bot.registry import TRANSPORTS


def transport(config: Config) -> Transport:
    """The registry entry of ``[chat] transport`` (``bot.config`` checked the name)."""
    return TRANSPORTS[config.chat.transport]


def build_chat(config: Config, *, out: TextIO) -> Chat:
    return transport(config).build(config, out)


def check_chat(config: Config) -> list[Finding]:
    """What ``run`` would refuse or do silently, found before it: (topic, finding) lines;
    raises BotError for what stops ``run``."""
    return transport(config).check(config)
