"""In-memory fakes of the core's ports: ours to own, so the core is tested without threads of
I/O, sockets or SQLite, in milliseconds.

Each fake records what it was asked and can be told to fail. Fakes that are called from worker
threads guard their records with a condition, and ``wait_until`` waits on that condition (never
a fixed sleep).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from bot.core.chat import Image, Message, Sent
from bot.core.events import Picture
from bot.core.pictures import Outcome
from bot.core.pipeline import LabelTable, Recogniser
from bot.core.serving import JpegPayload, ModelInput, Prediction
from bot.core.settings import ReplyConfig
from bot.errors import BotError, ImageError, ServingError

WAIT_S = 5.0
"""How long a test waits for a worker thread before it fails (never reached when it passes)."""


class _Watched:
    """A condition that every change to the fake notifies; ``wait_until`` waits on it."""

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.RLock())

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
        """True once ``predicate()`` holds; False if it still does not after ``timeout_s``."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout_s)


# -- the clock --------------------------------------------------------------------------------
class FakeClock:
    """A clock that moves only when told: by ``advance``, or by ``sleep`` (the pair injected
    into ``PacedSender`` as ``clock=clock, sleep=clock.sleep``)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._lock = threading.Lock()
        self._now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds


# -- PictureService's ports -------------------------------------------------------------------
@dataclass(frozen=True)
class Post:
    chat_id: str
    text: str
    lane: str | None = field(default=None, compare=False)
    picture: bytes | None = field(default=None, compare=False)
    """The bytes of a posted ``Image`` (its ``text`` is then "<picture>")."""
    """The chat the message takes turns as (compared on its own, where a test is about it)."""


class FakeOutbox(_Watched):
    """The ``Outbox`` port: records every post and reports each send as ``delivered``.

    ``accepting = False`` makes ``post`` refuse (a full queue); ``delivered = False`` makes it
    accept but report the send as failed through ``on_done``.
    """

    def __init__(self, *, accepting: bool = True, delivered: bool = True) -> None:
        super().__init__()
        self.accepting = accepting
        self.delivered = delivered
        self.posts: list[Post] = []

    def post(
        self,
        chat_id: str,
        message: Message,
        on_done: Callable[[Sent], None] | None = None,
        *,
        lane: str | None = None,
    ) -> bool:
        with self._changed:
            if not self.accepting:
                return False
            if isinstance(message, Image):
                self.posts.append(Post(chat_id, "<picture>", lane, message.data))
            else:
                self.posts.append(Post(chat_id, message.text, lane))
            self._changed.notify_all()
        if on_done is not None:  # outside the lock: on_done posts again (the owner's line)
            on_done(Sent(True) if self.delivered else Sent(False, "the fake chat refused it"))
        return True

    def texts_to(self, chat_id: str) -> list[str]:
        with self._changed:
            return [p.text for p in self.posts if p.chat_id == chat_id]


@dataclass
class AuditRow:
    """One row of the fake audit store: the columns ``bot.adapters.audit`` writes."""

    chat: str
    sender: str
    outcome: str
    reason: str
    sent: bool = False
    sha256: str | None = None
    size_bytes: int | None = None
    label: str | None = None
    probability: float | None = None
    model: str | None = None
    version: str | None = None
    latency_ms: float | None = None
    model_key: str | None = None
    kind: str | None = None
    detail: str = ""
    counts: tuple[tuple[str, int], ...] = ()
    outcomes: list[str] = field(default_factory=list)
    """Every outcome the row went through, in order (the SQLite log keeps only the last)."""


class FakeAuditStore(_Watched):
    """The ``AuditStore`` port as a dict keyed by message id, with ``AuditLog``'s semantics:
    ``claim`` inserts or ignores (False when the id was seen), ``finish`` updates the row if
    there is one, and a row counts as sent once an outcome other than ``pending`` is written."""

    def __init__(self, *, failing: Exception | None = None) -> None:
        super().__init__()
        self.rows: dict[str, AuditRow] = {}
        self.failing = failing
        """Raised by every ``finish`` while set (a full disk, a locked database)."""

    def claim(
        self, msg_id: str, *, chat: str, sender: str, outcome: str = "pending", reason: str = ""
    ) -> bool:
        with self._changed:
            if msg_id in self.rows:
                return False
            self.rows[msg_id] = AuditRow(chat, sender, outcome, reason, outcomes=[outcome])
            self._changed.notify_all()
            return True

    def finish(self, msg_id: str, result: Outcome) -> None:
        if self.failing is not None:
            raise self.failing
        with self._changed:
            row = self.rows.get(msg_id)
            if row is None:  # UPDATE ... WHERE msg_id = ? touches nothing
                return
            self.rows[msg_id] = replace(
                row,
                sent=row.sent or result.outcome != "pending",
                outcome=result.outcome,
                reason=result.reason,
                sha256=result.sha256,
                size_bytes=result.size_bytes,
                label=result.label,
                probability=result.probability,
                model=result.model,
                version=result.version,
                latency_ms=result.latency_ms,
                model_key=result.model_key,
                kind=result.kind,
                detail=result.detail,
                counts=result.counts,
                outcomes=[*row.outcomes, result.outcome],
            )
            self._changed.notify_all()

    def done(self, msg_id: str) -> bool:
        """The row exists and is no longer pending."""
        with self._changed:
            row = self.rows.get(msg_id)
            return row is not None and row.outcome != "pending"


class FakeEvents:
    """The ``Events`` port: records what telemetry would have been told."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pictures: list[tuple[str | None, str]] = []
        self.models: list[str | None] = []
        self.serving_failures: list[str] = []
        self.found: list[tuple[str, int]] = []

    def picture(
        self, group: str | None, outcome: str, latency_ms: float | None, model: str | None
    ) -> None:
        with self._lock:
            self.pictures.append((group, outcome))
            self.models.append(model)

    def serving_failed(self, detail: str) -> None:
        with self._lock:
            self.serving_failures.append(detail)

    def objects(self, counts: Sequence[tuple[str, int]]) -> None:
        with self._lock:
            self.found.extend(counts)


