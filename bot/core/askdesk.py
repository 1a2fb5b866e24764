"""Questions about a photo (``[ask]``): find the photo a question means, keep within the limits,
ask the model on a small pool of its own, and answer the asker through the paced sender.

Classification never waits for this pool and this pool never waits for classification. Every
question gets one audit row: ``answered``, ``failed``, ``hint`` (no photo to ask about),
``limited`` or ``shed`` (the pool was full). A chat never sees a URL, a status or a traceback.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from bot.core.asking import Asker, AskLimits, cut, sanitise_answer
from bot.core.audience import Audience
from bot.core.chat import Draft, Sent, Text
from bot.core.events import Picture, Question
from bot.core.keeper import PhotoKeeper
from bot.core.names import display_name
from bot.core.photos import Photo
from bot.core.pictures import Outbox
from bot.core.settings import ReplyConfig
from bot.core.sharing import Apologies
from bot.errors import AskRefused, AskUnavailable, BotError

log = logging.getLogger(__name__)

ASK_WORKERS = 2
ASK_QUEUE = 20
OWNER_QUESTION_CHARS = 40
DRAFT_EVERY_S = 0.25
OWNER_ANSWER_CHARS = 60


@dataclass(frozen=True)
class QuestionRow:
    """One question's audit row."""

    msg_id: str
    chat: str
    sender: str
    outcome: str
    reason: str = ""
    photo: str | None = None
    model: str | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    question: str | None = None
    answer: str | None = None


class QuestionLog(Protocol):
    def question(self, row: QuestionRow) -> None: ...


class QuestionEvents(Protocol):
    def question(self, outcome: str, latency_ms: float | None) -> None: ...


def as_picture(question: Question) -> Picture:
    """The question's chat as a picture there, for the transport's screening (``refuse``)."""

    def nothing() -> bytes:
        raise AssertionError("a question's stand-in picture is never fetched")

    return Picture(
        msg_id=question.msg_id,
        chat_id=question.chat_id,
        chat_name=question.chat_name,
        sender=question.sender,
        is_group=question.is_group,
        is_sticker=False,
        from_self=question.from_self,
        created_at=question.created_at,
        fetch=nothing,
    )


