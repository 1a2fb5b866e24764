"""``check``: every start-up step, in order, with a line on what each found (part of
``bot.app``)."""

from __future__ import annotations

from bot.adapters.audit import AuditLog
from bot.adapters.status_page import exposure_warning
from bot.app.asking import check_ask
from bot.app.chats import check_chat
from bot.app.models import check_model, probe_picture
from bot.core.settings import Config


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


def check(config: Config) -> list[tuple[str, str]]:
    """(topic, finding) lines; raises BotError on the first thing ``run`` would refuse."""
    lines = [("config", f"{config.path}: ok")]
    lines += [("config", f"warning: {w}") for w in config.warnings]
    lines += check_model(config, None)
    for name in config.models:
        lines += [(topic, f"[models.{name}] {text}") for topic, text in check_model(config, name)]
    lines += check_chat(config)
    lines += check_ask(config, probe_picture(800))
    lines.append(check_audit(config))
    if config.status.listen is not None and (exposed := exposure_warning(config.status.listen)):
        lines.append(("status", f"WARNING: {exposed}"))
    return lines
