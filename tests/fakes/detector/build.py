"""Build real TF2 SavedModels whose signatures are exactly those of an Object Detection API or
TF Model Garden detection export, and whose "network" is a handful of TensorFlow ops that find
saturated red, green and blue squares (:mod:`tests.fakes.detector.spec`).

Run it with TensorFlow installed: ``python -m tests.fakes.detector.build OUT_DIR [NAME ...]``
writes ``OUT_DIR/NAME/1/saved_model.pb`` (a TF Serving base path with version 1) for each of
:data:`MODELS` (or the names given). Signatures (sources in this folder's README.md):

``od_image_tensor``  ``exporter_main_v2.py --input_type image_tensor``: input ``input_tensor``
                     uint8 [1, -1, -1, 3]
``od_encoded``       ``--input_type encoded_image_string_tensor`` (exporter_lib_v2.py since
                     2021): input ``input_tensor`` string [-1], JPEG/PNG/GIF/BMP decoded in
                     the graph
``od_encoded_b1``    the same as exported by the 2020 exporter_lib_v2.py: string [1]

  outputs, all float32: detection_boxes [B,100,4] (normalised ymin, xmin, ymax, xmax),
  detection_classes [B,100] (COCO ids, label_id_offset 1 added; padding rows say 1.0),
  detection_scores [B,100], num_detections [B], detection_multiclass_scores [B,100,91],
  detection_anchor_indices [B,100], raw_detection_boxes [B,64,4], raw_detection_scores [B,64,91]

``mg_image_tensor``  Model Garden ``export_saved_model.py --input_type image_tensor`` (batch
                     size unset): input ``inputs`` uint8 [-1, -1, -1, 3]; outputs
                     detection_boxes float32 [-1,100,4] in PIXELS of the image scaled to fit
                     384x384 (image_info row 1), detection_classes int32, detection_scores
                     float32, num_detections int32 [-1], image_info float32 [-1,4,2]
``mg_image_bytes_normalized``  ``--input_type image_bytes`` with export_config
                     output_normalized_coordinates, cast_num_detections_to_float and
                     cast_detection_classes_to_float: input ``inputs`` string [-1]; boxes
                     normalised, classes and num_detections float32
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.fakes.detector.spec import (
    ANCHOR_GRID,
    COLOURS,
    MAX_DETECTIONS,
    MG_INPUT_SIZE,
    MIN_AREA_PX,
    NOISE,
    NUM_CLASSES,
    ColourName,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf: Any = importlib.import_module("tensorflow")  # no type stubs; imported here only

COLOUR_ORDER: tuple[ColourName, ...] = ("red", "green", "blue")  # channel order of the colour masks
CLASS_IDS = [COLOURS[c].class_id for c in COLOUR_ORDER]
ANCHORS = ANCHOR_GRID * ANCHOR_GRID
WIDTH = NUM_CLASSES + 1  # multiclass columns: background first


def _colour_masks(image: Any) -> Any:
    """uint8 [H, W, 3] -> bool [H, W, 3]: is the pixel saturated red, green, blue."""
    px = tf.cast(image, tf.int32)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    red = (r >= 150) & (r - tf.maximum(g, b) >= 100)
    green = (g >= 130) & (g - tf.maximum(r, b) >= 80)
    blue = (b >= 150) & (b - tf.maximum(r, g) >= 100)
    return tf.stack([red, green, blue], axis=-1)


def _run_max(labels: Any, colour: Any) -> Any:
    """Each pixel's label raised to the largest label of its horizontal run of one colour.
    ``labels``, ``colour``: int32 [H, W]; colour 0 is "no colour" (label 0 there)."""
    on = colour > 0
    left = tf.pad(colour[:, :-1], [[0, 0], [1, 0]])  # 0 left of the first column: a new run
    starts = tf.reshape(tf.cast(on & (left != colour), tf.int32), [-1])
    run = tf.cumsum(starts) * tf.reshape(tf.cast(on, tf.int32), [-1])  # 0 for pixels off
    best = tf.math.unsorted_segment_max(tf.reshape(labels, [-1]), run, tf.reduce_sum(starts) + 1)
    return tf.reshape(tf.gather(best, run), tf.shape(labels))


def _component_labels(colour: Any) -> Any:
    """int32 [H, W] colour numbers (0: none) -> int32 [H, W]: for a coloured pixel, the largest
    pixel number of its 4-connected region of that colour (0 elsewhere). Grown along rows and
    columns in turn until stable: twice for a rectangle, a few times for other shapes."""
    h, w = tf.shape(colour)[0], tf.shape(colour)[1]
    numbers = tf.reshape(tf.range(1, h * w + 1, dtype=tf.int32), [h, w])
    start = tf.where(colour > 0, numbers, 0)
    across = tf.transpose(colour)

    def grow(labels: Any, changed: Any) -> tuple[Any, Any]:
        grown = _run_max(labels, colour)
        grown = tf.transpose(_run_max(tf.transpose(grown), across))
        return grown, tf.reduce_any(grown != labels)

    labels, _ = tf.while_loop(lambda _labels, changed: changed, grow, (start, tf.constant(True)))
    return labels


def _squares(image: Any) -> tuple[Any, Any, Any]:
    """uint8 [H, W, 3] -> (normalised boxes [n, 4], class ids int32 [n], scores [n]), best first
    (ties in reading order of their first pixel)."""
    masks = tf.cast(_colour_masks(image), tf.int32)
    colour_map = tf.reduce_sum(masks * tf.constant([1, 2, 3]), axis=-1)  # 0: none, 1: red ...
    labels = tf.reshape(_component_labels(colour_map), [-1])
    colour = tf.reshape(colour_map, [-1]) - 1
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    index = tf.range(h * w)
    rows, cols = index // w, index % w
    on = labels > 0
    unique, segment = tf.unique(tf.boolean_mask(labels, on))
    n = tf.size(unique)

    def per_region(values: Any, op: Any) -> Any:
        return op(tf.boolean_mask(values, on), segment, n)

    count = per_region(tf.ones_like(labels), tf.math.unsorted_segment_sum)
    top = per_region(rows, tf.math.unsorted_segment_min)
    bottom = per_region(rows, tf.math.unsorted_segment_max) + 1
    left = per_region(cols, tf.math.unsorted_segment_min)
    right = per_region(cols, tf.math.unsorted_segment_max) + 1
    region_colour = per_region(colour, tf.math.unsorted_segment_max)
    keep = count >= MIN_AREA_PX
    fh, fw = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    box_px = tf.cast(tf.stack([top, left, bottom, right], axis=1), tf.float32)
    boxes = tf.boolean_mask(box_px / tf.stack([fh, fw, fh, fw]), keep)
    side = tf.sqrt((box_px[:, 2] - box_px[:, 0]) * (box_px[:, 3] - box_px[:, 1]))
    scores = tf.boolean_mask(0.99 - 0.45 * tf.exp(-side / 50.0), keep)
    classes = tf.gather(tf.constant(CLASS_IDS, tf.int32), tf.boolean_mask(region_colour, keep))
    order = tf.argsort(scores, direction="DESCENDING", stable=True)
    return tf.gather(boxes, order), tf.gather(classes, order), tf.gather(scores, order)


def _pad(values: Any, rows: int) -> Any:
    """The first ``rows`` rows of ``values``, zero-padded to exactly ``rows``."""
    extra = tf.maximum(rows - tf.shape(values)[0], 0)
    padding = tf.concat([[[0, extra]], tf.zeros([tf.rank(values) - 1, 2], tf.int32)], axis=0)
    return tf.pad(values, padding)[:rows]


def _anchor_grid() -> Any:
    """raw_detection_boxes of one image: the cells of an ANCHOR_GRID square grid, row-major."""
    step = 1.0 / ANCHOR_GRID
    cells = [
        [i * step, j * step, (i + 1) * step, (j + 1) * step]
        for i in range(ANCHOR_GRID)
        for j in range(ANCHOR_GRID)
    ]
    return tf.constant(cells, tf.float32)


def detect_od(image: Any) -> dict[str, Any]:
    """One uint8 [H, W, 3] image -> the Object Detection API's eight outputs for it."""
    boxes, classes, scores = _squares(image)
    noise_boxes = tf.constant([n.box for n in NOISE], tf.float32)
    noise_classes = tf.constant([n.class_id for n in NOISE], tf.int32)
    noise_scores = tf.constant([n.score for n in NOISE], tf.float32)
    boxes = _pad(tf.concat([boxes, noise_boxes], 0), MAX_DETECTIONS)
    # The exporter adds label_id_offset 1 to the 0-based class index, padding rows included.
    index0 = _pad(tf.concat([classes, noise_classes], 0) - 1, MAX_DETECTIONS)
    scores = _pad(tf.concat([scores, noise_scores], 0), MAX_DETECTIONS)
    found = tf.minimum(tf.shape(classes)[0] + len(NOISE), MAX_DETECTIONS)
    valid = tf.cast(tf.range(MAX_DETECTIONS) < found, tf.float32)
    class_ids = index0 + 1
    multiclass = (
        tf.one_hot(class_ids, WIDTH) * scores[:, tf.newaxis]
        + tf.one_hot(0, WIDTH) * (1.0 - scores)[:, tf.newaxis]
    ) * valid[:, tf.newaxis]
    centre_y = (boxes[:, 0] + boxes[:, 2]) / 2.0
    centre_x = (boxes[:, 1] + boxes[:, 3]) / 2.0

    def cell(v: Any) -> Any:
        return tf.clip_by_value(tf.floor(v * ANCHOR_GRID), 0.0, ANCHOR_GRID - 1.0)

    anchor = (cell(centre_y) * ANCHOR_GRID + cell(centre_x)) * valid
    # raw_detection_scores: per grid cell, the share of its pixels of each colour.
    share = tf.image.resize(tf.cast(_colour_masks(image), tf.float32), [ANCHOR_GRID] * 2, "area")
    share = tf.reshape(share, [ANCHORS, 3])
    to_columns = tf.one_hot(CLASS_IDS, WIDTH)  # [3, WIDTH]
    raw_scores = tf.matmul(share, to_columns) + tf.one_hot(0, WIDTH) * (
        1.0 - tf.reduce_sum(share, axis=1, keepdims=True)
    )
    return {
        "detection_boxes": boxes,
        "detection_classes": tf.cast(class_ids, tf.float32),
        "detection_scores": scores,
        "num_detections": tf.cast(found, tf.float32),
        "detection_multiclass_scores": multiclass,
        "detection_anchor_indices": anchor,
        "raw_detection_boxes": _anchor_grid(),
        "raw_detection_scores": raw_scores,
    }


