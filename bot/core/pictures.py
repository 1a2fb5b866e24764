"""Pictures from any chat -> screened, queued, recognised, answered and audited.

Chat-neutral: a chat adapter turns its protocol's message into a ``Picture`` and calls
``PictureService.offer`` from its receive thread. ``offer`` only screens, writes the audit
row and hands the picture to a bounded worker pool, so a slow download or a slow model never
stalls the chat loop; when the pool is full the picture is audited as ``shed``.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from bot.core.names import display_name
from bot.core.pipeline import Recogniser, format_probability, render_reply
from bot.core.settings import ReplyConfig
from bot.errors import BotError, ImageError, LabelError, ServingError

log = logging.getLogger(__name__)

QUEUED = "classified; the reply is waiting for its turn to be sent"
INTERRUPTED = "interrupted: the bot stopped before this picture's turn"


@dataclass(frozen=True)
class Outcome:
    """What became of one picture: one audit row's worth."""

    outcome: str
    reason: str = ""
    sha256: str | None = None
    size_bytes: int | None = None
    label: str | None = None
    probability: float | None = None
    model: str | None = None
    version: str | None = None
    latency_ms: float | None = None


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
    reply_to: str | None = None
    """Where the answer goes when it is not simply ``chat_id`` (WeCom: the callback to answer)."""
    refused: str | None = None
    """Why the transport already knows this message is nothing to answer (a voice message):
    it is audited as ignored with this reason."""

    @property
    def answer_to(self) -> str:
        return self.reply_to or self.chat_id


class Audience(Protocol):
    """A transport's settings: which pictures it answers, and with which model.

    ``WeChatConfig`` (groups by name) and ``WeComConfig`` (chats by id) implement it.
    """

    def refuse(self, pic: Picture) -> str | None:
        """Why the settings leave this picture out, or None to answer it."""
        ...

    def model_for(self, pic: Picture) -> str | None:
        """The named model for this picture's chat, or None for the default model."""
        ...

    def label(self, pic: Picture) -> str | None:
        """A name for the picture's chat in metrics; None if the bot does not serve it."""
        ...


def screen(
    pic: Picture, audience: Audience, *, started_at: float, startup_grace_s: float
) -> str | None:
    """Why this picture is not for the bot, or None when it should be answered."""
    if pic.from_self:
        return "sent by the bot's own account"
    if pic.refused is not None:
        return pic.refused
    refused = audience.refuse(pic)
    if refused is not None:
        return refused
    if pic.created_at < started_at - startup_grace_s:
        return "sent before the bot started (replayed message)"
    return None


class RecogniserSource(Protocol):
    def get(self, model: str | None) -> Recogniser:
        """The named (None: default) model's recogniser; raises ServingError while its server
        cannot be reached."""
        ...


class Outbox(Protocol):
    def post(
        self,
        chat_id: str,
        text: str,
        on_done: Callable[[bool], None] | None = None,
        *,
        lane: str | None = None,
    ) -> bool:
        """Queue ``text`` for ``chat_id``; ``lane`` is the chat it takes turns as (fairness)."""
        ...


class AuditStore(Protocol):
    def claim(
        self, msg_id: str, *, chat: str, sender: str, outcome: str = "pending", reason: str = ""
    ) -> bool: ...

    def finish(self, msg_id: str, result: Outcome) -> None: ...


