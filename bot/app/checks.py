"""``check``: every start-up step, in order, with a line on what each found (part of
``bot.app``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from bot.adapters.audit import AuditLog
from bot.adapters.status_page import exposure_warning
from bot.app.asking import check_ask
from bot.app.chats import check_chat
from bot.app.model_check import check_model
from bot.app.models import probe_picture
from bot.core.settings import Config
from bot.core.transport import Finding
from bot.errors import BotError


def check_audit(config: Config) -> tuple[str, str]:
    """Open the audit log as ``run`` would (creating it if new); raises LocalError."""
    audit = AuditLog(config.audit.file)
    try:
        rows, oldest = audit.span()
    finally:
        audit.close()
    keep = config.audit.keep_days
    kept = f"rows older than {keep} days are deleted" if keep else "rows are kept forever"
    since = f"{rows} rows since {oldest}" if oldest else "no rows yet"
    return ("audit", f"{config.audit.file}: writable (0600), {since}; {kept}")


Step = Callable[[], list[Finding]]


def check(config: Config) -> tuple[list[Finding], list[BotError]]:
    """(topic, finding) lines of every start-up step, and every problem ``run`` would refuse:
    one failing step (TF Serving down, say) does not hide what the others find."""
    lines: list[Finding] = [("config", f"{config.path}: ok")]
    lines += [("config", f"warning: {w}") for w in config.warnings]
    steps: list[tuple[str, Step]] = [("serving", lambda: check_model(config, None))]
    for name in config.models:
        steps.append(("serving", partial(_named_model, config, name)))
    steps += [
        ("chat", lambda: check_chat(config)),
        ("ask", lambda: check_ask(config, probe_picture(800))),
        ("audit", lambda: [check_audit(config)]),
    ]
    problems: list[BotError] = []
    for topic, step in steps:
        try:
            lines += step()
        except BotError as exc:
            first = str(exc).splitlines()[0]
            shown = first if len(first) <= 120 else first[:119] + "…"  # in full on stderr
            lines.append((topic, f"problem: {shown}"))
            problems.append(exc)
    if config.status.listen is not None and (exposed := exposure_warning(config.status.listen)):
        lines.append(("status", f"WARNING: {exposed}"))
    return lines, problems


def _named_model(config: Config, name: str) -> list[Finding]:
    return [(topic, f"[models.{name}] {text}") for topic, text in check_model(config, name)]