OD_SPECS = {
    "detection_boxes": ([MAX_DETECTIONS, 4], tf.float32),
    "detection_classes": ([MAX_DETECTIONS], tf.float32),
    "detection_scores": ([MAX_DETECTIONS], tf.float32),
    "num_detections": ([], tf.float32),
    "detection_multiclass_scores": ([MAX_DETECTIONS, WIDTH], tf.float32),
    "detection_anchor_indices": ([MAX_DETECTIONS], tf.float32),
    "raw_detection_boxes": ([ANCHORS, 4], tf.float32),
    "raw_detection_scores": ([ANCHORS, WIDTH], tf.float32),
}


def detect_mg(image: Any, *, normalized: bool) -> dict[str, Any]:
    """One uint8 [H, W, 3] image -> Model Garden's five detection outputs for it."""
    od = detect_od(image)
    size = tf.cast(tf.shape(image)[:2], tf.float32)
    # preprocess_ops.resize_and_crop_image with keep_aspect_ratio: the picture is scaled to fit
    # the input size and padded at the bottom and right; image_info's second row is the input
    # size, the third the scale, and boxes are pixels of that canvas (clipped to it).
    desired = tf.constant([MG_INPUT_SIZE, MG_INPUT_SIZE], tf.float32)
    scaled = tf.round(size * tf.reduce_min(desired / size))
    image_info = tf.stack([size, desired, scaled / size, tf.zeros([2])])
    boxes = od["detection_boxes"]
    if not normalized:
        boxes = boxes * tf.tile(scaled, [2])
    class_ids = tf.cast(od["detection_classes"], tf.int32)
    count = tf.cast(od["num_detections"], tf.int32)
    return {
        "detection_boxes": boxes,
        "detection_scores": od["detection_scores"],
        "detection_classes": tf.cast(class_ids, tf.float32) if normalized else class_ids,
        "num_detections": tf.cast(count, tf.float32) if normalized else count,
        "image_info": image_info,
    }


