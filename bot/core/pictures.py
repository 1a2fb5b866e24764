"""Pictures from any chat -> screened, queued, answered and audited.

Chat-neutral: a chat adapter turns its protocol's message into a ``Picture`` event and the
daemon hands it to ``PictureService.offer`` from the receive thread. ``offer`` only screens,
writes the audit row and hands the picture to a bounded worker pool, so a slow download or a
slow model never stalls the chat loop; when the pool is full the picture is audited as
``shed``. A worker asks the chat's model for an ``Answer`` (``bot.core.answers``) and posts its
messages through the paced ``Outbox``.

The worker edge: nothing that goes wrong while finishing a picture (the audit log, telemetry,
the owner's line) ends a worker; each failure is logged once and the picture is still answered.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from bot.core.answers import Answer, AnswerSource
from bot.core.audience import Audience
from bot.core.chat import Message, Sent, Text
from bot.core.events import Picture
from bot.core.keeper import PhotoKeeper
from bot.core.names import display_name
from bot.core.settings import ReplyConfig
from bot.core.sharing import Apologies, ModelShare
from bot.errors import BotError, ImageError, LabelError, ModelMismatch, ServingError

log = logging.getLogger(__name__)

QUEUED = "answered; the reply is waiting for its turn to be sent"
INTERRUPTED = "interrupted: the bot stopped before this picture's turn"
QUIET = "quiet chat ([ask] quiet_chats): remembered for questions, not answered"


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
    kind: str | None = None
    """What kind of answer: "classify", "detect", "ask"; None when nothing answered."""
    detail: str = ""
    """The answer's own account: top-k guesses, counts per class."""
    model_key: str | None = None
    """Which configured model answered: a ``[models.NAME]`` key, or "" for the default
    ``[serving]`` (two servers' models both called "default" are told apart)."""
    counts: tuple[tuple[str, int], ...] = ()
    """A detector's finds per class, e.g. (("狗", 2), ("人", 1))."""


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


class Outbox(Protocol):
    def post(
        self,
        chat_id: str,
        message: Message,
        on_done: Callable[[Sent], None] | None = None,
        *,
        lane: str | None = None,
    ) -> bool:
        """Queue ``message`` for ``chat_id``; ``lane`` is the chat it takes turns as
        (fairness). False: not queued (full, or closing)."""
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

    def objects(self, counts: Sequence[tuple[str, int]]) -> None:
        """A detector's finds in a picture that was answered: how many of each class (no chat
        or person named)."""
        ...


def _short_reason(exc: BaseException) -> str:
    """A chat-safe phrase: never a URL, a path or exception text."""
    if isinstance(exc, ImageError):
        return "图片无法读取"
    if isinstance(exc, ServingError):
        return "识图服务不可用"
    if isinstance(exc, LabelError | ModelMismatch):
        return "标签表与模型不符"
    return "下载或处理失败"


