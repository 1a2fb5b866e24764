"""The core: picture bytes -> prediction -> verdict -> reply text.

Pure data in, data out. The outside world is reached only through the ports below
(``Preparer`` turns bytes into what the model takes, ``Classifier`` asks the model),
so nothing here knows about Pillow, requests, pandas or any chat protocol.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.core.names import display_name
from bot.core.settings import ReplyConfig
from bot.errors import BadPrediction, LabelError

InputKind = Literal["jpeg", "tensor", "base64_text"]


@dataclass(frozen=True)
class InputSpec:
    """What the model's signature takes, read from its metadata."""

    kind: InputKind
    alias: str
    dtype: str
    height: int | None = None
    width: int | None = None
    value_range: str = "0_1"
    batched: bool = True  # False: one picture as a scalar (signature of unknown rank)

    def describe(self) -> str:
        one = "" if self.batched else ", one scalar string per request"
        if self.kind == "jpeg":
            return f"JPEG bytes as base64 in input {self.alias!r} ({self.dtype}{one})"
        if self.kind == "base64_text":
            return (
                f"web-safe base64 text of the picture in input {self.alias!r} ({self.dtype}{one})"
            )
        return (
            f"{self.height}x{self.width}x3 tensor in input {self.alias!r} ({self.dtype}, "
            f"value range {self.value_range})"
        )


@dataclass(frozen=True)
class JpegPayload:
    """The picture re-encoded (JPEG, or PNG with [images] format = "png")."""

    data: bytes
    width: int
    height: int
    format: str = "jpeg"


@dataclass(frozen=True)
class TensorPayload:
    """An H x W x 3 array already in the model's value range, as nested lists."""

    pixels: list[list[list[float]]] | list[list[list[int]]]
    width: int
    height: int


ModelInput = JpegPayload | TensorPayload


@dataclass(frozen=True)
class Prediction:
    probabilities: tuple[float, ...]
    model: str
    version: str
    request_bytes: int = 0
    class_names: tuple[str, ...] | None = None  # the model's own names, if it outputs them


@dataclass(frozen=True)
class LabelTable:
    names: tuple[str, ...]
    source: str = ""
    column: str = ""
    from_model: bool = False  # [labels] file = "model": names come with each prediction

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Guess:
    class_id: int
    label: str
    probability: float


@dataclass(frozen=True)
class Verdict:
    guesses: tuple[Guess, ...]
    confident: bool

    @property
    def best(self) -> Guess:
        return self.guesses[0]


@dataclass(frozen=True)
class Recognition:
    verdict: Verdict
    model: str
    version: str
    sent_bytes: int
    latency_ms: float


class Preparer(Protocol):
    def __call__(self, data: bytes) -> ModelInput: ...


class Classifier(Protocol):
    def predict(self, payload: ModelInput) -> Prediction: ...


def resolve_offset(configured: int | None, model_classes: int | None, table_size: int) -> int:
    """How far the model's class ids are shifted from the table's (1 = background at 0)."""
    if model_classes is None:
        return 0 if configured is None else configured
    if configured is None:
        if model_classes == table_size:
            return 0
        if model_classes == table_size + 1:
            return 1
        raise LabelError(
            f"the model answers {model_classes} classes but the label table has {table_size} "
            "names: use the table that belongs to the model, or set [labels] offset"
        )
    if model_classes != table_size + configured:
        raise LabelError(
            f"[labels] offset = {configured} does not fit: the model answers {model_classes} "
            f"classes but the table has {table_size} names (offset must be model - table = "
            f"{model_classes - table_size})"
        )
    return configured


def check_probabilities(values: list[float]) -> tuple[float, ...]:
    """Refuse vectors that are not probabilities rather than report a made-up label."""
    if not values:
        raise BadPrediction("the model returned an empty probability vector")
    for i, p in enumerate(values):
        if not math.isfinite(p) or p < 0.0 or p > 1.0 + 1e-4:
            raise BadPrediction(
                f"the model returned {p!r} for class {i}: not a probability; does the "
                "signature end in softmax? set [serving] output to the probability output, "
                'or [serving] scores = "logits" for raw scores'
            )
    return tuple(values)


def decide(
    prediction: Prediction, labels: LabelTable, *, offset: int, top_k: int, min_confidence: float
) -> Verdict:
    """Pick the top-k classes, skipping ids below ``offset`` (the background class)."""
    probs = prediction.probabilities
    last_id = len(labels) + offset - 1
    if len(probs) - 1 > last_id:
        raise LabelError(
            f"the model answered {len(probs)} classes but the label table {labels.source} "
            f"covers ids {offset}..{last_id}; set [labels] offset or use the right table"
        )
    ranked = sorted(range(offset, len(probs)), key=lambda i: probs[i], reverse=True)[:top_k]
    if not ranked:
        raise BadPrediction(f"the model answered {len(probs)} classes, none of them a label")
    guesses = tuple(Guess(i, labels.names[i - offset], probs[i]) for i in ranked)
    return Verdict(guesses=guesses, confident=guesses[0].probability >= min_confidence)


def format_probability(p: float) -> str:
    return f"{p * 100:.1f}%"


def render_reply(verdict: Verdict, *, sender: str, rules: ReplyConfig) -> str:
    topk = ", ".join(f"{g.label} {format_probability(g.probability)}" for g in verdict.guesses)
    template = rules.template if verdict.confident else rules.unsure_template
    return template.format(
        sender=display_name(sender),  # a peer's name never carries a line break into the chat
        label=verdict.best.label,
        probability=format_probability(verdict.best.probability),
        topk=topk,
    )


def model_names(prediction: Prediction) -> LabelTable:
    """The model's own class names as a table (``[labels] file = "model"``)."""
    names = prediction.class_names
    if not names or len(names) != len(prediction.probabilities):
        raise LabelError(
            f"model {prediction.model!r} sent no class names beside its scores, but "
            '[labels] file = "model" needs them; give a label table instead'
        )
    return LabelTable(names, source=f"model {prediction.model!r}", from_model=True)


@dataclass
class Recogniser:
    """Bytes in, labelled verdict out: the one path used by ``classify`` and by the bot."""

    prepare: Preparer
    classifier: Classifier
    labels: LabelTable
    rules: ReplyConfig
    offset: int | None
    model_classes: int | None = None

    def __post_init__(self) -> None:
        self._resolved: int | None = None
        if self.labels.from_model:
            self._resolved = 0
        elif self.model_classes is not None:
            self._resolved = resolve_offset(self.offset, self.model_classes, len(self.labels))

    @property
    def resolved_offset(self) -> int | None:
        """The label offset in use; None until known (metadata or a first prediction)."""
        return self._resolved

    def recognise(self, data: bytes) -> Recognition:
        start = time.perf_counter()
        payload = self.prepare(data)
        prediction = self.classifier.predict(payload)
        labels = self.labels
        if labels.from_model:
            labels = model_names(prediction)
        offset = self._resolved
        if offset is None:  # the metadata did not say how many classes; learn it once
            offset = resolve_offset(self.offset, len(prediction.probabilities), len(labels))
            self._resolved = offset
        verdict = decide(
            prediction,
            labels,
            offset=offset,
            top_k=self.rules.top_k,
            min_confidence=self.rules.min_confidence,
        )
        return Recognition(
            verdict=verdict,
            model=prediction.model,
            version=prediction.version,
            sent_bytes=prediction.request_bytes,
            latency_ms=(time.perf_counter() - start) * 1000.0,
        )