def _mg_specs(normalized: bool) -> dict[str, tuple[list[int], Any]]:
    number = tf.float32 if normalized else tf.int32
    return {
        "detection_boxes": ([MAX_DETECTIONS, 4], tf.float32),
        "detection_scores": ([MAX_DETECTIONS], tf.float32),
        "detection_classes": ([MAX_DETECTIONS], number),
        "num_detections": ([], number),
        "image_info": ([4, 2], tf.float32),
    }


def _decode(encoded: Any) -> Any:
    """exporter_lib_v2._decode_image: decode_image with 3 channels, shape set to (H, W, 3)."""
    image = tf.image.decode_image(encoded, channels=3)
    image.set_shape((None, None, 3))
    return image


def _batched(
    per_image: Callable[[Any], dict[str, Any]],
    specs: dict[str, tuple[list[int], Any]],
    inputs: Any,
    decode: bool,
) -> dict[str, Any]:
    names = list(specs)
    signature = tuple(tf.TensorSpec(shape, dtype) for shape, dtype in specs.values())

    def one(item: Any) -> tuple[Any, ...]:
        found = per_image(_decode(item) if decode else item)
        return tuple(found[name] for name in names)

    outputs = tf.map_fn(one, inputs, fn_output_signature=signature, parallel_iterations=1)
    return dict(zip(names, outputs, strict=True))


