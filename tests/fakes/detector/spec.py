"""What the coloured-square detectors find, in plain numbers shared by the TF builder
(:mod:`tests.fakes.detector.build`) and the picture maker (:mod:`tests.fakes.detector.photos`).

A saturated square of one of :data:`COLOURS` is one object of that colour's COCO class. Its box
is the exact extent of the colour's pixels (a connected region), and its score grows with its
size: :func:`score_for_side`. Every answer also carries the :data:`NOISE` detections (scores
below 0.5, so a client's threshold decides whether they count), then zeros up to
:data:`MAX_DETECTIONS`, as the Object Detection API's exporter pads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

PERSON, CAR, DOG = 1, 3, 18  # COCO category ids (the OD API's mscoco_label_map.pbtxt)
NUM_CLASSES = 90  # COCO ids 1..90 with gaps; multiclass scores have one more column (background)
MAX_DETECTIONS = 100  # max_total_detections of the model zoo's TF2 configs
ANCHOR_GRID = 8  # raw_detection_*: one "anchor" per cell of an 8x8 grid (SSD has 1917)
MIN_AREA_PX = 36  # a region of fewer pixels of a colour is not an object
MG_INPUT_SIZE = 384  # Model Garden variants: the image is scaled to fit 384x384 (aspect kept)

ColourName = Literal["red", "green", "blue"]


@dataclass(frozen=True)
class Colour:
    """A square colour: what the pictures paint and which class the detector says."""

    name: ColourName
    rgb: tuple[int, int, int]
    class_id: int
    class_name: str


COLOURS: dict[ColourName, Colour] = {
    "red": Colour("red", (230, 25, 25), DOG, "dog"),
    "green": Colour("green", (25, 190, 45), CAR, "car"),
    "blue": Colour("blue", (25, 45, 230), PERSON, "person"),
}


@dataclass(frozen=True)
class Noise:
    """A detection every answer carries whatever the picture shows."""

    class_id: int
    score: float
    box: tuple[float, float, float, float]  # normalised ymin, xmin, ymax, xmax


NOISE = (
    Noise(PERSON, 0.31, (0.05, 0.05, 0.95, 0.95)),
    Noise(CAR, 0.12, (0.5, 0.0, 1.0, 0.5)),
)


def score_for_side(side_px: float) -> float:
    """The score of a square of ``side_px`` pixels (the square root of its box's area):
    0.69 at 20 px, 0.79 at 40, 0.90 at 80, 0.95 at 120; always above 0.55."""
    return 0.99 - 0.45 * math.exp(-side_px / 50.0)
