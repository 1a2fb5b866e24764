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

from bot.adapters.audit import AuditLog, oldest_day, read_question_rows, read_rows
from bot.adapters.status_page import StatusServer
from bot.adapters.telemetry import Telemetry
from bot.app.asking import ask_desk, photo_keeper
from bot.app.chats import build_chat, transport
from bot.app.models import model_set
from bot.config import load_config
from bot.core import admin, stats
from bot.core.chat import Chat
from bot.core.live import ModelSet
from bot.core.pacing import PacedSender
from bot.core.pictures import PictureService
from bot.core.questions import Dispatch, QuestionDesk, QuestionTaker
from bot.core.settings import Config
from bot.core.sharing import model_share
from bot.errors import ReloadRefused

log = logging.getLogger(__name__)


def stats_text(
    config: Config, *, since: str | None, group: str | None, as_json: bool, today: date
) -> str:
    """What ``stats`` prints: the audit log summarised."""
    first_day = stats.parse_since(since, today=today)
    report = stats.summarise(
        read_rows(config.audit.file, since=first_day),
        since=first_day,
        group=group,
        questions=read_question_rows(config.audit.file, since=first_day),
    )
    if as_json:
        return stats.render_json(report)
    keep = config.audit.keep_days
    oldest = oldest_day(config.audit.file)
    kept = f"kept {keep} days" if keep else "kept forever ([audit] keep_days = 0)"
    back = f"the audit log goes back to {oldest}" if oldest else "the audit log is empty"
    return stats.render_text(report) + f"{back}; {kept}\n"


class BotControls:
    """The ``admin.Controls`` port: what the owner's commands act on."""

    def __init__(
        self,
        config: Config,
        *,
        service: PictureService,
        questions: QuestionTaker,
        pause: threading.Event,
        chat: Chat,
        telemetry: Telemetry,
        audit: AuditLog,
    ) -> None:
        self._config = config
        self._audit = audit
        self._service = service
        self._questions = questions
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
            groups=self._config.transport.targets,
        )

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._pause.set()
        else:
            self._pause.clear()
        log.info("pictures %s by the owner", "paused" if paused else "resumed")

    def forget(self, sender: str) -> int:
        return self._audit.forget(sender)

    def reload(self) -> str:
        new = load_config(self._config.path)  # raises ConfigError: the old config stays
        old = self._config
        if (new.models, new.chat, new.ask) != (old.models, old.chat, old.ask):
            raise ReloadRefused(
                "[models], [chat] or [ask] changed: those need a restart; the groups, "
                "templates and thresholds were not reloaded either"
            )
        resolved = self._chat.resolve_targets(new.transport.targets)
        self._service.update(reply=new.reply, audience=new.transport)
        self._questions.update(reply=new.reply, audience=new.transport)
        self._config = new
        self._telemetry.groups_resolved(resolved)
        log.info("config reloaded from %s", new.path)
        return f"群 {', '.join(new.transport.targets) or '(无)'}; 阈值 {new.reply.min_confidence:g}"


@dataclass
class Bot:
    """Everything ``run`` starts and stops, built and wired."""

    config: Config
    chat: Chat
    source: ModelSet
    telemetry: Telemetry
    sender: PacedSender
    service: PictureService
    questions: QuestionTaker
    audit: AuditLog
    desk: admin.CommandDesk
    status_page: StatusServer | None


def build_bot(config: Config, *, out: TextIO, started_at: float) -> Bot:
    """Build every part of the running bot. Opens the audit log and binds the status page
    (so their problems stop the bot before login); nothing is started."""
    chat = build_chat(config, out=out)
    source = model_set(config)
    w = config.chat
    sender = PacedSender(
        chat,
        min_interval_s=w.min_send_interval_s,
        jitter_s=w.send_jitter_s,
        retries=w.send_retries,
        clock=time.monotonic,
        sleep=time.sleep,
        rng=random.Random(),
    )
    audit = AuditLog(config.audit.file)
    pause = threading.Event()
    telemetry = Telemetry(
        healthy_within_s=config.status.healthy_within_s,
        receiving=chat.is_receiving,
        paused=pause.is_set,
        send_queue=sender.queued,
        audit_trouble=audit.trouble,
        login_part=transport(config).health,
    )
    keeper = photo_keeper(config)
    service = PictureService(
        reply=config.reply,
        audience=config.transport,
        workers=w.workers,
        per_model_workers=model_share(w.workers, 1 + len(config.models)),
        queue_size=w.queue_size,
        startup_grace_s=w.startup_grace_s,
        source=source,
        outbox=sender,
        audit=audit,
        events=telemetry,
        pause=pause,
        owner_chat=chat.owner_chat,
        started_at=started_at,
        clock=time.time,
        keeper=keeper,
    )
    hints = QuestionDesk(
        audience=config.transport,
        reply=config.reply,
        outbox=sender,
        pictures=service.offer,
        clock=time.monotonic,
    )
    questions: QuestionTaker = hints
    if keeper is not None:
        questions = ask_desk(
            config,
            keeper,
            outbox=sender,
            log_to=audit,
            events=telemetry,
            hints=hints,
            chat=chat,
        )
    controls = BotControls(
        config,
        service=service,
        questions=questions,
        pause=pause,
        chat=chat,
        telemetry=telemetry,
        audit=audit,
    )
    desk = admin.CommandDesk(controls, outbox=sender, reply_to=chat.command_chat)
    status_page = (
        StatusServer(config.status.listen, telemetry, allowed_hosts=config.status.allowed_hosts)
        if config.status.listen is not None
        else None
    )
    return Bot(
        config, chat, source, telemetry, sender, service, questions, audit, desk, status_page
    )


def dispatch(bot: Bot) -> Dispatch:
    """Where each event from the chat goes."""
    return Dispatch(
        pictures=bot.service.offer, questions=bot.questions.offer, commands=bot.desk.handle
    )
