"""What both serving adapters (TF Serving, STFS) share: reading a signature, turning scores into
probabilities, and advice when the server's answer shows that the input kind is wrong.

Pure data in, data out. Each adapter translates its server's metadata into ``TensorInfo`` maps
and hands the raw score vector to a ``ScoreReader``; neither knows about the other.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from bot.core.settings import ServingConfig
from bot.errors import BadPrediction

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


class Preparer(Protocol):
    def __call__(self, data: bytes) -> ModelInput: ...


class Classifier(Protocol):
    def predict(self, payload: ModelInput) -> Prediction: ...


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


TENSOR_DTYPES = frozenset({"DT_FLOAT", "DT_DOUBLE", "DT_UINT8"})
STRING_KINDS: tuple[InputKind, ...] = (
    "jpeg",
    "base64_text",
)  # what a DT_STRING picture input may want
SCORE_OUTPUTS = ("probabilities", "scores", "predictions", "prediction", "probs", "logits")
PROBABILITY_NAMES = ("probabilities", "probability", "probs", "softmax")
ScoreKind = Literal["probabilities", "logits"]


@dataclass(frozen=True)
class TensorInfo:
    """One signature entry: dtype name (``DT_FLOAT``) and shape (None = unknown rank)."""

    dtype: str
    shape: tuple[int, ...] | None


@dataclass(frozen=True)
class ModelInfo:
    """What ``check`` reports and what the pipeline is wired from."""

    name: str
    version: str
    available_versions: tuple[str, ...]
    input: InputSpec
    output: str | None  # alias of the score output; None = the signature's only output
    num_classes: int | None
    names_output: str | None = None  # a DT_STRING output holding class names, if any
    score_hint: ScoreKind | None = None  # what the output's name says; None: from the values
    input_guessed: bool = False  # the signature cannot tell jpeg from base64_text: try both


def read_input(
    inputs: Mapping[str, TensorInfo], settings: ServingConfig, where: str
) -> tuple[InputSpec, bool]:
    """The picture input and whether its kind is only a guess (``auto`` + a string input of
    unknown rank, which may want picture bytes or base64 text: ``connect`` tries both)."""
    if len(inputs) != 1:
        raise BadPrediction(
            f"{where} takes {len(inputs)} inputs ({', '.join(inputs)}); this bot needs a single "
            "image input"
        )
    alias, info = next(iter(inputs.items()))
    shape, mode = info.shape, settings.input
    if info.dtype == "DT_STRING" and mode in ("auto", *STRING_KINDS):
        # Unknown rank or a scalar: one picture as a scalar string (TF Serving's columnar
        # ``inputs``); the row form ``instances`` always adds a batch dimension.
        batched = shape is not None and len(shape) >= 1
        kind: InputKind = "base64_text" if mode == "base64_text" else "jpeg"
        spec = InputSpec(kind, alias, info.dtype, batched=batched)
        return spec, mode == "auto" and not batched
    if info.dtype in TENSOR_DTYPES and mode in ("auto", "tensor"):
        if shape is None or len(shape) != 4 or shape[3] != 3 or min(shape[1:3]) <= 0:
            raise BadPrediction(
                f"{where} input {alias!r} has shape {list(shape) if shape else shape}; this bot "
                "needs (-1, height, width, 3)"
            )
        return InputSpec(
            "tensor", alias, info.dtype, shape[1], shape[2], settings.value_range
        ), False
    raise BadPrediction(
        f"{where} input {alias!r} is {info.dtype}, which does not fit [serving] input = "
        f'{mode!r}; a DT_STRING input takes "jpeg" or "base64_text", a DT_FLOAT/DT_UINT8 '
        'input takes "tensor"'
    )


@dataclass(frozen=True)
class Outputs:
    alias: str | None  # None = the only output
    names: str | None
    num_classes: int | None
    hint: ScoreKind | None


def read_outputs(outputs: Mapping[str, TensorInfo], settings: ServingConfig, where: str) -> Outputs:
    """Which output holds the scores, which (if any) the class names, and what the name says."""
    names = next(
        (a for a, i in outputs.items() if i.dtype == "DT_STRING" and "class" in a.lower()), None
    )
    scoring = {a: i for a, i in outputs.items() if i.dtype != "DT_STRING"}
    wanted = settings.output
    if wanted != "auto":
        if wanted not in outputs:
            raise BadPrediction(
                f"{where} has no output {wanted!r}; set [serving] output to one of: "
                f"{', '.join(outputs)}"
            )
        alias = wanted
    elif len(outputs) == 1:
        alias = next(iter(outputs))
    else:
        found = [n for n in SCORE_OUTPUTS if n in scoring]
        if not found:
            raise BadPrediction(
                f"{where} has outputs {', '.join(outputs)}; set [serving] output to the one "
                "holding class scores"
            )
        alias = found[0]
    shape = outputs[alias].shape
    classes = shape[1] if shape and len(shape) == 2 and shape[1] > 0 else None
    return Outputs(
        alias=alias if len(outputs) > 1 else None,
        names=names if names != alias else None,
        num_classes=classes,
        hint=score_hint(alias),
    )


def score_hint(alias: str) -> ScoreKind | None:
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


def input_advice(message: str, kind: str) -> str | None:
    """What a server's error message says about the input kind, as a config fix (or None)."""
    base64_text = ("Invalid character found in base64", "length cannot be 1")
    if kind != "base64_text" and any(s in message for s in base64_text):
        return 'the graph decodes base64 text itself: set [serving] input = "base64_text"'
    if "must be scalar" in message:
        return (
            "the graph takes one picture as a scalar string, but its signature declares a batch "
            "dimension; export it with an unknown-rank string input (seed 000's way)"
        )
    unreadable = ("Unknown image file format", "jpeg::Uncompress", "Invalid PNG", "DecodePng")
    if kind == "base64_text" and any(s in message for s in unreadable):
        return 'the graph decodes picture bytes, not base64 text: set [serving] input = "jpeg"'
    if "is not of expected type" in message and kind != "tensor":
        return 'the model takes a tensor: set [serving] input = "tensor"'
    return None


class DiscoveredModel:
    """What both serving clients share: the model is read once (``_discover``, by the
    subclass), its score kind follows, and the input kind can be switched after trying."""

    def __init__(self, settings: ServingConfig) -> None:
        self.settings = settings
        self._info: ModelInfo | None = None
        self.scores = ScoreReader(settings.scores, None)

    def _discover(self) -> ModelInfo:
        raise NotImplementedError

    def model_info(self) -> ModelInfo:
        """Read the model's signature; decide input kind and output. Cached."""
        if self._info is None:
            self._info = self._discover()
            self.scores = ScoreReader(self.settings.scores, self._info.score_hint)
        return self._info

    def use_input(self, kind: InputKind) -> ModelInfo:
        """Send pictures as ``kind`` from now on (``check`` and ``auto`` trying the others)."""
        info = self.model_info()
        self._info = replace(info, input=replace(info.input, kind=kind))
        return self._info
