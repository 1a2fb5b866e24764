"""A detector's answer: the objects found, counted per class in words, and drawn on the photo.

``Detector`` is the ``Answerer`` for an object-detection model: picture bytes -> detections
(``bot.core.detection`` reads them) -> the classes above ``[detect] min_score`` counted, most
confident first (``2 只狗 (97%, 91%)、1 个人 (88%)``) -> the reply text, and the photo with the
boxes drawn through the ``Sight`` port (Pillow, ``bot.adapters.imaging.drawing``), which
decodes the photo once for both the model and the drawing. Pure: no Pillow,
no server, no chat here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.core.answers import Answer
from bot.core.chat import Image
from bot.core.detection import pick
from bot.core.names import display_name
from bot.core.pipeline import LabelTable
from bot.core.serving import Classifier, Detection, ModelInput
from bot.core.settings import DetectConfig, ReplyConfig
from bot.errors import BadPrediction

SCORES_SHOWN = 3  # scores listed per class; more are "…"
NOTHING_FOUND = "没有认出任何东西"


@dataclass(frozen=True)
class Box:
    """One box to draw: where (fractions of the picture), what to write, and which colour
    (the class's place in the reply)."""

    box: tuple[float, float, float, float]
    caption: str
    english: str
    slot: int
    score: float = 1.0


class Look(Protocol):
    """One photo decoded once: what the model is sent, and the photo to draw boxes on."""

    @property
    def payload(self) -> ModelInput: ...

    def draw(self, boxes: Sequence[Box]) -> Image | None:
        """The photo with ``boxes`` drawn, built in memory (None: it could not be drawn)."""
        ...


class Sight(Protocol):
    """The imaging port of a detector (Pillow: ``bot.adapters.imaging.drawing``): decode the
    photo once for both the model and, with ``drawing``, the reply picture."""

    def __call__(self, data: bytes, *, drawing: bool) -> Look: ...


@dataclass(frozen=True)
class Counted:
    """One class found: its name, the word counting it, and each find's score, best first."""

    class_id: int
    label: str
    english: str
    measure: str
    scores: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.scores)


@dataclass(frozen=True)
class Findings:
    counted: tuple[Counted, ...]  # above the threshold, best class first, at most max_classes
    boxes: tuple[Box, ...]  # what is drawn: the finds of the counted classes
    doubtful: tuple[Counted, ...]  # below the threshold, best first (the unsure reply)


def _name(labels: LabelTable, class_id: int, offset: int) -> tuple[str, str, str]:
    """(name, English name, measure word) of a class; a class the table lacks is named by
    its number, so a model with more classes than its table still answers."""
    row = labels.row_of(class_id, offset)
    if row is None:
        return f"类别 {class_id}", f"class {class_id}", ""
    name = labels.names[row]
    english = labels.english[row] if labels.english and labels.english[row] else name
    measure = labels.measures[row] if labels.measures and labels.measures[row] else ""
    return name, english, measure


def _group(found: Sequence[Detection], labels: LabelTable, offset: int) -> list[Counted]:
    """Detections grouped by class, the class with the best score first."""
    scores: dict[int, list[float]] = {}
    for d in found:  # best first: each class's list is in order too
        scores.setdefault(d.class_id, []).append(d.score)
    return [
        Counted(class_id, *_name(labels, class_id, offset), scores=tuple(s))
        for class_id, s in scores.items()
    ]


def count(
    detections: Sequence[Detection], labels: LabelTable, settings: DetectConfig, *, offset: int
) -> Findings:
    """The finds above ``min_score`` counted per class (at most ``max_classes`` classes), the
    boxes to draw, and the best doubtful ones for a reply when nothing is sure."""
    sure = pick(detections, settings.min_score)
    counted = _group(sure, labels, offset)[: settings.max_classes]
    slots = {c.class_id: i for i, c in enumerate(counted)}
    names = {c.class_id: c for c in counted}
    boxes = tuple(
        Box(
            d.box,
            names[d.class_id].label,
            names[d.class_id].english,
            slots[d.class_id],
            d.score,
        )
        for d in sure
        if d.class_id in slots
    )
    doubtful = _group([d for d in detections if d.score < settings.min_score], labels, offset)
    return Findings(tuple(counted), boxes, tuple(doubtful[: settings.max_classes]))


