"""The serving port and its vocabulary: what a model takes and answers, in the core's own words.

Every serving adapter (TF Serving, STFS, ...) translates its server's names at the border —
TensorFlow's ``DT_FLOAT`` is ``"float32"`` here, STFS's enum 7 is ``"string"`` — and offers the
``ServingClient`` port; nothing in the core knows which server it talks to. ``server`` is the
server's display name for messages. Reading a signature: ``bot.core.signature``; scores:
``bot.core.scores``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from bot.core.scores import ScoreKind, ScoreReader, check_probabilities

__all__ = [
    "ANSWER_MAX_BYTES",
    "METADATA_LIMIT",
    "STRING",
    "TENSOR_DTYPES",
    "UINT8",
    "AnswerLimit",
    "BoxFormat",
    "Classifier",
    "Convention",
    "DType",
    "Detection",
    "DetectorOutputs",
    "InputKind",
    "InputSpec",
    "JpegPayload",
    "ModelInfo",
    "ModelInput",
    "Prediction",
    "Preparer",
    "ServingClient",
    "TensorInfo",
    "TensorPayload",
    "answer_limit",
    "check_probabilities",
]

DType = Literal[
    "string",
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "other",  # a type the core has no name for: TensorInfo.native says which
]
STRING: DType = "string"
UINT8: DType = "uint8"
TENSOR_DTYPES: frozenset[DType] = frozenset({"float32", "float64", "uint8"})  # picture tensors

InputKind = Literal["jpeg", "tensor", "base64_text"]
Task = Literal["classify", "detect"]
BoxFormat = Literal["normalized", "pixels", "auto"]
Convention = Literal["od_api", "model_garden"]


@dataclass(frozen=True)
class TensorInfo:
    """One signature entry: its dtype, its shape (None = unknown rank), and the dtype as the
    server spells it (``DT_HALF``), for messages."""

    dtype: DType
    shape: tuple[int, ...] | None
    native: str = ""

    @property
    def shown(self) -> str:
        """``float16 (DT_HALF)``: the core's name, and the server's where it differs."""
        if not self.native or self.native == self.dtype:
            return self.dtype
        return self.native if self.dtype == "other" else f"{self.dtype} ({self.native})"


@dataclass(frozen=True)
class InputSpec:
    """What the model's signature takes, read from its metadata."""

    kind: InputKind
    alias: str
    dtype: DType
    height: int | None = None
    width: int | None = None
    value_range: str = "0_1"
    batched: bool = True  # False: one picture as a scalar (signature of unknown rank)

    @property
    def any_size(self) -> bool:
        """A tensor input of any height and width (a detector's ``[1, -1, -1, 3]``)."""
        return self.kind == "tensor" and self.height is None

    def describe(self) -> str:
        one = "" if self.batched else ", one scalar string per request"
        if self.kind == "jpeg":
            return f"JPEG bytes in input {self.alias!r} ({self.dtype}{one})"
        if self.kind == "base64_text":
            return (
                f"web-safe base64 text of the picture in input {self.alias!r} ({self.dtype}{one})"
            )
        if self.any_size:
            return f"HxWx3 tensor of any size in input {self.alias!r} ({self.dtype})"
        return (
            f"{self.height}x{self.width}x3 tensor in input {self.alias!r} ({self.dtype}, "
            f"value range {self.value_range})"
        )


@dataclass(frozen=True)
class DetectorOutputs:
    """Where a detector's answer is: the aliases of its box, class, score and count outputs,
    whose export convention it follows, and how its boxes are given."""

    boxes: str
    classes: str
    scores: str
    count: str | None
    convention: Convention
    box_format: BoxFormat  # "auto": told from each answer (coordinates over 1 are pixels)
    max_detections: int | None = None  # N of [1, N, 4], when the signature says

    def describe(self) -> str:
        who = (
            "the Object Detection API's outputs"
            if self.convention == "od_api"
            else "TF Model Garden's detection outputs (with image_info)"
        )
        boxes = {
            "normalized": "normalised boxes",
            "pixels": "boxes in pixels",
            "auto": "boxes normalised or in pixels, told from each answer "
            "(set [serving] boxes to fix it)",
        }[self.box_format]
        most = f", up to {self.max_detections} detections" if self.max_detections else ""
        return f"{who}: {self.boxes}, {self.classes}, {self.scores}; {boxes}{most}"