class AskDesk:
    def __init__(
        self,
        *,
        keeper: PhotoKeeper,
        asker: Asker,
        audience: Audience,
        reply: ReplyConfig,
        limits: AskLimits,
        outbox: Outbox,
        log_to: QuestionLog,
        events: QuestionEvents,
        otherwise: Callable[[Question], None],
        owner_chat: str | None,
        drafts: Callable[[str, Draft], Sent] | None,
        clock: Callable[[], float],
    ) -> None:
        self._owner_chat = owner_chat
        self._drafts = drafts
        self.keeper, self.audience, self.reply = keeper, audience, reply
        self._asker = asker
        self._limits = limits
        self._outbox = outbox
        self._log = log_to
        self._events = events
        self._otherwise = otherwise
        self._notices = Apologies(clock)
        self._jobs: queue.Queue[tuple[Question, Photo | None]] = queue.Queue(ASK_QUEUE)
        for n in range(ASK_WORKERS):
            threading.Thread(target=self._worker, name=f"ask-{n}", daemon=True).start()

    def update(self, *, reply: ReplyConfig, audience: Audience) -> None:
        self.reply, self.audience = reply, audience

    # -- the chat thread's side ---------------------------------------------------------------
    def offer(self, question: Question) -> None:
        if question.from_self:
            return
        if not self.keeper.asks_in(question) or self.audience.refuse(as_picture(question)):
            self._otherwise(question)  # asking is off here: the transport's usage hint, if any
            return
        ask = self.keeper.settings
        photo = self.keeper.memory.find(
            chat_id=question.chat_id, sender_id=question.sender_id, quotes=question.quotes
        )
        if photo is None and not question.pictures:
            self._record(question, "hint", "no photo to ask about")
            self._notice(question, question.chat_id, ask.no_photo)
            return
        over = self._limits.admit(
            sender=question.sender_id or question.sender, chat=question.chat_id
        )
        if over is not None:
            self._record(question, "limited", over)
            who = question.sender_id or question.sender
            self._notice(question, f"limit:{who}", ask.limited, interval_s=60.0)
            return
        try:
            self._jobs.put_nowait((question, photo))
        except queue.Full:
            self._record(question, "shed", "too many questions at once")

    def _notice(
        self, question: Question, key: str, template: str, *, interval_s: float | None = None
    ) -> None:
        interval = self.reply.apology_interval_s if interval_s is None else interval_s
        if template and self._notices.due(key, interval):
            text = template.replace("{sender}", display_name(question.sender))
            self._outbox.post(question.answer_to, Text(text), lane=question.chat_id)

    # -- the pool -----------------------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            question, photo = self._jobs.get()
            try:
                self._answer(question, photo)
            except Exception:  # one question never ends a worker
                log.exception("question %s failed unexpectedly", question.msg_id)
                self._record(question, "failed", "internal error")

    def _answer(self, question: Question, photo: Photo | None) -> None:
        ask = self.keeper.settings
        if question.pictures:  # sent with the question (WeCom's mixed message)
            try:
                first = question.pictures[0]
                photo = self.keeper.remember(first, self.keeper.shrink(first.fetch()), None)
            except BotError as exc:
                self._record(question, "failed", f"the picture could not be used: {exc}")
                return
        assert photo is not None, "offer() checked there is a photo"
        start = time.perf_counter()
        try:
            asked = self._asker.ask(
                photo=photo.jpeg,
                question=question.text,
                hint=photo.label if ask.include_label else None,
                on_text=self._drafting(question),
            )
        except (AskUnavailable, AskRefused) as exc:
            self._failed(question, photo, exc)
            return
        text = sanitise_answer(asked.text, max_chars=ask.max_answer_chars)
        if not text:
            text = "(模型没有给出回答)"
        reply = f"@{display_name(question.sender)}\u2005{text}"
        row = QuestionRow(
            question.msg_id,
            question.chat_name,
            question.sender,
            "answered",
            photo=photo.msg_ids[0],
            model=asked.model,
            latency_ms=round((time.perf_counter() - start) * 1000.0, 1),
            prompt_tokens=asked.prompt_tokens,
            completion_tokens=asked.completion_tokens,
            question=question.text if ask.keep_text else None,
            answer=text if ask.keep_text else None,
        )

        def sent(result: Sent) -> None:
            if result.ok:
                self._log_row(row)
                self._owner_line(question, cut(text, OWNER_ANSWER_CHARS))
            else:
                why = f"the answer could not be sent: {result.reason}"
                self._log_row(replace(row, outcome="failed", reason=why))
                self._owner_line(question, "失败 (回答发送失败)")

        log.info("question %s about %s: answered", question.msg_id, photo.msg_ids[0])
        if not self._outbox.post(
            question.answer_to, Text(reply), on_done=sent, lane=question.chat_id
        ):
            sent(Sent(False, "the send queue is full or closing"))

    def _drafting(self, question: Question) -> Callable[[str], None] | None:
        """Where the answer so far goes while the model writes (a transport that streams): at
        most every ``DRAFT_EVERY_S``, sanitised like the answer, straight to the chat (a draft
        is no new message, so it is not paced); None when the transport cannot stream."""
        drafts = self._drafts
        if drafts is None:
            return None
        last = [0.0]
        prefix = f"@{display_name(question.sender)}\u2005"
        limit = self.keeper.settings.max_answer_chars

        def show(so_far: str) -> None:
            now = time.monotonic()
            if now - last[0] < DRAFT_EVERY_S:
                return
            last[0] = now
            text = sanitise_answer(so_far, max_chars=limit)
            if text:
                drafts(question.answer_to, Draft(prefix + text))

        return show

    def _failed(self, question: Question, photo: Photo, exc: AskUnavailable | AskRefused) -> None:
        if isinstance(exc, AskRefused):
            log.error("question %s: %s", question.msg_id, exc)
        else:
            log.warning("question %s: %s", question.msg_id, exc)
        self._record(question, "failed", str(exc).splitlines()[0], photo=photo.msg_ids[0])
        self._owner_line(question, "失败 (问答服务不可用)")
        self._notice(question, question.chat_id, self.keeper.settings.apology)

    def _record(
        self, question: Question, outcome: str, reason: str, *, photo: str | None = None
    ) -> None:
        ask = self.keeper.settings
        self._log_row(
            QuestionRow(
                question.msg_id,
                question.chat_name,
                question.sender,
                outcome,
                reason,
                photo=photo,
                question=question.text if ask.keep_text else None,
            )
        )

    def _owner_line(self, question: Question, outcome: str) -> None:
        """The owner's one line: when, where, who, the question and what became of it."""
        if self._owner_chat is None:
            return
        when = datetime.fromtimestamp(question.created_at).strftime("%Y-%m-%d %H:%M:%S")
        where = display_name(question.chat_name) if question.is_group else "私聊"
        asked = cut(display_name(question.text), OWNER_QUESTION_CHARS)
        line = f"[{when}] {where} @{display_name(question.sender)}: 提问 「{asked}」 → {outcome}"
        self._outbox.post(self._owner_chat, Text(line))

    def _log_row(self, row: QuestionRow) -> None:
        try:
            self._log.question(row)
        except Exception:
            log.exception("question %s: the audit log failed", row.msg_id)
        try:
            self._events.question(row.outcome, row.latency_ms)
        except Exception:
            log.exception("question %s: telemetry failed", row.msg_id)