def percent(score: float) -> str:
    return f"{score * 100:.0f}%"


def say_counts(counted: Sequence[Counted]) -> str:
    """``2 只狗 (97%, 91%)、1 个人 (88%)``; a class without a measure word: ``dog ×2 (…)``."""
    parts = []
    for c in counted:
        shown = ", ".join(percent(s) for s in c.scores[:SCORES_SHOWN])
        if c.count > SCORES_SHOWN:
            shown += ", …"
        what = f"{c.count} {c.measure}{c.label}" if c.measure else f"{c.label} ×{c.count}"
        parts.append(f"{what} ({shown})")
    return "、".join(parts)


def tally(counted: Sequence[Counted]) -> str:
    """The audit row's account: ``狗×2, 人×1``."""
    return ", ".join(f"{c.label}×{c.count}" for c in counted)


@dataclass(frozen=True)
class Sighting:
    """One picture's detections, read and counted (``classify`` prints it), and the photo
    with their boxes drawn when asked for."""

    findings: Findings
    detections: tuple[Detection, ...]
    model: str
    version: str
    sent_bytes: int
    latency_ms: float  # from the bytes to the counted finds; drawing not included
    picture: Image | None = None


@dataclass
class Detector:
    """The ``Answerer`` for a detection model: count what it found, draw it, say it."""

    sight: Sight
    classifier: Classifier
    labels: LabelTable
    settings: DetectConfig
    offset: int

    def detect(self, data: bytes, *, drawing: bool = False) -> Sighting:
        """Ask the model; count its finds; with ``drawing``, draw the counted ones."""
        start = time.perf_counter()
        look = self.sight(data, drawing=drawing)
        prediction = self.classifier.predict(look.payload)
        if prediction.detections is None:
            raise BadPrediction(
                f"model {prediction.model!r} answered without detections; set [serving] task "
                '= "classify" if it is a classifier'
            )
        findings = count(prediction.detections, self.labels, self.settings, offset=self.offset)
        latency_ms = (time.perf_counter() - start) * 1000.0
        picture = look.draw(findings.boxes) if drawing and findings.boxes else None
        return Sighting(
            findings,
            prediction.detections,
            prediction.model,
            prediction.version,
            prediction.request_bytes,
            latency_ms,
            picture,
        )

    def answer(self, data: bytes, *, sender: str, rules: ReplyConfig) -> Answer:
        seen = self.detect(data, drawing=self.settings.draw)
        return detection_answer(seen, sender=sender, rules=rules)


def detection_answer(seen: Sighting, *, sender: str, rules: ReplyConfig) -> Answer:
    counted, doubtful = seen.findings.counted, seen.findings.doubtful
    name = display_name(sender)
    best: Counted | None
    if counted:
        best = counted[0]
        text = rules.detect_template.format(
            sender=name,
            counts=say_counts(counted),
            label=counted[0].label,
            probability=percent(counted[0].scores[0]),
            topk=say_counts(counted),
        )
        summary = say_counts(counted)
    else:
        best = doubtful[0] if doubtful else None
        guesses = ", ".join(f"{c.label} {percent(c.scores[0])}" for c in doubtful)
        text = rules.unsure_template.format(
            sender=name,
            counts=guesses or NOTHING_FOUND,
            label=best.label if best else NOTHING_FOUND,
            probability=percent(best.scores[0]) if best else percent(0.0),
            topk=guesses or NOTHING_FOUND,
        )
        summary = f"({guesses or NOTHING_FOUND})"
    return Answer(
        kind="detect",
        sure=bool(counted),
        text=text,
        summary=summary,
        model=seen.model,
        version=seen.version,
        latency_ms=round(seen.latency_ms, 1),
        label=best.label if best else None,
        probability=best.scores[0] if best else None,
        detail=tally(counted),
        picture=seen.picture,
        counts=tuple((c.label, c.count) for c in counted),
    )