@dataclass(frozen=True)
class ModelInfo:
    """What ``check`` reports and what the pipeline is wired from."""

    name: str
    version: str
    available_versions: tuple[str, ...]
    input: InputSpec
    output: str | None  # alias of the score output; None = the signature's only output
    num_classes: int | None
    names_output: str | None = None  # a string output holding class names, if any
    score_hint: ScoreKind | None = None  # what the output's name says; None: from the values
    input_guessed: bool = False  # the signature cannot tell jpeg from base64_text: try both
    detector: DetectorOutputs | None = None  # set: the model detects objects

    @property
    def task(self) -> Task:
        return "classify" if self.detector is None else "detect"


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
class Detection:
    """One object found: the model's class id, its score, and its box as (ymin, xmin, ymax,
    xmax), each a fraction of the picture's height or width."""

    class_id: int
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class Prediction:
    probabilities: tuple[float, ...]
    model: str
    version: str
    request_bytes: int = 0
    class_names: tuple[str, ...] | None = None  # the model's own names, if it outputs them
    detections: tuple[Detection, ...] | None = None  # a detector's finds, best first


class Preparer(Protocol):
    def __call__(self, data: bytes) -> ModelInput: ...


class Classifier(Protocol):
    def predict(self, payload: ModelInput) -> Prediction: ...


class ServingClient(Classifier, Protocol):
    """The serving port: one model on one server, read once, then asked per picture.
    Raises ServingError (could not reach, answered no, answered nonsense) or ModelMismatch."""

    server: str  # the server's display name for messages ("TF Serving")
    public_url: str  # [serving] url without credentials
    scores: ScoreReader

    def model_info(self) -> ModelInfo: ...

    def use_input(self, kind: InputKind) -> ModelInfo: ...

    def ping(self) -> None: ...

    def wire_notes(self) -> list[str]:
        """How pictures and answers travel, where the protocol has choices (``check``)."""
        ...


# -- how much of an answer is read -------------------------------------------------------------
# A 1,001-class predict answer is ~20 KB of JSON (about 20 bytes a score); 256 bytes a class
# leaves room for class-name outputs and pretty-printing, the headroom for the envelope.
ANSWER_BYTES_PER_CLASS = 256
ANSWER_HEADROOM_BYTES = 64 * 1024
ANSWER_UNKNOWN_CLASSES_BYTES = 8 * 1024 * 1024  # the signature does not say how many classes
ANSWER_MAX_BYTES = 64 * 1024 * 1024
METADATA_BYTES = 4 * 1024 * 1024  # status, metadata, model detail, protocol probes


@dataclass(frozen=True)
class AnswerLimit:
    """The most bytes of one answer that are read, and why that many (for the message)."""

    max_bytes: int
    reason: str


METADATA_LIMIT = AnswerLimit(METADATA_BYTES, "the bound for status and metadata answers")


def answer_limit(num_classes: int | None) -> AnswerLimit:
    """The bound on a predict answer for a model of ``num_classes`` classes."""
    if num_classes is None:
        return AnswerLimit(
            ANSWER_UNKNOWN_CLASSES_BYTES,
            "the bound for a model whose signature does not declare its number of classes",
        )
    size = ANSWER_HEADROOM_BYTES + ANSWER_BYTES_PER_CLASS * num_classes
    return AnswerLimit(
        min(size, ANSWER_MAX_BYTES),
        f"the bound for {num_classes:,} classes ({ANSWER_BYTES_PER_CLASS} bytes a class + "
        f"{ANSWER_HEADROOM_BYTES // 1024} KiB; a real answer takes ~20 bytes a class)",
    )
