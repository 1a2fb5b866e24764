"""Reading a model's signature in the core's vocabulary: which input takes the picture and how,
which output holds the scores and which the class names, and advice when the server's answer
shows that the input kind is wrong.

Pure data in, data out. Each serving adapter translates its server's metadata into
``TensorInfo`` maps (``dim_size`` and ``unreadable`` turn odd values into a ``BadPrediction``
that says what was odd); a signature that is readable but does not fit the configuration is a
``ModelMismatch``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from bot.core.detection import read_detector
from bot.core.scores import ScoreKind, ScoreReader, score_hint
from bot.core.serving import (
    STRING,
    TENSOR_DTYPES,
    DetectorOutputs,
    InputKind,
    InputSpec,
    ModelInfo,
    TensorInfo,
)
from bot.core.settings import ServingConfig
from bot.errors import BadPrediction, ModelMismatch

STRING_KINDS: tuple[InputKind, ...] = ("jpeg", "base64_text")  # what a string input may want
SCORE_OUTPUTS = ("probabilities", "scores", "predictions", "prediction", "probs", "logits")
MAX_DIM = 2**31 - 1
_WHOLE = re.compile(r"-?\d{1,12}")


def brief(value: object) -> str:
    """A value a server sent, short enough for a message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def unreadable(where: str, what: str) -> BadPrediction:
    """The server described its model in a way no server should: say what was odd."""
    return BadPrediction(
        f"{where} sent a model description this bot cannot read ({what}); check that "
        "[serving] url and protocol point at the model server, and the server's own log"
    )


def dim_size(value: object, where: str, what: str) -> int:
    """A dimension's size as a server writes it: a number or a string of one; -1 = unknown."""
    size: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and _WHOLE.fullmatch(value.strip())
    ):
        size = int(value)
    if size is None or not -1 <= size <= MAX_DIM:
        raise unreadable(where, f"{what} has the dimension size {brief(value)}, not a whole number")
    return size


def read_input(
    inputs: Mapping[str, TensorInfo], settings: ServingConfig, where: str, *, any_size: bool = False
) -> tuple[InputSpec, bool]:
    """The picture input and whether its kind is only a guess (``auto`` + a string input of
    unknown rank, which may want picture bytes or base64 text: ``connect`` tries both).
    ``any_size``: a tensor input may leave height and width open (a detector's)."""
    if len(inputs) != 1:
        raise ModelMismatch(
            f"{where} takes {len(inputs)} inputs ({', '.join(inputs) or 'none'}); this bot "
            "needs a single image input: set [serving] signature to a signature that has one"
        )
    alias, info = next(iter(inputs.items()))
    shape, mode = info.shape, settings.input
    if info.dtype == STRING and mode in ("auto", *STRING_KINDS):
        # Unknown rank or a scalar: one picture as a scalar string (TF Serving's columnar
        # ``inputs``); the row form ``instances`` always adds a batch dimension.
        batched = shape is not None and len(shape) >= 1
        kind: InputKind = "base64_text" if mode == "base64_text" else "jpeg"
        spec = InputSpec(kind, alias, info.dtype, batched=batched)
        return spec, mode == "auto" and not batched
    if info.dtype in TENSOR_DTYPES and mode in ("auto", "tensor"):
        open_size = shape is not None and len(shape) == 4 and shape[3] == 3
        if any_size and open_size and shape is not None and min(shape[1:3]) <= 0:
            # any height and width: the picture is sent at its own (shrunk) size
            spec = InputSpec("tensor", alias, info.dtype, None, None, settings.value_range)
            return spec, False
        if shape is None or len(shape) != 4 or shape[3] != 3 or min(shape[1:3]) <= 0:
            raise ModelMismatch(
                f"{where} input {alias!r} has shape {list(shape) if shape else shape}; this bot "
                "needs (-1, height, width, 3): export the model with such an image input"
            )
        return InputSpec(
            "tensor", alias, info.dtype, shape[1], shape[2], settings.value_range
        ), False
    tensors = "/".join(sorted(TENSOR_DTYPES))
    raise ModelMismatch(
        f"{where} input {alias!r} is {info.shown}, which does not fit [serving] input = "
        f'{mode!r}; a string input takes "jpeg" or "base64_text", a {tensors} input takes '
        '"tensor"'
    )


@dataclass(frozen=True)
class Outputs:
    alias: str | None  # None = the only output
    names: str | None
    num_classes: int | None
    hint: ScoreKind | None


def read_outputs(outputs: Mapping[str, TensorInfo], settings: ServingConfig, where: str) -> Outputs:
    """Which output holds the scores, which (if any) the class names, and what the name says."""
    if not outputs:
        raise ModelMismatch(f"{where} has no outputs; this bot needs one holding class scores")
    names = next(
        (a for a, i in outputs.items() if i.dtype == STRING and "class" in a.lower()), None
    )
    scoring = {a: i for a, i in outputs.items() if i.dtype != STRING}
    wanted = settings.output
    if wanted != "auto":
        if wanted not in outputs:
            raise ModelMismatch(
                f"{where} has no output {wanted!r}; set [serving] output to one of: "
                f"{', '.join(outputs)}"
            )
        alias = wanted
    elif len(outputs) == 1:
        alias = next(iter(outputs))
    else:
        found = [n for n in SCORE_OUTPUTS if n in scoring]
        if not found:
            raise ModelMismatch(
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


@dataclass(frozen=True)
class Signature:
    """A signature read: the picture input, and a classifier's outputs or a detector's."""

    input: InputSpec
    input_guessed: bool
    outputs: Outputs | None
    detector: DetectorOutputs | None

    def model_info(self, name: str, version: str, available: tuple[str, ...]) -> ModelInfo:
        out = self.outputs
        return ModelInfo(
            name=name,
            version=version,
            available_versions=available,
            input=self.input,
            output=out.alias if out else None,
            num_classes=out.num_classes if out else None,
            names_output=out.names if out else None,
            score_hint=out.hint if out else None,
            input_guessed=self.input_guessed,
            detector=self.detector,
        )


def read_signature(
    inputs: Mapping[str, TensorInfo],
    outputs: Mapping[str, TensorInfo],
    settings: ServingConfig,
    where: str,
) -> Signature:
    """Which task the model does (``[serving] task``), its picture input, and its outputs."""
    detector = read_detector(outputs, settings, where)
    spec, guessed = read_input(inputs, settings, where, any_size=detector is not None)
    chosen = read_outputs(outputs, settings, where) if detector is None else None
    return Signature(spec, guessed, chosen, detector)


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
    """What every serving client shares: the model is read once (``_discover``, by the
    subclass), its score kind follows, and the input kind can be switched after trying."""

    def __init__(self, settings: ServingConfig, *, server: str) -> None:
        self.settings = settings
        self.server = server
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

    def wire_notes(self) -> list[str]:
        """How pictures and answers travel, where the protocol has choices (none here)."""
        return []

    def use_input(self, kind: InputKind) -> ModelInfo:
        """Send pictures as ``kind`` from now on (``check`` and ``auto`` trying the others)."""
        info = self.model_info()
        self._info = replace(info, input=replace(info.input, kind=kind))
        return self._info