class Events(Protocol):
    """What the service reports as it goes (telemetry)."""

    def picture(
        self, group: str | None, outcome: str, latency_ms: float | None, model: str | None
    ) -> None:
        """An outcome; ``group`` labels a served chat, None a chat the bot does not serve;
        ``model`` is the model that answered, None when none did."""
        ...

    def serving_failed(self, detail: str) -> None: ...


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
    """Screens, queues and answers pictures; every picture seen ends in one audit row.

    ``owner_chat`` is where the one-line-per-picture audit goes (WeChat's file helper), or
    None for no such lines.
    """

    def __init__(
        self,
        *,
        reply: ReplyConfig,
        audience: Audience,
        workers: int,
        queue_size: int,
        startup_grace_s: float,
        source: RecogniserSource,
        outbox: Outbox,
        audit: AuditStore,
        events: Events,
        pause: threading.Event,
        owner_chat: str | None,
        started_at: float,
        clock: Callable[[], float],
    ) -> None:
        self.reply, self.audience = reply, audience
        self._grace_s = startup_grace_s
        self._source = source
        self._outbox = outbox
        self._audit = audit
        self._events = events
        self._pause = pause
        self._owner_chat = owner_chat
        self._started_at = started_at
        self._clock = clock
        # Daemon threads: a picture still in hand after shutdown_timeout_s must not keep the
        # process alive (its row stays pending and is marked interrupted at the next start).
        self._jobs: queue.SimpleQueue[Picture | None] = queue.SimpleQueue()
        self._slots = threading.BoundedSemaphore(workers + queue_size)
        self._idle = threading.Condition()
        self._inflight = 0
        self._closing = False
        self._stopped_waiting = False
        self._workers = workers
        self._last_apology: dict[str, float] = {}
        self._apology_lock = threading.Lock()
        for n in range(workers):
            threading.Thread(target=self._worker, name=f"picture-{n}", daemon=True).start()

    def update(self, *, reply: ReplyConfig, audience: Audience) -> None:
        """Swap in new chats, reply and threshold settings (the pool size stays as started)."""
        self.reply, self.audience = reply, audience

    # -- the chat thread's side: cheap and never blocking ------------------------------------
    def offer(self, pic: Picture) -> None:
        reason = screen(
            pic, self.audience, started_at=self._started_at, startup_grace_s=self._grace_s
        )
        if reason is None and self._pause.is_set():
            reason = "paused by the owner (send resume)"
        where, who = display_name(pic.chat_name), display_name(pic.sender)
        if reason is not None:
            claimed = self._audit.claim(
                pic.msg_id, chat=pic.chat_name, sender=pic.sender, outcome="ignored", reason=reason
            )
            if claimed:
                self._events.picture(self.audience.label(pic), "ignored", None, None)
            log.info("picture %s in %s from %s ignored: %s", pic.msg_id, where, who, reason)
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
        self._jobs.put(pic)

    # -- worker side ---------------------------------------------------------------------
    def _worker(self) -> None:
        while (pic := self._jobs.get()) is not None:
            if self._closing and self._stopped_waiting:
                self._give_up(pic)
            else:
                self._work(pic)

    def _give_up(self, pic: Picture) -> None:
        try:
            self._finish(pic, Outcome("failed", INTERRUPTED), "失败 (机器人停止)")
        finally:
            self._done_with(pic)

    def _work(self, pic: Picture) -> None:
        try:
            self._handle(pic)
        except Exception as exc:  # one bad picture never kills the worker
            log.exception("picture %s failed unexpectedly", pic.msg_id)
            self._finish(
                pic, Outcome("failed", f"internal error: {type(exc).__name__}"), "失败 (内部错误)"
            )
        finally:
            self._done_with(pic)

    def _done_with(self, pic: Picture) -> None:
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
            result = self._source.get(self.audience.model_for(pic)).recognise(data)
        except (ImageError, ServingError, LabelError) as exc:
            log.warning("picture %s not classified: %s", pic.msg_id, exc)
            self._finish(
                pic, Outcome("failed", str(exc), digest, size), f"失败 ({_short_reason(exc)})"
            )
            if isinstance(exc, ServingError):
                self._events.serving_failed(str(exc))
                self._maybe_apologise(pic)
            return
        del data  # the photo is not kept a moment longer than needed
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
        text = render_reply(verdict, sender=pic.sender, rules=self.reply)
        summary = f"{best.label} {format_probability(best.probability)}"

        def sent(ok: bool) -> None:
            if ok:
                self._finish(pic, outcome, summary)
            else:
                failed = replace(outcome, outcome="failed", reason="the reply could not be sent")
                self._finish(pic, failed, f"{summary} (回复发送失败)")

        log.info("picture %s: %s", pic.msg_id, summary)
        if not self._outbox.post(pic.answer_to, text, on_done=sent, lane=pic.chat_id):
            sent(False)

    def _maybe_apologise(self, pic: Picture) -> None:
        interval = self.reply.apology_interval_s
        if interval <= 0 or not self.reply.apology:
            return
        now = self._clock()
        with self._apology_lock:  # two workers failing at once apologise once
            last = self._last_apology.get(pic.chat_id)
            if last is not None and now - last < interval:
                return
            self._last_apology[pic.chat_id] = now
        self._outbox.post(pic.answer_to, self.reply.apology, lane=pic.chat_id)

    def _finish(self, pic: Picture, result: Outcome, line: str) -> None:
        self._audit.finish(pic.msg_id, result)
        self._events.picture(
            self.audience.label(pic), result.outcome, result.latency_ms, result.model
        )
        if self._owner_chat is not None:
            when = datetime.fromtimestamp(pic.created_at).strftime("%Y-%m-%d %H:%M:%S")
            where = display_name(pic.chat_name) if pic.is_group else "私聊"
            who = display_name(pic.sender)
            self._outbox.post(self._owner_chat, f"[{when}] {where} @{who}: 一张图片 → {line}")

    # -- shutdown ------------------------------------------------------------------------
    def close(self, timeout_s: float) -> bool:
        """Take no more pictures; wait up to ``timeout_s`` for those in hand. True if all done.

        Pictures still waiting for a worker then are audited as interrupted, not started."""
        self._closing = True
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._inflight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._idle.wait(left)
            drained = self._inflight == 0
        self._stopped_waiting = True
        while True:  # the waiting ones: never started, audited now
            try:
                pic = self._jobs.get_nowait()
            except queue.Empty:
                break
            if pic is not None:
                self._give_up(pic)
        for _ in range(self._workers):
            self._jobs.put(None)
        return drained