def _guarded(what: str, msg_id: str, step: Callable[[], object]) -> None:
    """Run one step of finishing a picture; a failure is logged, never raised."""
    try:
        step()
    except Exception:
        log.exception("picture %s: %s failed (the picture is still answered)", msg_id, what)


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
        per_model_workers: int,
        queue_size: int,
        startup_grace_s: float,
        source: AnswerSource,
        outbox: Outbox,
        audit: AuditStore,
        events: Events,
        pause: threading.Event,
        owner_chat: str | None,
        started_at: float,
        clock: Callable[[], float],
        keeper: PhotoKeeper | None,
    ) -> None:
        self.reply, self.audience = reply, audience
        self._keeper = keeper
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
        self._models = ModelShare(per_model_workers, requeue=self._jobs.put)
        self._apologies = Apologies(clock)
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
            # The default model is "" here: every model, the default too, has its share.
            model = None if self._stopped_waiting else (self.audience.model_for(pic) or "")
            if model is not None and not self._models.take(model, pic):
                continue  # its model has its share of workers: taken up again when one is free
            try:
                if self._closing and self._stopped_waiting:
                    self._finish(pic, Outcome("failed", INTERRUPTED), "失败 (机器人停止)")
                else:
                    self._work(pic)
            except Exception:  # the worker edge: nothing ends a worker
                log.exception("picture %s: finishing it failed", pic.msg_id)
            finally:
                if model is not None:
                    self._models.give_back(model)
                self._done_with(pic)

    def _work(self, pic: Picture) -> None:
        try:
            self._handle(pic)
        except Exception as exc:  # one bad picture never kills the worker
            log.exception("picture %s failed unexpectedly", pic.msg_id)
            self._finish(
                pic, Outcome("failed", f"internal error: {type(exc).__name__}"), "失败 (内部错误)"
            )

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
        keeper = self._keeper if self._keeper and self._keeper.asks_in(pic) else None
        try:
            if keeper is not None:  # shrunk once: remembered, and what the model is sent
                data = keeper.shrink(data)
                keeper.remember(pic, data, None)  # askable even if the classifier is down
                if keeper.quiet_in(pic):
                    self._finish(pic, Outcome("quiet", QUIET, digest, size), "已记住 (只回答提问)")
                    return
            answerer = self._source.get(self.audience.model_for(pic))
            answer = answerer.answer(data, sender=pic.sender, rules=self.reply)
            if keeper is not None:
                keeper.remember(pic, data, answer.label)  # now with the classifier's hint
        except (ImageError, ServingError, LabelError, ModelMismatch) as exc:
            log.warning("picture %s not answered: %s", pic.msg_id, exc)
            self._finish(
                pic, Outcome("failed", str(exc), digest, size), f"失败 ({_short_reason(exc)})"
            )
            if isinstance(exc, ServingError):
                self._events.serving_failed(str(exc))
                self._maybe_apologise(pic)
            return
        del data  # the photo is not kept a moment longer than needed
        outcome = replace(
            _outcome(answer, digest, size), model_key=self.audience.model_for(pic) or ""
        )
        self._reply(pic, answer, outcome)

    def _reply(self, pic: Picture, answer: Answer, outcome: Outcome) -> None:
        """Keep the answer in the audit row now (the reply may wait for its turn in the paced
        sender), then send its messages in order; the row's outcome follows the sends."""
        _guarded(
            "the audit log",
            pic.msg_id,
            lambda: self._audit.finish(
                pic.msg_id, replace(outcome, outcome="pending", reason=QUEUED)
            ),
        )
        log.info("picture %s: %s", pic.msg_id, answer.summary)
        pending = list(answer.messages())

        def next_message(sent: Sent) -> None:
            if not sent.ok:
                why = sent.reason or "the chat service refused it"
                failed = replace(
                    outcome, outcome="failed", reason=f"the reply could not be sent: {why}"
                )
                self._finish(pic, failed, f"{answer.summary} (回复发送失败)")
            elif not pending:
                self._finish(pic, outcome, answer.summary)
            else:
                post(pending.pop(0))

        def post(message: Message) -> None:
            if not self._outbox.post(
                pic.answer_to, message, on_done=next_message, lane=pic.chat_id
            ):
                next_message(Sent(False, "the send queue is full or closing"))

        post(pending.pop(0))

    def _maybe_apologise(self, pic: Picture) -> None:
        if self.reply.apology and self._apologies.due(pic.chat_id, self.reply.apology_interval_s):
            self._outbox.post(pic.answer_to, Text(self.reply.apology), lane=pic.chat_id)

    def _finish(self, pic: Picture, result: Outcome, line: str) -> None:
        """The picture's final row, its count and the owner's line: each step guarded."""
        _guarded("the audit log", pic.msg_id, lambda: self._audit.finish(pic.msg_id, result))
        label = self.audience.label(pic)
        _guarded(
            "telemetry",
            pic.msg_id,
            lambda: self._events.picture(label, result.outcome, result.latency_ms, result.model),
        )
        if result.counts and result.outcome == "replied":
            _guarded("telemetry", pic.msg_id, lambda: self._events.objects(result.counts))
        owner = self._owner_chat
        if owner is not None:
            text = owner_line(pic, line)
            _guarded("the owner's line", pic.msg_id, lambda: self._outbox.post(owner, Text(text)))

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
        waiting = self._models.deferred()
        while True:  # the waiting ones: never started, audited now
            try:
                waiting.append(self._jobs.get_nowait())
            except queue.Empty:
                break
        for pic in waiting:
            if pic is not None:
                try:
                    self._finish(pic, Outcome("failed", INTERRUPTED), "失败 (机器人停止)")
                finally:
                    self._done_with(pic)
        for _ in range(self._workers):
            self._jobs.put(None)
        return drained


def _outcome(answer: Answer, digest: str, size: int) -> Outcome:
    return Outcome(
        "replied" if answer.sure else "low_confidence",
        "" if answer.sure else "below [reply] min_confidence",
        digest,
        size,
        answer.label,
        answer.probability,
        answer.model,
        answer.version,
        answer.latency_ms,
        kind=answer.kind,
        detail=answer.detail,
        counts=answer.counts,
    )


def owner_line(pic: Picture, line: str) -> str:
    """The owner's one line about a picture: when, where, who, what became of it."""
    when = datetime.fromtimestamp(pic.created_at).strftime("%Y-%m-%d %H:%M:%S")
    where = display_name(pic.chat_name) if pic.is_group else "私聊"
    return f"[{when}] {where} @{display_name(pic.sender)}: 一张图片 → {line}"
