"""A detector's picture: bytes sent per input kind, and the bot's own time per picture.

For a 12 MP phone photo (``bench.photos.LARGE``: 4032×3024, EXIF orientation 6), in one thread
pinned to one core:

- bytes of the predict body for the Object Detection API's two exporter inputs, through the
  real ``PhotoPreparer`` (``[detect] max_side_px``, 640) and ``TFServingClient.encode``:
  ``image_tensor`` (uint8 ``[1, -1, -1, 3]``, a JSON array of pixels) and
  ``encoded_image_string_tensor`` (the shrunk JPEG as ``{"b64": …}``);
- the bot's time outside the model, text only: prepare + encode + decoding a realistic answer
  (an SSD MobileNet's: 100 detections plus ``raw_detection_boxes`` [1917, 4] and
  ``raw_detection_scores`` [1917, 91], which TF Serving's REST answer always carries) + reading
  and counting the detections + the reply text;
- the same with the drawn picture (``BoxDrawer``: decode again at reduced scale, shrink to
  1280 px, draw, JPEG): what drawing adds, against the issue's target of ≤ 40 ms p50.
"""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

import numpy as np
import requests

from bench.common import Row, Section, kb, one_core, summary_ms, time_calls
from bench.photos import LARGE, photo_jpeg
from bot.adapters.imaging import PhotoPreparer
from bot.adapters.imaging.drawing import PhotoSight, find_font
from bot.adapters.tfserving import TFServingClient
from bot.core.detection import read_detections
from bot.core.detector import Sighting, count, detection_answer
from bot.core.pipeline import LabelTable
from bot.core.serving import DetectorOutputs, InputSpec, ModelInfo
from bot.core.settings import DetectConfig, ImagesConfig, ReplyConfig, ServingConfig

TENSOR = InputSpec("tensor", "input_tensor", "uint8", None, None)
ENCODED = InputSpec("jpeg", "input_tensor", "string")
OUTPUTS = DetectorOutputs(
    "detection_boxes",
    "detection_classes",
    "detection_scores",
    "num_detections",
    "od_api",
    "normalized",
    100,
)
LABELS = LabelTable(
    ("人", "自行车", "汽车", "狗"),
    "bench",
    "class_ZH",
    ids=(1, 2, 3, 18),
    measures=("个", "辆", "辆", "只"),
)
TARGET_DRAW_MS = 40.0


def ssd_answer(seed: int = 0) -> bytes:
    """A TF Serving row answer as an SSD MobileNet v2 export sends it (100 detections, 4 of
    them real, and the raw outputs over 1917 anchors and 91 classes)."""
    rng = np.random.default_rng(seed)
    boxes = np.zeros((100, 4))
    boxes[:4] = [
        [0.1, 0.1, 0.5, 0.4],
        [0.2, 0.5, 0.8, 0.7],
        [0.6, 0.1, 0.9, 0.3],
        [0.0, 0.6, 0.3, 1],
    ]
    scores = np.zeros(100)
    scores[:4] = [0.97, 0.91, 0.88, 0.4]
    classes = np.ones(100)
    classes[:4] = [18, 18, 1, 3]
    row = {
        "detection_boxes": boxes.round(6).tolist(),
        "detection_scores": scores.tolist(),
        "detection_classes": classes.tolist(),
        "num_detections": 4.0,
        "detection_anchor_indices": rng.integers(0, 1917, 100).astype(float).tolist(),
        "detection_multiclass_scores": rng.random((100, 91)).round(6).tolist(),
        "raw_detection_boxes": rng.random((1917, 4)).round(6).tolist(),
        "raw_detection_scores": rng.random((1917, 91)).round(6).tolist(),
    }
    return json.dumps({"predictions": [row]}).encode()


def _client(spec: InputSpec) -> TFServingClient:
    """A real client whose model was read already (its discovery is the adapter tests')."""
    client = TFServingClient(
        ServingConfig(model="ssd"), session=requests.Session(), sleep=time.sleep
    )
    client._info = ModelInfo("ssd", "1", ("1",), spec, None, None, detector=OUTPUTS)
    return client


