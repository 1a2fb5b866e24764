"""``check``: every start-up step, in order, with a line on what each found (part of
``bot.app``)."""

from __future__ import annotations

from bot.app.chats import check_chat
from bot.app.models import check_model
from bot.core.settings import Config


def check(config: Config) -> list[tuple[str, str]]:
    """(topic, finding) lines; raises BotError on the first thing ``run`` would refuse."""
    lines = [("config", f"{config.path}: ok")]
    lines += check_model(config, None)
    for name in config.models:
        lines += [(topic, f"[models.{name}] {text}") for topic, text in check_model(config, name)]
    lines += check_chat(config)
    return lines