def _gained(outputs: dict[str, Any], gain: Any) -> dict[str, Any]:
    """The scores times ``gain``, a variable of 1.0: the SavedModel has a variable to restore
    and its signature calls a StatefulPartitionedCall, as a real export's does."""
    return {**outputs, "detection_scores": outputs["detection_scores"] * gain}


def _od_image_tensor(gain: Any) -> Any:
    def serve(input_tensor: Any) -> dict[str, Any]:
        return _gained(_batched(detect_od, OD_SPECS, input_tensor, decode=False), gain)

    spec = tf.TensorSpec([1, None, None, 3], tf.uint8, name="input_tensor")
    return tf.function(serve, input_signature=[spec])


def _od_encoded(gain: Any, batch: int | None) -> Any:
    def serve(input_tensor: Any) -> dict[str, Any]:
        return _gained(_batched(detect_od, OD_SPECS, input_tensor, decode=True), gain)

    return tf.function(serve, input_signature=[tf.TensorSpec([batch], tf.string)])


def _mg(gain: Any, *, image_bytes: bool, normalized: bool) -> Any:
    def per_image(image: Any) -> dict[str, Any]:
        return detect_mg(image, normalized=normalized)

    def serve(inputs: Any) -> dict[str, Any]:
        found = _batched(per_image, _mg_specs(normalized), inputs, decode=image_bytes)
        return _gained(found, gain)

    if image_bytes:
        spec = tf.TensorSpec([None], tf.string)
    else:
        spec = tf.TensorSpec([None, None, None, 3], tf.uint8)
    return tf.function(serve, input_signature=[spec])


MODELS: dict[str, Callable[[Any], Any]] = {
    "od_image_tensor": _od_image_tensor,
    "od_encoded": lambda gain: _od_encoded(gain, None),
    "od_encoded_b1": lambda gain: _od_encoded(gain, 1),
    "mg_image_tensor": lambda gain: _mg(gain, image_bytes=False, normalized=False),
    "mg_image_bytes_normalized": lambda gain: _mg(gain, image_bytes=True, normalized=True),
}


def save(name: str, base_path: str) -> str:
    """Write model ``name`` as version 1 under ``base_path``; returns the version folder."""
    module = tf.Module()
    module.gain = tf.Variable(1.0, name="score_gain")
    function = MODELS[name](module.gain)
    module.serve = function
    path = os.path.join(base_path, "1")
    if os.path.isdir(path):
        shutil.rmtree(path)
    tf.saved_model.save(
        module, path, signatures={"serving_default": function.get_concrete_function()}
    )
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(f"usage: python -m tests.fakes.detector.build OUT_DIR [{' '.join(MODELS)}]")
        return 2
    out, names = args[0], args[1:] or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        print(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
        return 2
    for name in names:
        started = time.perf_counter()
        path = save(name, os.path.join(out, name))
        print(f"built {path} in {time.perf_counter() - started:.2f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
