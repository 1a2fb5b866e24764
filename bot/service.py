"""Pictures from any chat -> screened, queued, recognised, answered and audited.

Chat-neutral: a chat adapter turns its protocol's message into a ``Picture`` and calls
``PictureService.offer`` from its receive thread. ``offer`` only screens, writes the audit
row and hands the picture to a bounded worker pool, so a slow download or a slow model never
stalls the chat loop; when the pool is full the picture is audited as ``shed``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from bot.audit import Outcome
from bot.errors import BotError, ImageError, LabelError, ServingError
from bot.pipeline import Recogniser, ReplyRules, format_probability, render_reply

log = logging.getLogger(__name__)

FILEHELPER = "filehelper"
QUEUED = "classified; the reply is waiting for its turn to be sent"


@dataclass(frozen=True)
class Picture:
    """A picture message, whatever protocol delivered it."""

    msg_id: str
    chat_id: str
    chat_name: str
    sender: str
    is_group: bool
    is_sticker: bool
    from_self: bool
    created_at: float
    fetch: Callable[[], bytes] = field(repr=False, compare=False)


def normalise_name(name: str) -> str:
    """Compare group names as people see them: NFKC, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).split())


@dataclass(frozen=True)
class ChatRules:
    groups: tuple[str, ...]
    stickers: bool = False
    private_chats: bool = False
    startup_grace_s: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(normalise_name(g) for g in self.groups))

    def group_allowed(self, name: str) -> bool:
        return "*" in self.groups or normalise_name(name) in self.groups


def screen(pic: Picture, rules: ChatRules, *, started_at: float) -> str | None:
    """Why this picture is not for the bot, or None when it should be answered."""
    if pic.from_self:
        return "sent by the bot's own account"
    if pic.is_sticker and not rules.stickers:
        return 'sticker ([wechat] stickers = "ignore")'
    if not pic.is_group and not rules.private_chats:
        return "private chat ([wechat] private_chats = false)"
    if pic.is_group and not rules.group_allowed(pic.chat_name):
        return "group not in [wechat] groups"
    if pic.created_at < started_at - rules.startup_grace_s:
        return "sent before the bot started (replayed message)"
    return None


class RecogniserSource(Protocol):
    def get(self) -> Recogniser:
        """The live recogniser; raises ServingError while TF Serving cannot be reached."""
        ...


class Outbox(Protocol):
    def post(
        self, chat_id: str, text: str, on_done: Callable[[bool], None] | None = None
    ) -> bool: ...


class AuditStore(Protocol):
    def claim(
        self, msg_id: str, *, chat: str, sender: str, outcome: str = "pending", reason: str = ""
    ) -> bool: ...

    def finish(self, msg_id: str, result: Outcome) -> None: ...


@dataclass(frozen=True)
class ServiceSettings:
    rules: ChatRules
    reply: ReplyRules
    apology: str = ""
    apology_interval_s: float = 600.0
    workers: int = 2
    queue_size: int = 32
    filehelper_audit: bool = True


def _short_reason(exc: BaseException) -> str:
    """A chat-safe phrase: never a URL, a path or exception text."""
    if isinstance(exc, ImageError):
        return "图片无法读取"
    if isinstance(exc, ServingError):
        return "识图服务不可用"
    if isinstance(exc, LabelError):
        return "标签表与模型不符"
    return "下载或处理失败"


