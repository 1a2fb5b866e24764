"""Reading a detector in the core's words: is this signature an object detector, and what did
its answer find.

Two export conventions are known (sources in ``tests/fakes/detector/README.md``):

- the TensorFlow Object Detection API (``exporter_lib_v2.py``): outputs ``detection_boxes``
  [1, N, 4] as normalised (ymin, xmin, ymax, xmax), ``detection_classes`` [1, N] as float
  class ids (COCO's 1–90 with gaps), ``detection_scores`` [1, N] and ``num_detections`` [1];
  other outputs (``raw_detection_*``, ``detection_multiclass_scores``, ...) are not read;
- TF Model Garden (``official/vision/serving/detection.py``): the same four names, classes
  possibly integers, an ``image_info`` output, and boxes in pixels unless the model was
  exported with ``output_normalized_coordinates``: ``[serving] boxes`` says which, else each
  answer tells (a coordinate over 1 is a pixel).

Pure data in, data out: each serving adapter hands over one answer's outputs as parsed JSON.
A model's answer is untrusted input: every value is checked, and at most ``MAX_READ`` are read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.serving import (
    ANSWER_MAX_BYTES,
    STRING,
    AnswerLimit,
    BoxFormat,
    Convention,
    Detection,
    DetectorOutputs,
    TensorInfo,
)
from bot.core.settings import ServingConfig
from bot.errors import BadPrediction, ModelMismatch

BOXES, CLASSES, SCORES, COUNT = (
    "detection_boxes",
    "detection_classes",
    "detection_scores",
    "num_detections",
)
IMAGE_INFO = "image_info"  # only TF Model Garden's exports have it
MAX_READ = 1000  # detections read from one answer (exports keep 100 by default)
PIXEL_SLACK = 1.0001  # a normalised coordinate may overshoot 1 by rounding


def read_detector(
    outputs: Mapping[str, TensorInfo], settings: ServingConfig, where: str
) -> DetectorOutputs | None:
    """The detector outputs of a signature, or None for a classifier (``[serving] task``)."""
    has = [name for name in (BOXES, CLASSES, SCORES) if name in outputs]
    if settings.task == "classify" or (settings.task == "auto" and len(has) < 3):
        return None
    if len(has) < 3:
        missing = ", ".join(n for n in (BOXES, CLASSES, SCORES) if n not in outputs)
        raise ModelMismatch(
            f'{where} has no {missing} output, which [serving] task = "detect" needs (an '
            f"Object Detection API export has them); it has {', '.join(outputs) or 'none'}: "
            'set task = "classify" or "auto"'
        )
    for name in (BOXES, SCORES, CLASSES):
        info = outputs[name]
        if info.dtype == STRING or info.dtype in ("bool", "other"):
            raise ModelMismatch(
                f"{where} output {name!r} is {info.shown}; a detector's {name} are numbers: "
                "is this an Object Detection API export?"
            )
    convention: Convention = "model_garden" if IMAGE_INFO in outputs else "od_api"
    box_format: BoxFormat = "auto"
    if settings.boxes == "normalized" or (settings.boxes == "auto" and convention == "od_api"):
        box_format = "normalized"
    elif settings.boxes == "pixels":
        box_format = "pixels"
    shape = outputs[BOXES].shape
    most = shape[1] if shape is not None and len(shape) == 3 and shape[1] > 0 else None
    return DetectorOutputs(
        boxes=BOXES,
        classes=CLASSES,
        scores=SCORES,
        count=COUNT if COUNT in outputs else None,
        convention=convention,
        box_format=box_format,
        max_detections=most,
    )


def _strip(value: Any, depth: int) -> Any:
    """``value`` with a leading batch dimension of one removed, if it has one."""
    nested = value
    for _ in range(depth):
        if not isinstance(nested, list) or not nested:
            return value
        nested = nested[0]
    if isinstance(nested, list) and len(value) == 1:
        return value[0]
    return value


def _number(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadPrediction(f"{where} answered {what} = {str(value)[:40]!r}, not a number")
    number = float(value)
    if not math.isfinite(number):
        raise BadPrediction(f"{where} answered {what} = {value}, not a finite number")
    return number


def _list(value: Any, name: str, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadPrediction(
            f"{where} answered {name} as {str(value)[:40]!r}, not a list; is this a detector?"
        )
    return value


def read_detections(
    answer: Mapping[str, Any],
    outputs: DetectorOutputs,
    *,
    size: tuple[int, int],
    where: str,
) -> tuple[Detection, ...]:
    """One answer's detections, best first. ``answer`` maps output names to what the server
    sent for one picture (a batch dimension of one is allowed); ``size`` is the (width,
    height) of the picture sent, for boxes in pixels (Model Garden's are of the picture it
    scaled onto its canvas, which its ``image_info`` output tells)."""
    try:
        boxes = _list(_strip(answer[outputs.boxes], 2), outputs.boxes, where)
        scores = _list(_strip(answer[outputs.scores], 1), outputs.scores, where)
        classes = _list(_strip(answer[outputs.classes], 1), outputs.classes, where)
    except KeyError as exc:
        raise BadPrediction(
            f"{where} answered without the output {exc.args[0]!r} its signature declares"
        ) from exc
    found = min(len(boxes), len(scores), len(classes), MAX_READ)
    if outputs.count is not None and outputs.count in answer:
        count = answer[outputs.count]
        while isinstance(count, list) and len(count) == 1:
            count = count[0]
        said = _number(count, outputs.count, where)
        if said < 0 or not said.is_integer():
            raise BadPrediction(f"{where} answered {outputs.count} = {said}, not a count")
        found = min(found, int(said))
    pixels = outputs.box_format == "pixels"
    rows = []
    for i in range(found):
        score = _number(scores[i], f"{outputs.scores}[{i}]", where)
        if not 0.0 <= score <= 1.0:
            raise BadPrediction(
                f"{where} answered the score {score} for detection {i}; scores are 0..1"
            )
        class_id = _number(classes[i], f"{outputs.classes}[{i}]", where)
        if not class_id.is_integer() or not 0 <= class_id < 2**31:
            raise BadPrediction(f"{where} answered the class {class_id} for detection {i}")
        box = _list(boxes[i], f"{outputs.boxes}[{i}]", where)
        if len(box) != 4:
            raise BadPrediction(f"{where} answered a box of {len(box)} numbers for detection {i}")
        coords = [_number(v, f"{outputs.boxes}[{i}]", where) for v in box]
        rows.append((int(class_id), score, coords))
    if outputs.box_format == "auto":
        pixels = any(abs(c) > PIXEL_SLACK for _, _, coords in rows for c in coords)
    width, height = float(size[0]), float(size[1])
    if pixels and outputs.convention == "model_garden" and IMAGE_INFO in answer:
        width, height = _scaled_size(answer[IMAGE_INFO], where)
    found_all = []
    for class_id, score, (y0, x0, y1, x1) in rows:
        if pixels:
            y0, y1, x0, x1 = y0 / height, y1 / height, x0 / width, x1 / width
        inside = _box(y0, x0, y1, x1)
        if inside is not None:
            found_all.append(Detection(class_id, score, inside))
    found_all.sort(key=lambda d: d.score, reverse=True)
    return tuple(found_all)


def _scaled_size(info: Any, where: str) -> tuple[float, float]:
    """(width, height) of the picture as Model Garden scaled it onto its input canvas, read
    from ``image_info`` = [[orig h, w], [canvas h, w], [scale y, x], [offset y, x]]: its pixel
    boxes are of that picture (``_normalize_coordinates`` in official/vision/serving/detection.py
    divides by the scale, then by the original size)."""
    rows = _strip(info, 2)
    if (
        not isinstance(rows, list)
        or len(rows) != 4
        or not all(isinstance(row, list) and len(row) == 2 for row in rows)
    ):
        raise BadPrediction(
            f"{where} answered {IMAGE_INFO} as {str(info)[:60]!r}, not the 4×2 rows "
            "[original size, canvas, scale, offset]"
        )
    (orig_h, orig_w), _, (scale_y, scale_x) = (
        [_number(v, f"{IMAGE_INFO}[{r}]", where) for v in row] for r, row in enumerate(rows[:3])
    )
    height, width = orig_h * scale_y, orig_w * scale_x
    if not (height >= 1 and width >= 1):
        raise BadPrediction(
            f"{where} answered {IMAGE_INFO} with a picture of {width:g}×{height:g} pixels"
        )
    return width, height


def _box(y0: float, x0: float, y1: float, x1: float) -> tuple[float, float, float, float] | None:
    """The box inside the picture, corners in order; None when nothing of it is inside."""
    top, bottom = sorted((min(max(y0, 0.0), 1.0), min(max(y1, 0.0), 1.0)))
    left, right = sorted((min(max(x0, 0.0), 1.0), min(max(x1, 0.0), 1.0)))
    if bottom <= top or right <= left:
        return None
    return (top, left, bottom, right)


DETECTOR_LIMIT = AnswerLimit(
    ANSWER_MAX_BYTES,
    "the bound for a detector's answer (TF Serving's REST answer carries every output of the "
    "signature, the raw_detection_* ones included)",
)


def pick(values: Sequence[Detection], min_score: float) -> tuple[Detection, ...]:
    """The detections at or above ``min_score``, best first."""
    return tuple(d for d in values if d.score >= min_score)
