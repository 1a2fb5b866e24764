"""The one place that builds the adapters from the config and wires them to the core.

Constructors show every dependency; nothing is patched in after construction. No I/O at
import: building happens when ``check``, ``classify``, ``stats`` or ``run`` ask for it.
"""

from __future__ import annotations

import io
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import TextIO

import numpy as np
import requests
from PIL import Image

from bot.adapters.audit import AuditLog, read_rows
from bot.adapters.imaging import PhotoPreparer
from bot.adapters.labels import load_labels
from bot.adapters.status_page import StatusServer
from bot.adapters.telemetry import Telemetry
from bot.adapters.tfserving import ModelInfo, TFServingClient
from bot.adapters.wechat.chat import WeChatChat
from bot.config import load_config
from bot.core import admin, stats
from bot.core.chat import Chat
from bot.core.live import LiveRecogniser, ModelSet
from bot.core.pacing import PacedSender
from bot.core.pictures import PictureService
from bot.core.pipeline import LabelTable, Recogniser
from bot.core.settings import Config, LabelsConfig, ModelConfig
from bot.errors import UsageError

log = logging.getLogger(__name__)


def read_labels(labels: LabelsConfig) -> LabelTable:
    return load_labels(labels.file, column=labels.column, id_column=labels.id_column)


@dataclass
class LoadedModel:
    """A model reached and read, with the recogniser wired to it (the ``Model`` port)."""

    client: TFServingClient
    info: ModelInfo
    labels: LabelTable
    recogniser: Recogniser

    @property
    def description(self) -> str:
        info = self.info
        return f"model {info.name} version {info.version}, {info.input.describe()}"

    def ping(self) -> None:
        self.client.ping()


def model_config(config: Config, name: str | None) -> ModelConfig:
    """The default model's settings (None) or a [models.NAME] table's; BotError if unknown."""
    if name is None:
        return ModelConfig(serving=config.serving, labels=config.labels)
    if name not in config.models:
        raise UsageError(
            f"no model {name!r}: use one of {', '.join(config.models) or '(none)'} from "
            f"[models.NAME] in {config.path}, or leave --model out for the default"
        )
    return config.models[name]


def connect_model(
    config: Config, name: str | None = None, *, labels: LabelTable | None = None
) -> LoadedModel:
    """Read labels, reach the server, read the model's signature, wire the recogniser."""
    model = model_config(config, name)
    labels = labels if labels is not None else read_labels(model.labels)
    client = TFServingClient(model.serving, session=requests.Session(), sleep=time.sleep)
    info = client.model_info()
    recogniser = Recogniser(
        prepare=PhotoPreparer(info.input, config.images),
        classifier=client,
        labels=labels,
        rules=config.reply,
        offset=model.labels.offset,
        model_classes=info.num_classes,
    )
    return LoadedModel(client, info, labels, recogniser)


def model_set(config: Config) -> ModelSet:
    """Every configured model, each connected lazily (and again after failures)."""

    def live(name: str | None) -> LiveRecogniser:
        labels = read_labels(model_config(config, name).labels)  # a bad table stops the bot now
        return LiveRecogniser(
            lambda: connect_model(config, name, labels=labels), retry_s=5.0, clock=time.monotonic
        )

    return ModelSet(live(None), {name: live(name) for name in config.models})


def probe_picture(size: int = 400) -> bytes:
    """A textured test photo for ``check``'s end-to-end prediction."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 255 // size, y * 255 // size, (x + y) * 127 // size], axis=-1)
    pixels = np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _offset_meaning(offset: int | None) -> str:
    if offset == 1:
        return "class 0 is background, model class i = table row i-1"
    if offset == 0:
        return "model class i = table row i"
    return f"model class i = table row i-{offset}"


def check(config: Config) -> list[tuple[str, str]]:
    """Run every start-up step and return (topic, finding) lines; raises on the first failure."""
    lines = [("config", f"{config.path}: ok")]
    model = connect_model(config)
    labels, info = model.labels, model.info
    lines.append(
        (
            "labels",
            f"{config.labels.file}: {len(labels)} names from column "
            f"{labels.column!r} (e.g. 0 = {labels.names[0]})",
        )
    )
    lines.append(
        (
            "serving",
            f"{model.client.public_url}: model {info.name!r} version "
            f"{info.version} AVAILABLE (loaded: {', '.join(info.available_versions)})",
        )
    )
    shrink = f"; pictures shrunk to {config.images.short_side_px} px short side"
    lines.append(("input", info.input.describe() + (shrink if info.input.kind == "jpeg" else "")))
    recognition = model.recogniser.recognise(probe_picture())
    classes = info.num_classes or "?"
    lines.append(("output", f"{info.output or 'the only output'!s}: {classes} classes"))
    offset = model.recogniser.resolved_offset
    how = "auto" if config.labels.offset is None else "set in config"
    lines.append(("offset", f"{offset} ({how}: {_offset_meaning(offset)})"))
    best = recognition.verdict.best
    lines.append(
        (
            "predict",
            f"test picture -> {best.label} {best.probability:.1%} in "
            f"{recognition.latency_ms:.0f} ms, {recognition.sent_bytes:,} bytes sent",
        )
    )
    return lines


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
            groups=self._config.wechat.groups,
        )

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._pause.set()
        else:
            self._pause.clear()
        log.info("pictures %s by the owner", "paused" if paused else "resumed")

    def reload(self) -> str:
        new = load_config(self._config.path)  # raises ConfigError: the old config stays
        self._service.update(reply=new.reply, audience=new.wechat)
        self._config = new
        self._telemetry.groups_resolved(self._chat.resolve_targets(new.wechat.groups))
        log.info("config reloaded from %s", new.path)
        return f"群 {', '.join(new.wechat.groups) or '(无)'}; 阈值 {new.reply.min_confidence:g}"


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
    chat = WeChatChat(config.wechat, out=out)
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
    )
    audit = AuditLog(config.audit.file)
    service = PictureService(
        reply=config.reply,
        audience=config.wechat,
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
        StatusServer(config.status.listen, telemetry) if config.status.listen is not None else None
    )
    return Bot(config, chat, source, telemetry, sender, service, audit, desk, status_page)
