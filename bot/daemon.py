"""``run``: start the parts ``bot.app`` built, in order, keep them running until a signal or
the chat ends, and stop them in the reverse order within ``shutdown_timeout_s``."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from types import FrameType
from typing import TextIO

from bot.adapters.audit import AuditLog
from bot.adapters.status_page import exposure_warning
from bot.adapters.telemetry import Telemetry
from bot.app import bot as app
from bot.core.live import ModelSet
from bot.core.settings import Config
from bot.errors import BotError, ServingError, ServingUnavailable

log = logging.getLogger(__name__)


PURGE_EVERY_S = 86_400.0


def _probe_loop(
    source: ModelSet, telemetry: Telemetry, interval_s: float, stop: threading.Event
) -> None:
    while not stop.is_set():
        try:
            for model in source.all().values():
                model.ping()
            telemetry.serving_answered()
        except BotError as exc:
            telemetry.serving_failed(str(exc).splitlines()[0])
        stop.wait(interval_s)


def _purge_loop(audit: AuditLog, keep_days: int, stop: threading.Event) -> None:
    """Retention: rows older than ``[audit] keep_days`` go at start and then daily."""
    while not stop.is_set():
        gone = audit.purge(keep_days)
        if gone:
            log.info("audit log: %d rows older than %d days deleted", gone, keep_days)
        stop.wait(PURGE_EVERY_S)


def _first_contact(bot: app.Bot, out: TextIO) -> None:
    """Reach the model once before login; only a label mismatch stops the bot here."""
    try:
        for model in bot.source.all().values():
            model.get()
        bot.telemetry.serving_answered()
    except ServingUnavailable as exc:
        bot.telemetry.serving_failed(str(exc))
        print(f"warning: {exc}; logging in anyway, pictures fail until it is back", file=out)
    except ServingError as exc:
        bot.telemetry.serving_failed(str(exc))
        print(f"warning: {exc}", file=out)
    # A LabelError (model and label table do not fit) is left to stop the bot: it is a
    # configuration problem that no retry fixes.


class _StopRequested(BaseException):
    """SIGTERM or Ctrl-C before the bot is logged in: leave the login wait at once (a
    BaseException, so that no library's ``except Exception`` swallows it)."""


def _stop_login(signum: int, frame: FrameType | None) -> None:
    log.info("signal %d while logging in: stopping", signum)
    raise _StopRequested


def run(config: Config, *, out: TextIO = sys.stdout) -> int:
    started_at = time.time()
    for moved in config.warnings:
        print(f"warning: {moved}", file=out, flush=True)
    bot = app.build_bot(config, out=out, started_at=started_at)
    stop_probe = threading.Event()
    stopped_cleanly = False
    signal.signal(signal.SIGINT, _stop_login)
    signal.signal(signal.SIGTERM, _stop_login)
    try:
        bot.chat.preflight()
        _first_contact(bot, out)
        if bot.status_page is not None:
            bot.status_page.start()
            print(f"Status page: {bot.status_page.url}", file=out, flush=True)
            if config.status.listen and (exposed := exposure_warning(config.status.listen)):
                print(f"WARNING: {exposed}", file=out, flush=True)
        interrupted = bot.audit.recover_interrupted()
        if interrupted:
            log.warning("%d pictures were interrupted by the last stop; marked failed", interrupted)
        bot.chat.connect(
            on_event=app.dispatch(bot),
            on_qr=bot.telemetry.qr_code,
            on_phase=bot.telemetry.login_phase,
        )
        print(f"Logged in as {bot.chat.account}.", file=out, flush=True)
        targets = bot.chat.resolve_targets(config.transport.targets)
        empty = config.transport.no_targets_warning()
        for line in [*targets, *([empty] if empty else [])]:
            print(line, file=out, flush=True)
        bot.telemetry.logged_in(bot.chat.account, targets)
        threading.Thread(
            target=_probe_loop,
            name="serving-probe",
            daemon=True,
            args=(bot.source, bot.telemetry, config.status.probe_interval_s, stop_probe),
        ).start()
        threading.Thread(
            target=_purge_loop,
            name="audit-retention",
            daemon=True,
            args=(bot.audit, config.audit.keep_days, stop_probe),
        ).start()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: stopping", signum)
            bot.chat.stop()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        print("Ready: answering pictures; stop with Ctrl-C or SIGTERM.", file=out, flush=True)
        bot.chat.run()
        stopped_cleanly = True
        return 0
    except _StopRequested:
        stopped_cleanly = True  # asked to stop before the login finished: nothing went wrong
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # the shutdown is already under way
            signal.signal(sig, signal.SIG_IGN)
        _shutdown(bot, stop_probe)
        # Only a clean stop says so: after an error, the error is the last line a person reads.
        if stopped_cleanly:
            print("Stopped.", file=out, flush=True)


def _shutdown(bot: app.Bot, stop_probe: threading.Event) -> None:
    """Stop every part within shutdown_timeout_s. Pictures still in hand then run on in daemon
    threads until the process exits; their rows are marked interrupted at the next start."""
    bot.telemetry.stopped()
    stop_probe.set()
    timeout = bot.config.chat.shutdown_timeout_s
    deadline = time.monotonic() + timeout
    drained = bot.service.close(timeout)
    if not drained:
        log.warning(
            "stopped with pictures still in progress; they are marked failed at the next start"
        )
    if not bot.sender.close(max(0.0, deadline - time.monotonic())):
        log.warning("stopped with messages still queued")
    bot.audit.close()
    if bot.status_page is not None:
        bot.status_page.close()