def bot_time(
    client: TFServingClient, sight: PhotoSight, answer: bytes, data: bytes, drawing: bool
) -> Any:
    """Everything the bot does for one picture but the model's own work."""
    look = sight(data, drawing=drawing)
    payload = look.payload
    client.encode(payload)
    row = json.loads(answer)["predictions"][0]
    found = read_detections(row, OUTPUTS, size=(payload.width, payload.height), where="bench")
    findings = count(found, LABELS, DetectConfig(), offset=0)
    picture = look.draw(findings.boxes) if drawing else None
    seen = Sighting(findings, found, "ssd", "1", 0, 0.0, picture)
    return detection_answer(seen, sender="小明", rules=ReplyConfig())


def run(*, quick: bool) -> Section:
    runs = 8 if quick else 30
    data = photo_jpeg(LARGE, 0)
    answer = ssd_answer()
    images, detect = ImagesConfig(), DetectConfig()
    font = find_font(None)
    tensor = PhotoSight(
        lambda: PhotoPreparer(TENSOR, images, detect.max_side_px), detect, images, font
    )
    encoded = PhotoSight(
        lambda: PhotoPreparer(ENCODED, images, detect.max_side_px), detect, images, font
    )
    tensor_client, encoded_client = _client(TENSOR), _client(ENCODED)
    with one_core() as cpu:
        tensor_bytes = len(tensor_client.encode(tensor(data, drawing=False).payload))
        encoded_bytes = len(encoded_client.encode(encoded(data, drawing=False).payload))
        text_tensor = summary_ms(
            time_calls(partial(bot_time, tensor_client, tensor, answer, data, False), runs)
        )
        text_only = summary_ms(
            time_calls(partial(bot_time, encoded_client, encoded, answer, data, False), runs)
        )
        drawn = summary_ms(
            time_calls(partial(bot_time, encoded_client, encoded, answer, data, True), runs)
        )
    added = drawn["median_ms"] - text_only["median_ms"]
    sec = "detect 12 MP"
    rows = [
        Row(sec, "photo (4032×3024 JPEG q92, EXIF orientation 6)", kb(len(data))),
        Row(
            sec,
            f"body sent, image_tensor (uint8 JSON, {detect.max_side_px} px longer side)",
            kb(tensor_bytes),
            value=float(tensor_bytes),
        ),
        Row(
            sec,
            "body sent, encoded_image_string_tensor (JPEG q95 as b64)",
            f"{kb(encoded_bytes)} ({tensor_bytes / encoded_bytes:.0f}× fewer)",
            value=float(encoded_bytes),
        ),
        Row(
            sec,
            "answer read (SSD: 100 detections + raw outputs, TF Serving REST)",
            kb(len(answer)),
            value=float(len(answer)),
        ),
        Row(
            sec,
            "bot per picture, text only, image_tensor (median / p95)",
            f"{text_tensor['median_ms']:.0f} / {text_tensor['p95_ms']:.0f} ms",
            value=text_tensor["median_ms"],
        ),
        Row(
            sec,
            "bot per picture, text only, encoded string (median / p95)",
            f"{text_only['median_ms']:.0f} / {text_only['p95_ms']:.0f} ms",
            value=text_only["median_ms"],
        ),
        Row(
            sec,
            "bot per picture, text + drawn picture (median / p95)",
            f"{drawn['median_ms']:.0f} / {drawn['p95_ms']:.0f} ms",
            value=drawn["median_ms"],
        ),
        Row(
            sec,
            "  drawing adds (median)",
            f"{added:.0f} ms",
            f"≤ {TARGET_DRAW_MS:.0f} ms",
            added <= TARGET_DRAW_MS,
            added,
        ),
    ]
    detail = {
        "cpu": cpu,
        "runs": runs,
        "photo_bytes": len(data),
        "tensor_body_bytes": tensor_bytes,
        "encoded_body_bytes": encoded_bytes,
        "answer_bytes": len(answer),
        "text_only_tensor": text_tensor,
        "text_only_encoded": text_only,
        "with_drawing": drawn,
        "font": str(font),
    }
    return Section("detect", rows, detail)
