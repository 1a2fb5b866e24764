"""Test pictures for the coloured-square detectors: a photo-like background with saturated
squares, and what a detector should find in it (numpy + Pillow only, no TensorFlow)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from tests.fakes.detector.spec import COLOURS, ColourName, score_for_side

SquareSpec = tuple[ColourName, int, int, int]  # colour, centre x, centre y, side (pixels)


@dataclass(frozen=True)
class ExpectedSquare:
    """One square painted on a picture, as a detector should report it."""

    colour: ColourName
    class_id: int
    box_px: tuple[int, int, int, int]  # top, left, bottom, right; bottom/right exclusive
    box: tuple[float, float, float, float]  # normalised ymin, xmin, ymax, xmax
    score: float  # what the detector answers, within about 0.01 (JPEG moves edges by a pixel)


@dataclass(frozen=True)
class SquaresPhoto:
    """An encoded picture and the squares on it, biggest (best scored) first."""

    data: bytes
    width: int
    height: int
    expected: tuple[ExpectedSquare, ...]

    def image(self) -> Image.Image:
        """The picture decoded again (RGB)."""
        return Image.open(io.BytesIO(self.data)).convert("RGB")


def _background(width: int, height: int, seed: int) -> np.ndarray:
    """A soft grey-beige gradient with a little noise: nothing on it is a saturated colour."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 170.0 + 40.0 * (xs / max(width - 1, 1)) + 20.0 * (ys / max(height - 1, 1))
    tint = np.stack([base + 8.0, base + 4.0, base - 6.0], axis=-1)
    noise = np.random.default_rng(seed).normal(0.0, 3.0, size=tint.shape)
    return np.clip(tint + noise, 0, 255).astype(np.uint8)


def squares_photo(
    width: int,
    height: int,
    squares: Sequence[SquareSpec],
    *,
    image_format: Literal["JPEG", "PNG"] = "JPEG",
    quality: int = 92,
    seed: int = 7,
) -> SquaresPhoto:
    """A ``width`` x ``height`` picture with ``squares`` painted on it, e.g.
    ``squares_photo(640, 480, [("red", 160, 120, 80), ("red", 480, 120, 60),
    ("blue", 320, 360, 100)])``. Squares must lie inside the picture and must not touch one
    another (touching squares of one colour are one object)."""
    pixels = _background(width, height, seed)
    expected = []
    taken = np.zeros((height, width), dtype=bool)
    for colour_name, cx, cy, side in squares:
        colour = COLOURS[colour_name]
        left, top = round(cx - side / 2), round(cy - side / 2)
        right, bottom = left + side, top + side
        if side < 6 or left < 0 or top < 0 or right > width or bottom > height:
            raise ValueError(f"square {colour_name} at ({cx}, {cy}) side {side}: outside")
        near = taken[max(top - 2, 0) : bottom + 2, max(left - 2, 0) : right + 2]
        if near.any():
            raise ValueError(f"square {colour_name} at ({cx}, {cy}): touches another square")
        taken[top:bottom, left:right] = True
        pixels[top:bottom, left:right] = colour.rgb
        box = (top / height, left / width, bottom / height, right / width)
        expected.append(
            ExpectedSquare(
                colour_name, colour.class_id, (top, left, bottom, right), box, score_for_side(side)
            )
        )
    buf = io.BytesIO()
    if image_format == "JPEG":
        Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    else:
        Image.fromarray(pixels).save(buf, format="PNG")
    expected.sort(key=lambda e: (-e.score, e.box_px[0], e.box_px[1]))
    return SquaresPhoto(buf.getvalue(), width, height, tuple(expected))
