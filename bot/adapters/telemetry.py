"""What the bot knows about itself: login state, QR code, counts, TF Serving's health.

One ``Telemetry`` object is told about login, the QR code, outcomes and TF Serving's answers,
reads the live parts (receive loop, pause, send queue) through the callables it is built
with, and serves the status page (``/``, ``/healthz``, ``/metrics``). Metrics use
prometheus-client with a registry of its own (no process-wide globals).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import Counter as PromCounter

MAX_CLASS_LABELS = 200  # distinct object classes on /metrics (COCO has 80)
OTHER_CLASSES = "other"
MAX_GROUP_LABELS = 50  # distinct `group` label values; the rest are counted as OTHER_GROUPS
OTHER_GROUPS = "(other)"
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
QUESTION_BUCKETS_S = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


@dataclass
class Snapshot:
    phase: str
    nickname: str
    uptime_s: float
    groups: list[str]
    counts: dict[str, int]
    paused: bool
    serving_ok: bool
    serving_detail: str
    receiving: bool
    qr_version: int
    send_queue: int
    audit_detail: str = ""
    """Why the audit log cannot be written now ("" while it can)."""
    health: dict[str, bool] = field(default_factory=dict)


class Telemetry:
    def __init__(
        self,
        *,
        healthy_within_s: float,
        receiving: Callable[[], bool],
        paused: Callable[[], bool],
        send_queue: Callable[[], int],
        audit_trouble: Callable[[], str | None],
        clock: Callable[[], float] = time.monotonic,
        login_part: str = "wechat_login",
    ) -> None:
        self._clock = clock
        self._login_part = login_part  # /healthz name of the login part ("chat_connected": WeCom)
        self._lock = threading.Lock()
        self._started = clock()
        self.healthy_within_s = healthy_within_s
        self.phase = "starting"  # starting, waiting_for_scan, waiting_for_phone, logged_in, stopped
        self.nickname = ""
        self.groups: list[str] = []
        self.paused = paused
        self._qr: bytes = b""
        self._qr_version = 0
        self._counts: Counter[str] = Counter()
        self._labelled: set[str] = set()
        self._serving_ok_at: float | None = None
        self._serving_detail = "not contacted yet"
        self.receiving = receiving
        self.send_queue = send_queue
        self.audit_trouble = audit_trouble
        self.registry = CollectorRegistry()
        self._pictures = PromCounter(
            "wechat_vision_bot_pictures",
            "Pictures by outcome, group and the model that answered",
            ["outcome", "group", "model"],
            registry=self.registry,
        )
        self._objects = PromCounter(
            "wechat_vision_bot_objects",
            "Objects a detector found in answered pictures, by class",
            ["object_class"],
            registry=self.registry,
        )
        self._classes: set[str] = set()
        self._question_counts: Counter[str] = Counter()
        self._questions = PromCounter(
            "wechat_vision_bot_questions",
            "Questions about photos by outcome (answered, failed, hint, limited, shed)",
            ["outcome"],
            registry=self.registry,
        )
        self._question_latency = Histogram(
            "wechat_vision_bot_question_seconds",
            "Time from a question to the vision model's whole answer",
            buckets=QUESTION_BUCKETS_S,
            registry=self.registry,
        )
        self._latency = Histogram(
            "wechat_vision_bot_classification_seconds",
            "Time from picture bytes to verdict",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        Gauge(
            "wechat_vision_bot_send_queue",
            "Messages waiting for the paced sender",
            registry=self.registry,
        ).set_function(lambda: self.send_queue())
        Gauge(
            "wechat_vision_bot_logged_in",
            "1 when logged in to WeChat and receiving",
            registry=self.registry,
        ).set_function(lambda: 1.0 if self.phase == "logged_in" and self.receiving() else 0.0)
        Gauge(
            "wechat_vision_bot_serving_up",
            "1 when TF Serving answered recently",
            registry=self.registry,
        ).set_function(lambda: 1.0 if self._serving_fresh() else 0.0)

    # -- updates ---------------------------------------------------------------------------
    def qr_code(self, png: bytes) -> None:
        with self._lock:
            self._qr, self.phase = png, "waiting_for_scan"
            self._qr_version += 1

    def login_phase(self, phase: str) -> None:
        """What the login waits for now (``waiting_for_phone``: the phone must confirm)."""
        with self._lock:
            if self.phase != "logged_in":
                self.phase = phase

    def logged_in(self, nickname: str, groups: list[str]) -> None:
        with self._lock:
            self.nickname, self.groups, self.phase = nickname, groups, "logged_in"
            self._qr = b""
            self._qr_version += 1

    def groups_resolved(self, groups: list[str]) -> None:
        with self._lock:
            self.groups = groups

    def stopped(self) -> None:
        with self._lock:
            self.phase = "stopped"

    def _group_label(self, group: str | None) -> str:
        """Only chats the bot serves are named, and at most MAX_GROUP_LABELS of them: a metric
        series per name would otherwise publish every group that posts, without bound."""
        if group is None:
            return OTHER_GROUPS
        with self._lock:
            if group in self._labelled or len(self._labelled) < MAX_GROUP_LABELS:
                self._labelled.add(group)
                return group
        return OTHER_GROUPS

    def question(self, outcome: str, latency_ms: float | None) -> None:
        """A question's outcome (no chat or person in the labels)."""
        with self._lock:
            self._question_counts[outcome] += 1
        self._questions.labels(outcome=outcome).inc()
        if latency_ms is not None:
            self._question_latency.observe(latency_ms / 1000.0)

    def picture(
        self,
        group: str | None,
        outcome: str,
        latency_ms: float | None,
        model: str | None = None,
    ) -> None:
        """A picture's outcome; ``group`` is the served chat's label, None for chats the bot
        does not serve."""
        with self._lock:
            self._counts[outcome] += 1
        self._pictures.labels(
            outcome=outcome, group=self._group_label(group), model=model or ""
        ).inc()
        if latency_ms is not None:
            self._latency.observe(latency_ms / 1000.0)
            self.serving_answered()

    def objects(self, counts: Sequence[tuple[str, int]]) -> None:
        """A detector's finds per class (the label table's names: a bounded set; past
        ``MAX_CLASS_LABELS`` distinct names the rest are counted as "other")."""
        for name, n in counts:
            with self._lock:
                if name not in self._classes and len(self._classes) >= MAX_CLASS_LABELS:
                    name = OTHER_CLASSES
                self._classes.add(name)
            self._objects.labels(object_class=name).inc(n)

    def serving_answered(self) -> None:
        with self._lock:
            self._serving_ok_at = self._clock()
            self._serving_detail = "answering"

    def serving_failed(self, detail: str) -> None:
        with self._lock:
            self._serving_detail = detail
            self._serving_ok_at = None  # a failed call means it is not answering now

    # -- reads -----------------------------------------------------------------------------
    def _serving_fresh(self) -> bool:
        ok_at = self._serving_ok_at
        return ok_at is not None and self._clock() - ok_at <= self.healthy_within_s

    def qr_png(self) -> tuple[int, bytes]:
        with self._lock:
            return self._qr_version, self._qr

    def snapshot(self) -> Snapshot:
        with self._lock:
            counts = dict(self._counts)
            detail = self._serving_detail
        receiving = self.receiving()
        logged_in = self.phase == "logged_in"
        serving = self._serving_fresh()
        audit = self.audit_trouble()
        return Snapshot(
            phase=self.phase,
            nickname=self.nickname,
            uptime_s=self._clock() - self._started,
            groups=list(self.groups),
            counts=counts,
            paused=self.paused(),
            serving_ok=serving,
            serving_detail=detail,
            receiving=receiving,
            qr_version=self._qr_version,
            send_queue=self.send_queue(),
            audit_detail=audit or "",
            health={
                self._login_part: logged_in,
                "receive_loop": receiving,
                "tf_serving": serving,
                "audit_log": audit is None,
            },
        )

    def metrics(self) -> bytes:
        return generate_latest(self.registry)