class PictureService:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        source: RecogniserSource,
        outbox: Outbox,
        audit: AuditStore,
        started_at: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._source = source
        self._outbox = outbox
        self._audit = audit
        self._started_at = started_at
        self._clock = clock
        self._pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="picture")
        self._slots = threading.BoundedSemaphore(settings.workers + settings.queue_size)
        self._idle = threading.Condition()
        self._inflight = 0
        self._closing = False
        self._last_apology: dict[str, float] = {}
        self.paused = False
        self.on_outcome: Callable[[Picture, Outcome], None] | None = None
        self.on_serving_error: Callable[[str], None] | None = None

    def update(self, settings: ServiceSettings) -> None:
        """Swap in new rules, reply and threshold settings (the pool size stays as started)."""
        self.settings = settings

    # -- the chat thread's side: cheap and never blocking ------------------------------------
    def offer(self, pic: Picture) -> None:
        reason = screen(pic, self.settings.rules, started_at=self._started_at)
        if reason is None and self.paused:
            reason = "paused by the owner (send resume to the file helper)"
        if reason is not None:
            if (
                self._audit.claim(
                    pic.msg_id,
                    chat=pic.chat_name,
                    sender=pic.sender,
                    outcome="ignored",
                    reason=reason,
                )
                and self.on_outcome is not None
            ):
                self.on_outcome(pic, Outcome("ignored", reason))
            log.info(
                "picture %s in %s from %s ignored: %s",
                pic.msg_id,
                pic.chat_name,
                pic.sender,
                reason,
            )
            return
        if not self._audit.claim(pic.msg_id, chat=pic.chat_name, sender=pic.sender):
            log.info("picture %s seen before: not answered again", pic.msg_id)
            return
        if self._closing or not self._slots.acquire(blocking=False):
            why = "the bot is shutting down" if self._closing else "too many pictures at once"
            self._finish(pic, Outcome("shed", why), "未处理 (忙)")
            return
        with self._idle:
            self._inflight += 1
        self._pool.submit(self._work, pic)

    # -- worker side ---------------------------------------------------------------------
    def _work(self, pic: Picture) -> None:
        try:
            self._handle(pic)
        except Exception as exc:  # one bad picture never kills the worker
            log.exception("picture %s failed unexpectedly", pic.msg_id)
            self._finish(
                pic, Outcome("failed", f"internal error: {type(exc).__name__}"), "失败 (内部错误)"
            )
        finally:
            self._slots.release()
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    def _handle(self, pic: Picture) -> None:
        try:
            data = pic.fetch()
        except BotError as exc:
            self._finish(pic, Outcome("failed", f"download failed: {exc}"), "失败 (下载失败)")
            return
        digest, size = hashlib.sha256(data).hexdigest(), len(data)
        try:
            result = self._source.get().recognise(data)
        except (ImageError, ServingError, LabelError) as exc:
            log.warning("picture %s in %s not classified: %s", pic.msg_id, pic.chat_name, exc)
            self._finish(
                pic, Outcome("failed", str(exc), digest, size), f"失败 ({_short_reason(exc)})"
            )
            if isinstance(exc, ServingError):
                if self.on_serving_error is not None:
                    self.on_serving_error(str(exc))
                self._maybe_apologise(pic)
            return
        verdict = result.verdict
        best = verdict.best
        outcome = Outcome(
            "replied" if verdict.confident else "low_confidence",
            "" if verdict.confident else "below [reply] min_confidence",
            digest,
            size,
            best.label,
            best.probability,
            result.model,
            result.version,
            round(result.latency_ms, 1),
        )
        # Keep the classification now: the reply may wait for its turn in the paced sender.
        self._audit.finish(pic.msg_id, replace(outcome, outcome="pending", reason=QUEUED))
        text = render_reply(verdict, sender=pic.sender, rules=self.settings.reply)
        summary = f"{best.label} {format_probability(best.probability)}"

        def sent(ok: bool) -> None:
            if ok:
                self._finish(pic, outcome, summary)
            else:
                failed = replace(outcome, outcome="failed", reason="the reply could not be sent")
                self._finish(pic, failed, f"{summary} (回复发送失败)")

        log.info("picture %s in %s from %s: %s", pic.msg_id, pic.chat_name, pic.sender, summary)
        if not self._outbox.post(pic.chat_id, text, on_done=sent):
            sent(False)

    def _maybe_apologise(self, pic: Picture) -> None:
        interval = self.settings.apology_interval_s
        if interval <= 0 or not self.settings.apology:
            return
        now = self._clock()
        last = self._last_apology.get(pic.chat_id)
        if last is not None and now - last < interval:
            return
        self._last_apology[pic.chat_id] = now
        self._outbox.post(pic.chat_id, self.settings.apology)

    def _finish(self, pic: Picture, result: Outcome, line: str) -> None:
        self._audit.finish(pic.msg_id, result)
        if self.on_outcome is not None:
            self.on_outcome(pic, result)
        if self.settings.filehelper_audit:
            when = datetime.fromtimestamp(pic.created_at).strftime("%Y-%m-%d %H:%M:%S")
            where = pic.chat_name if pic.is_group else "私聊"
            self._outbox.post(FILEHELPER, f"[{when}] {where} @{pic.sender}: 一张图片 → {line}")

    # -- shutdown ------------------------------------------------------------------------
    def close(self, timeout_s: float) -> bool:
        """Take no more pictures; wait up to ``timeout_s`` for those in hand. True if all done."""
        self._closing = True
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._inflight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._idle.wait(left)
            drained = self._inflight == 0
        self._pool.shutdown(wait=False, cancel_futures=True)
        return drained
