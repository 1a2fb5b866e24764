"""``run``: wire the chat, the picture service, the paced sender and the audit log, and
keep them running until a signal or the chat ends."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from types import FrameType
from typing import TextIO

from bot import app
from bot.audit import AuditLog
from bot.config import Config
from bot.errors import LabelError, ServingError, ServingUnavailable
from bot.pacing import PacedSender, Pacing
from bot.pipeline import LabelTable, Recogniser
from bot.service import ChatRules, PictureService, ServiceSettings
from bot.wechat import WeChatChat

log = logging.getLogger(__name__)


class LiveRecogniser:
    """The ``RecogniserSource`` port: connects to TF Serving lazily and again after failures,
    so the bot logs in and keeps running while TF Serving is down."""

    def __init__(self, config: Config, labels: LabelTable, *, retry_s: float = 5.0) -> None:
        self._config = config
        self._labels = labels
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._recogniser: Recogniser | None = None
        self._next_try = 0.0
        self._last_error: ServingError | None = None

    def get(self) -> Recogniser:
        with self._lock:
            if self._recogniser is not None:
                return self._recogniser
            if time.monotonic() < self._next_try and self._last_error is not None:
                raise self._last_error
            try:
                core = app.build_core(self._config, labels=self._labels)
            except ServingError as exc:
                self._last_error = exc
                self._next_try = time.monotonic() + self._retry_s
                raise
            log.info(
                "TF Serving ready: model %s version %s, %s",
                core.info.name,
                core.info.version,
                core.info.input.describe(),
            )
            self._recogniser = core.recogniser
            return core.recogniser


def _settings(config: Config) -> ServiceSettings:
    w, r = config.wechat, config.reply
    rules = ChatRules(
        w.groups,
        stickers=w.stickers == "classify",
        private_chats=w.private_chats,
        startup_grace_s=w.startup_grace_s,
    )
    return ServiceSettings(
        rules,
        app.reply_rules(config),
        r.apology,
        r.apology_interval_s,
        w.workers,
        w.queue_size,
        w.filehelper_audit,
    )


def run(config: Config, *, out: TextIO = sys.stdout) -> int:
    started_at = time.time()
    chat = WeChatChat(config.wechat, out=out)
    chat.preflight()
    labels = app.read_labels(config)
    source = LiveRecogniser(config, labels)
    try:
        source.get()
    except ServingUnavailable as exc:
        print(f"warning: {exc}; logging in anyway, pictures fail until it is back", file=out)
    except (ServingError, LabelError) as exc:
        print(f"warning: {exc}", file=out)
    audit = AuditLog(config.audit.path)
    sender: PacedSender | None = None
    service: PictureService | None = None
    try:
        interrupted = audit.recover_interrupted()
        if interrupted:
            log.warning("%d pictures were interrupted by the last stop; marked failed", interrupted)
        w = config.wechat
        sender = PacedSender(chat, Pacing(w.min_send_interval_s, w.send_jitter_s, w.send_retries))
        service = PictureService(
            _settings(config), source=source, outbox=sender, audit=audit, started_at=started_at
        )
        chat.login(service.offer)
        print(f"Logged in as {chat.nickname}.", file=out, flush=True)
        for line in chat.resolve_groups(config.wechat.groups):
            print(line, file=out, flush=True)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: stopping", signum)
            chat.stop()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        print("Ready: answering pictures; stop with Ctrl-C or SIGTERM.", file=out, flush=True)
        chat.run()
        return 0
    finally:
        timeout = config.wechat.shutdown_timeout_s
        deadline = time.monotonic() + timeout
        if service is not None and not service.close(timeout):
            log.warning(
                "stopped with pictures still in progress; they are marked failed at the next start"
            )
        if sender is not None and not sender.close(max(0.0, deadline - time.monotonic())):
            log.warning("stopped with messages still queued")
        audit.close()
        print("Stopped.", file=out, flush=True)
