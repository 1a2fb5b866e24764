"""Scores to probabilities: checking a probability vector, softmax for logits, and deciding
once per model which of the two a model answers (``[serving] scores = "auto"``).

Pure data in, data out; every serving adapter hands its raw score vector to a ``ScoreReader``.
"""

from __future__ import annotations

import math
import threading
from typing import Literal

from bot.errors import BadPrediction

ScoreKind = Literal["probabilities", "logits"]
PROBABILITY_NAMES = ("probabilities", "probability", "probs", "softmax")


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


def score_hint(alias: str) -> ScoreKind | None:
    """What an output's name says about its values (None: nothing)."""
    lowered = alias.lower()
    if "logit" in lowered:
        return "logits"
    if lowered in PROBABILITY_NAMES:
        return "probabilities"
    return None


def softmax(values: list[float]) -> tuple[float, ...]:
    """Numerically stable: subtract the largest value before exponentiating."""
    if not values:
        raise BadPrediction("the model returned an empty score vector")
    if not all(math.isfinite(v) for v in values):
        bad = next(v for v in values if not math.isfinite(v))
        raise BadPrediction(f"the model returned {bad!r} among its logits")
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = math.fsum(exps)
    return tuple(e / total for e in exps)


def judge_scores(values: list[float]) -> tuple[ScoreKind, str]:
    """Probabilities or logits, from the values alone (and why)."""
    if not values or not all(math.isfinite(v) for v in values):
        raise BadPrediction("the model returned an empty score vector or one with NaN/Infinity")
    low, high, total = min(values), max(values), math.fsum(values)
    if low < 0.0 or high > 1.0 + 1e-4:
        return "logits", f"values from {low:.3g} to {high:.3g}, outside [0, 1]"
    if abs(total - 1.0) > 0.01:
        return "logits", f"values sum to {total:.3g}, not 1"
    return "probabilities", "values in [0, 1] summing to 1"


class ScoreReader:
    """Turns one model's score vectors into probabilities; ``auto`` decides once, from the
    output's name or else from the first answer, and keeps the decision (``decision``)."""

    def __init__(self, configured: str, hint: ScoreKind | None) -> None:
        self._lock = threading.Lock()
        self.kind: ScoreKind | None = None
        self.reason = ""
        if configured in ("probabilities", "logits"):
            self.kind, self.reason = configured, "set in config"  # type: ignore[assignment]
        elif hint is not None:
            self.kind, self.reason = hint, "auto: from the output's name"

    @property
    def decision(self) -> str:
        return f"{self.kind} ({self.reason})" if self.kind else "not decided yet"

    def probabilities(self, values: list[float]) -> tuple[float, ...]:
        with self._lock:
            if self.kind is None:
                kind, why = judge_scores(values)
                self.kind, self.reason = kind, f"auto: {why}"
            kind = self.kind
        return softmax(values) if kind == "logits" else check_probabilities(values)