# -- the recogniser ---------------------------------------------------------------------------
LABELS = LabelTable(("猫", "狗", "鸟"), "fake.csv", "name")
SURE = (0.9, 0.06, 0.04)
"""The answer for pictures not scripted otherwise: 猫 at 90.0%."""

Answer = tuple[float, ...] | BotError


class FakePreparer:
    """The ``Preparer`` port: passes the bytes through; raises ImageError for ``unreadable``."""

    def __init__(self, unreadable: frozenset[bytes] = frozenset()) -> None:
        self.unreadable = unreadable

    def __call__(self, data: bytes) -> ModelInput:
        if data in self.unreadable:
            raise ImageError("不是图片")
        return JpegPayload(data, 1, 1)


class FakeClassifier:
    """The ``Classifier`` port: answers each picture (by its bytes) as scripted in ``answers``,
    others with ``default``; an answer that is an error is raised."""

    def __init__(
        self,
        answers: Mapping[bytes, Answer] | None = None,
        *,
        default: Answer = SURE,
        model: str = "resnet",
        version: str = "1",
    ) -> None:
        self.answers = dict(answers or {})
        self.default = default
        self.model = model
        self.version = version

    def predict(self, payload: ModelInput) -> Prediction:
        assert isinstance(payload, JpegPayload)
        answer = self.answers.get(payload.data, self.default)
        if isinstance(answer, BotError):
            raise answer
        return Prediction(answer, self.model, self.version)


def fake_recogniser(
    answers: Mapping[bytes, Answer] | None = None,
    *,
    default: Answer = SURE,
    model: str = "resnet",
    unreadable: frozenset[bytes] = frozenset(),
    labels: LabelTable = LABELS,
    min_confidence: float = 0.2,
) -> Recogniser:
    """A real ``Recogniser`` wired to the fake preparer and classifier."""
    return Recogniser(
        prepare=FakePreparer(unreadable),
        classifier=FakeClassifier(answers, default=default, model=model),
        labels=labels,
        rules=ReplyConfig(min_confidence=min_confidence),
        offset=0,
    )


class FakeRecogniserSource:
    """The ``AnswerSource`` port over real ``Recogniser``s, one per model name (None: the
    default); raises ``unreachable`` (a ServingError) while it is set. Records every name
    asked for."""

    def __init__(
        self,
        recognisers: Mapping[str | None, Recogniser] | None = None,
        *,
        unreachable: ServingError | None = None,
    ) -> None:
        default: dict[str | None, Recogniser] = {None: fake_recogniser()}
        self.recognisers: dict[str | None, Recogniser] = dict(recognisers or default)
        self.unreachable = unreachable
        self._lock = threading.Lock()
        self.asked: list[str | None] = []

    def get(self, model: str | None) -> Recogniser:
        with self._lock:
            self.asked.append(model)
        if self.unreachable is not None:
            raise self.unreachable
        return self.recognisers[model]


class FakeModel:
    """``bot.core.live.Model``: a connected model whose ``ping`` fails while ``down`` is set."""

    def __init__(self, recogniser: Recogniser, description: str = "fake model") -> None:
        self._recogniser = recogniser
        self._description = description
        self.down: ServingError | None = None
        self.pings = 0

    @property
    def recogniser(self) -> Recogniser:
        return self._recogniser

    @property
    def description(self) -> str:
        return self._description

    def ping(self) -> None:
        self.pings += 1
        if self.down is not None:
            raise self.down


