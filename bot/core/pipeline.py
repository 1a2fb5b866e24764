"""The core: picture bytes -> prediction -> verdict -> reply text.

Pure data in, data out. The outside world is reached only through the ports below
(``Preparer`` turns bytes into what the model takes, ``Classifier`` asks the model),
so nothing here knows about Pillow, requests, pandas or any chat protocol.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.core.answers import Answer
from bot.core.names import display_name
from bot.core.serving import Classifier, Prediction, Preparer
from bot.core.settings import ReplyConfig
from bot.errors import BadPrediction, LabelError


@dataclass(frozen=True)
class LabelTable:
    names: tuple[str, ...]
    source: str = ""
    column: str = ""
    from_model: bool = False  # [labels] file = "model": names come with each prediction
    ids: tuple[int, ...] | None = None
    """The class id of each name where the ids have gaps (COCO's 1–90 for 80 classes)."""
    measures: tuple[str, ...] | None = None
    """The measure word counting each class (只, 辆, 个 ...), from ``measure_<lang>``."""
    english: tuple[str, ...] | None = None
    """``class_EN`` beside the reply names: drawn where no font has the reply's glyphs."""

    def __len__(self) -> int:
        return len(self.names)

    def row_of(self, class_id: int, offset: int) -> int | None:
        """The table row naming model class ``class_id`` (rows = ids - offset without an id
        column), or None when the table has no such class."""
        if self.ids is not None:
            try:
                return self.ids.index(class_id)
            except ValueError:
                return None
        row = class_id - offset
        return row if 0 <= row < len(self.names) else None


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
        counts=topk,
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
        if self.labels.ids is not None:
            raise LabelError(
                f"{self.labels.source}: its id column has gaps (a detector's label map); a "
                "classifier's table numbers its classes 0..n-1 once each"
            )
        self._resolved: int | None = None
        if self.labels.from_model:
            self._resolved = 0
        elif self.model_classes is not None:
            self._resolved = resolve_offset(self.offset, self.model_classes, len(self.labels))

    @property
    def resolved_offset(self) -> int | None:
        """The label offset in use; None until known (metadata or a first prediction)."""
        return self._resolved

    def recognise(self, data: bytes, rules: ReplyConfig | None = None) -> Recognition:
        """Classify ``data``; ``rules`` (default: those it was built with) sets top-k and the
        confidence threshold."""
        rules = self.rules if rules is None else rules
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
            top_k=rules.top_k,
            min_confidence=rules.min_confidence,
        )
        return Recognition(
            verdict=verdict,
            model=prediction.model,
            version=prediction.version,
            sent_bytes=prediction.request_bytes,
            latency_ms=(time.perf_counter() - start) * 1000.0,
        )

    def answer(self, data: bytes, *, sender: str, rules: ReplyConfig) -> Answer:
        """The ``Answerer`` port: classify, then say it with the reply templates."""
        return classification_answer(self.recognise(data, rules), sender=sender, rules=rules)


def classification_answer(result: Recognition, *, sender: str, rules: ReplyConfig) -> Answer:
    verdict = result.verdict
    best = verdict.best
    return Answer(
        kind="classify",
        sure=verdict.confident,
        text=render_reply(verdict, sender=sender, rules=rules),
        summary=f"{best.label} {format_probability(best.probability)}",
        model=result.model,
        version=result.version,
        latency_ms=round(result.latency_ms, 1),
        label=best.label,
        probability=best.probability,
        detail="; ".join(f"{g.label} {format_probability(g.probability)}" for g in verdict.guesses),
    )
