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

from bot import admin, app
from bot.audit import AuditLog
from bot.config import Config, load_config
from bot.errors import BotError, ServingError, ServingUnavailable
from bot.pacing import PacedSender, Pacing
from bot.pipeline import LabelTable, Recogniser
from bot.service import FILEHELPER, ChatRules, PictureService, ServiceSettings
from bot.serving import TFServingClient
from bot.status import StatusServer
from bot.telemetry import Telemetry
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
        self._client: TFServingClient | None = None
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
            self._recogniser, self._client = core.recogniser, core.client
            return core.recogniser

    def ping(self) -> None:
        """Check TF Serving answers now; raises ServingError if not."""
        self.get()
        assert self._client is not None
        self._client.ping()


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


class BotControls:
    """The ``admin.Controls`` port: what the owner's file-helper commands act on."""

    def __init__(
        self, config: Config, *, service: PictureService, chat: WeChatChat, telemetry: Telemetry
    ) -> None:
        self._config = config
        self._service = service
        self._chat = chat
        self._telemetry = telemetry

    def status_text(self) -> str:
        snap = self._telemetry.snapshot()
        c = snap.counts
        handled = sum(v for k, v in c.items() if k != "ignored")
        hours = snap.uptime_s / 3600
        return (
            f"状态: {'已暂停' if snap.paused else '运行中'}, 已运行 {hours:.1f} 小时\n"
            f"图片: 已处理 {handled}, 回复 {c.get('replied', 0)}, 不确定 "
            f"{c.get('low_confidence', 0)}, 失败 {c.get('failed', 0)}, 丢弃 {c.get('shed', 0)}, "
            f"忽略 {c.get('ignored', 0)}\n"
            f"识图服务: {'正常' if snap.serving_ok else '无响应'}\n"
            f"群: {', '.join(self._config.wechat.groups) or '(无)'}"
        )

    def set_paused(self, paused: bool) -> None:
        self._service.paused = paused
        log.info("pictures %s by the owner", "paused" if paused else "resumed")

    def reload(self) -> str:
        new = load_config(self._config.path)  # raises ConfigError: the old config stays
        self._service.update(_settings(new))
        self._config = new
        self._telemetry.groups = self._chat.resolve_groups(new.wechat.groups)
        log.info("config reloaded from %s", new.path)
        return f"群 {', '.join(new.wechat.groups) or '(无)'}; 阈值 {new.reply.min_confidence:g}"


def _probe_loop(
    source: LiveRecogniser, telemetry: Telemetry, interval_s: float, stop: threading.Event
) -> None:
    while not stop.is_set():
        try:
            source.ping()
            telemetry.serving_answered()
        except BotError as exc:
            telemetry.serving_failed(str(exc).splitlines()[0])
        stop.wait(interval_s)


def run(config: Config, *, out: TextIO = sys.stdout) -> int:
    started_at = time.time()
    telemetry = Telemetry(healthy_within_s=config.status.healthy_within_s)
    chat = WeChatChat(config.wechat, out=out, on_qr=telemetry.qr_code)
    chat.preflight()
    labels = app.read_labels(config)
    source = LiveRecogniser(config, labels)
    try:
        source.get()
        telemetry.serving_answered()
    except ServingUnavailable as exc:
        telemetry.serving_failed(str(exc))
        print(f"warning: {exc}; logging in anyway, pictures fail until it is back", file=out)
    except ServingError as exc:
        telemetry.serving_failed(str(exc))
        print(f"warning: {exc}", file=out)
    # A LabelError (model and label table do not fit) is left to stop the bot: it is a
    # configuration problem that no retry fixes.
    audit = AuditLog(config.audit.path)
    status_page: StatusServer | None = None
    stop_probe = threading.Event()
    sender: PacedSender | None = None
    service: PictureService | None = None
    try:
        if config.status.listen is not None:
            status_page = StatusServer(config.status.listen, telemetry)
            status_page.start()
            print(f"Status page: {status_page.url}", file=out, flush=True)
        interrupted = audit.recover_interrupted()
        if interrupted:
            log.warning("%d pictures were interrupted by the last stop; marked failed", interrupted)
        w = config.wechat
        sender = PacedSender(chat, Pacing(w.min_send_interval_s, w.send_jitter_s, w.send_retries))
        service = PictureService(
            _settings(config), source=source, outbox=sender, audit=audit, started_at=started_at
        )
        service.on_outcome = lambda pic, result: telemetry.picture(
            pic.chat_name, result.outcome, result.latency_ms
        )
        service.on_serving_error = telemetry.serving_failed
        telemetry.receiving = lambda: chat.receiving
        telemetry.paused = lambda: service.paused if service is not None else False
        telemetry.send_queue = lambda: sender.queued if sender is not None else 0
        controls = BotControls(config, service=service, chat=chat, telemetry=telemetry)
        outbox = sender

        def on_command(text: str) -> None:
            command = admin.parse_command(text)
            if command is not None:
                outbox.post(FILEHELPER, admin.run_command(command, controls))

        chat.login(service.offer, on_command)
        print(f"Logged in as {chat.nickname}.", file=out, flush=True)
        groups = chat.resolve_groups(config.wechat.groups)
        for line in groups:
            print(line, file=out, flush=True)
        telemetry.logged_in(chat.nickname, groups)
        threading.Thread(
            target=_probe_loop,
            name="serving-probe",
            daemon=True,
            args=(source, telemetry, config.status.probe_interval_s, stop_probe),
        ).start()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: stopping", signum)
            chat.stop()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        print("Ready: answering pictures; stop with Ctrl-C or SIGTERM.", file=out, flush=True)
        chat.run()
        return 0
    finally:
        telemetry.phase = "stopped"
        stop_probe.set()
        timeout = config.wechat.shutdown_timeout_s
        deadline = time.monotonic() + timeout
        if service is not None and not service.close(timeout):
            log.warning(
                "stopped with pictures still in progress; they are marked failed at the next start"
            )
        if sender is not None and not sender.close(max(0.0, deadline - time.monotonic())):
            log.warning("stopped with messages still queued")
        audit.close()
        if status_page is not None:
            status_page.close()
        print("Stopped.", file=out, flush=True)