class FakeConnect:
    """The ``connect`` callable of ``LiveRecogniser``: raises the errors in ``failures`` first
    (one per call), then returns ``model``. Counts its calls."""

    def __init__(self, model: FakeModel, failures: list[ServingError] | None = None) -> None:
        self.model = model
        self.failures = list(failures or [])
        self.calls = 0

    def __call__(self) -> FakeModel:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.model


# -- a picture --------------------------------------------------------------------------------
def fetch_of(data: bytes) -> Callable[[], bytes]:
    def fetch() -> bytes:
        return data

    return fetch


def picture(
    msg_id: str,
    *,
    chat_name: str = "家庭群",
    chat_id: str | None = None,
    sender: str = "小明",
    is_group: bool = True,
    is_sticker: bool = False,
    from_self: bool = False,
    created_at: float = 1_700_000_000.0,
    data: bytes = b"a cat",
    fetch: Callable[[], bytes] | None = None,
    reply_to: str | None = None,
) -> Picture:
    """A ``Picture`` as a chat adapter would deliver it; ``data`` is what ``fetch`` returns."""
    return Picture(
        msg_id=msg_id,
        chat_id=chat_id or (f"@@{chat_name}" if is_group else f"@{sender}"),
        chat_name=chat_name,
        sender=sender,
        is_group=is_group,
        is_sticker=is_sticker,
        from_self=from_self,
        created_at=created_at,
        fetch=fetch or fetch_of(data),
        reply_to=reply_to,
    )


# -- PacedSender's port -----------------------------------------------------------------------
@dataclass(frozen=True)
class Attempt:
    """One call of ``send``, timed on the fake clock."""

    started: float
    ended: float
    chat_id: str
    message: Message
    ok: bool

    @property
    def text(self) -> str:
        """The text sent, or the name of the picture sent."""
        return self.message.name if isinstance(self.message, Image) else self.message.text


class FakeSender:
    """The ``Sender`` port (``send(chat_id, message) -> Sent``): each send takes ``send_s`` on
    the fake clock and is recorded.

    ``fail_next`` sends answer ``Sent(False, ...)`` and ``raise_next`` sends raise OSError
    (raising first). With ``gate`` set, every send blocks until the test opens the gate:
    ``entered`` is set once a send is blocked there, so a test can hold the sender on its first
    message while it queues more.
    """

    def __init__(
        self,
        clock: FakeClock,
        *,
        send_s: float = 0.0,
        fail_next: int = 0,
        raise_next: int = 0,
        gate: threading.Event | None = None,
    ) -> None:
        self._clock = clock
        self._send_s = send_s
        self.fail_next = fail_next
        self.raise_next = raise_next
        self.gate = gate
        self.entered = threading.Event()
        self._lock = threading.Lock()
        self.attempts: list[Attempt] = []

    def send(self, chat_id: str, message: Message) -> Sent:
        started = self._clock()
        self.entered.set()
        if self.gate is not None and not self.gate.wait(WAIT_S):
            raise AssertionError("the test never opened the gate")
        self._clock.advance(self._send_s)
        with self._lock:
            if self.raise_next > 0:
                self.raise_next -= 1
                self.attempts.append(Attempt(started, self._clock(), chat_id, message, False))
                raise OSError("connection reset by peer")
            ok = self.fail_next <= 0
            self.fail_next -= 1
            self.attempts.append(Attempt(started, self._clock(), chat_id, message, ok))
            return Sent(True) if ok else Sent(False, "the fake transport failed it")

    def delivered(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(a.chat_id, a.text) for a in self.attempts if a.ok]

    def texts(self) -> list[str]:
        """Every attempt's text, in the order the sender made them."""
        with self._lock:
            return [a.text for a in self.attempts]


class DoneLog:
    """An ``on_done`` callback per message that records (text, ok)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.results: list[tuple[str, bool]] = []

    def for_(self, text: str) -> Callable[[Sent], None]:
        def done(sent: Sent) -> None:
            with self._lock:
                self.results.append((text, sent.ok))

        return done


# -- admin's port -----------------------------------------------------------------------------
class FakeControls:
    """The ``admin.Controls`` port: a fixed status, a recorded pause switch, and a reload that
    answers ``reload_answer`` or raises it when it is an error."""

    def __init__(
        self, *, status: str = "状态: 运行中", reload_answer: str | BotError = "群 家庭群; 阈值 0.2"
    ) -> None:
        self.status = status
        self.reload_answer = reload_answer
        self.paused: list[bool] = []
        self.reloads = 0
        self.forgotten: list[str] = []
        self.forget_error: BotError | None = None

    def status_text(self) -> str:
        return self.status

    def set_paused(self, paused: bool) -> None:
        self.paused.append(paused)

    def reload(self) -> str:
        self.reloads += 1
        if isinstance(self.reload_answer, BotError):
            raise self.reload_answer
        return self.reload_answer

    def forget(self, sender: str) -> int:
        self.forgotten.append(sender)
        if self.forget_error is not None:
            raise self.forget_error
        return 3
