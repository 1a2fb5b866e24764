"""The running bot: every part ``run`` starts and stops, built and wired (part of ``bot.app``).

Constructors show every dependency; nothing is patched in after construction.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import TextIO

from bot.adapters.audit import AuditLog, read_rows
from bot.adapters.status_page import StatusServer
from bot.adapters.telemetry import Telemetry
from bot.app.chats import audience, build_chat, login_part, targets
from bot.app.models import model_set
from bot.config import load_config
from bot.core import admin, stats
from bot.core.chat import Chat
from bot.core.live import ModelSet
from bot.core.pacing import PacedSender
from bot.core.pictures import PictureService
from bot.core.settings import Config
from bot.errors import UsageError

log = logging.getLogger(__name__)


def stats_text(
    config: Config, *, since: str | None, group: str | None, as_json: bool, today: date
) -> str:
    """What ``stats`` prints: the audit log summarised."""
    first_day = stats.parse_since(since, today=today)
    report = stats.summarise(
        read_rows(config.audit.file, since=first_day), since=first_day, group=group
    )
    return stats.render_json(report) if as_json else stats.render_text(report)


class BotControls:
    """The ``admin.Controls`` port: what the owner's commands act on."""

    def __init__(
        self,
        config: Config,
        *,
        service: PictureService,
        pause: threading.Event,
        chat: Chat,
        telemetry: Telemetry,
    ) -> None:
        self._config = config
        self._service = service
        self._pause = pause
        self._chat = chat
        self._telemetry = telemetry

    def status_text(self) -> str:
        snap = self._telemetry.snapshot()
        return admin.status_text(
            snap.counts,
            paused=snap.paused,
            uptime_s=snap.uptime_s,
            serving_ok=snap.serving_ok,
            groups=targets(self._config),
        )

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._pause.set()
        else:
            self._pause.clear()
        log.info("pictures %s by the owner", "paused" if paused else "resumed")

    def reload(self) -> str:
        new = load_config(self._config.path)  # raises ConfigError: the old config stays
        if new.models != self._config.models or new.chat != self._config.chat:
            raise UsageError(
                "[models] or [chat] changed: those need a restart; the groups, templates and "
                "thresholds were not reloaded either"
            )
        resolved = self._chat.resolve_targets(targets(new))
        self._service.update(reply=new.reply, audience=audience(new))
        self._config = new
        self._telemetry.groups_resolved(resolved)
        log.info("config reloaded from %s", new.path)
        return f"群 {', '.join(targets(new)) or '(无)'}; 阈值 {new.reply.min_confidence:g}"


@dataclass
class Bot:
    """Everything ``run`` starts and stops, built and wired."""

    config: Config
    chat: Chat
    source: ModelSet
    telemetry: Telemetry
    sender: PacedSender
    service: PictureService
    audit: AuditLog
    desk: admin.CommandDesk
    status_page: StatusServer | None


def build_bot(config: Config, *, out: TextIO, started_at: float) -> Bot:
    """Build every part of the running bot. Opens the audit log and binds the status page
    (so their problems stop the bot before login); nothing is started."""
    chat = build_chat(config, out=out)
    source = model_set(config)
    w = config.wechat
    sender = PacedSender(
        chat,
        min_interval_s=w.min_send_interval_s,
        jitter_s=w.send_jitter_s,
        retries=w.send_retries,
        clock=time.monotonic,
        sleep=time.sleep,
        rng=random.Random(),
    )
    pause = threading.Event()
    telemetry = Telemetry(
        healthy_within_s=config.status.healthy_within_s,
        receiving=chat.is_receiving,
        paused=pause.is_set,
        send_queue=sender.queued,
        login_part=login_part(config),
    )
    audit = AuditLog(config.audit.file)
    service = PictureService(
        reply=config.reply,
        audience=audience(config),
        workers=config.wechat.workers,
        queue_size=config.wechat.queue_size,
        startup_grace_s=config.wechat.startup_grace_s,
        source=source,
        outbox=sender,
        audit=audit,
        events=telemetry,
        pause=pause,
        owner_chat=chat.owner_chat,
        started_at=started_at,
        clock=time.time,
    )
    controls = BotControls(config, service=service, pause=pause, chat=chat, telemetry=telemetry)
    desk = admin.CommandDesk(controls, outbox=sender, reply_to=chat.command_chat)
    status_page = (
        StatusServer(config.status.listen, telemetry, allowed_hosts=config.status.allowed_hosts)
        if config.status.listen is not None
        else None
    )
    return Bot(config, chat, source, telemetry, sender, service, audit, desk, status_page)
