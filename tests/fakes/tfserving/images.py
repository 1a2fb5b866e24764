"""The fake's deterministic "model": image <-> class scheme and tensor -> image decoding.

Image <-> class scheme (the ground truth for the bot's tests)
------------------------------------------------------------
The winning class is a function of the image's **mean colour**.  Each of the mean R, G, B
values (0..255) is quantised into 10 bins of width 25.6 (bin ``k`` covers
``[25.6*k, 25.6*(k+1))``); the three bin numbers form ``code = 100*bin_r + 10*bin_g + bin_b``
in ``0..999``.  The class is

* ``code + 1`` for models with ``num_classes >= 1001`` (index 0 = ImageNet "background" is
  never produced; classes ``1..1000`` are reachable),
* ``code`` for ``num_classes == 1000``, ``code % num_classes`` for smaller models.

:func:`image_for_class` builds an RGB image whose mean colour sits in the *centre* of the
class's bin (12.8 levels of margin per channel) with zero-mean texture on top: uniform noise on
a 1/4-resolution grid, bilinearly upscaled (blotchy colour texture, up to +-40 levels for
mid-range channels, shrinking towards 0/255 so that no pixel is ever clipped), plus per-pixel
luminance grain.  The texture field depends only on ``(size, seed)``; the class only selects
the colour.  Because nothing clips and the texture averages out, JPEG re-encoding, resizing
(any filter, incl. DCT-domain ``draft``), squashing to 224x224, centre crops and colour-space
round trips move the mean by < 1 level (measured max 0.62 over all 1000 classes after
JPEG q85 -> 320 px -> JPEG q85), so the class survives.  A client that sends the wrong value
range / channel order to a tensor model shifts the mean colour and gets a *different* class
(pick classes whose R and B bins differ, e.g. 258 = bins (2, 5, 7), to catch BGR/RGB mix-ups).

Tensor models: the server undoes the preprocessing named by ``ModelSpec.tensor_range`` to get
back a 0..255 RGB image before classifying:

* ``"0_1"``: ``x / 255``, ``"-1_1"``: ``x / 127.5 - 1``, ``"0_255"``: raw values,
* ``"caffe"``: BGR order minus ``[103.939, 116.779, 123.68]``,
* ``"rgb_mean"``: RGB minus ``[123.68, 116.78, 103.94]`` (r1 ResNet non-JPG exports),
* ``"torch"``: ``(x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]``.

``uint8`` models always take raw 0..255 values (``tensor_range`` is ignored).
"""

from __future__ import annotations

import functools
import io
import random
import struct
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageChops, ImageStat, UnidentifiedImageError

from tests.fakes.tfserving.errors import _invalid
from tests.fakes.tfserving.spec import ModelSpec

# --------------------------------------------------------------------------------------------
# Image <-> class scheme
# --------------------------------------------------------------------------------------------

_BINS = 10
_BIN_WIDTH = 256.0 / _BINS
_COARSE_AMPLITUDE = 40
_GRAIN_AMPLITUDE = 3


def _bin_of(mean: float) -> int:
    if not mean > 0.0:
        return 0
    return min(_BINS - 1, int(mean / _BIN_WIDTH))


def class_from_mean(mean_rgb: Sequence[float], num_classes: int) -> int:
    """Class chosen by the default classifier for a given mean (R, G, B) colour."""
    code = _bin_of(mean_rgb[0]) * 100 + _bin_of(mean_rgb[1]) * 10 + _bin_of(mean_rgb[2])
    if num_classes >= 1001:
        return code + 1
    return code % num_classes


def default_classify(image: Image.Image, num_classes: int) -> int:
    """Default "model": bins the image's mean colour (see module docstring)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return class_from_mean(ImageStat.Stat(rgb).mean, num_classes)


def _code_for_class(num_classes: int, class_id: int) -> int:
    if num_classes >= 1001:
        if not 1 <= class_id <= 1000:
            raise ValueError(f"class_id must be in 1..1000 for a {num_classes}-class model")
        return class_id - 1
    if not 0 <= class_id < min(num_classes, 1000):
        raise ValueError(f"class_id must be in 0..{min(num_classes, 1000) - 1}")
    return class_id


def _symmetric_lut(centre: int, amplitude: int) -> list[int]:
    # v and 255 - v map to opposite offsets -> zero-mean for uniformly distributed bytes.
    return [centre + round((v - 127.5) * amplitude / 127.5) for v in range(256)]


@functools.lru_cache(maxsize=8)
def _noise_field(width: int, height: int, seed: int) -> Image.Image:
    """Class-independent zero-mean texture centred on 128 (cached per size/seed).

    Uniform noise on a 1/4-resolution grid (+-_COARSE_AMPLITUDE), bilinearly upscaled, plus
    per-pixel luminance grain (+-_GRAIN_AMPLITUDE).  Every mapping is symmetric around 128, so
    the texture averages out.
    """
    rng = random.Random(f"tfserving-fake:{seed}:{width}x{height}")
    sw, sh = max(1, (width + 3) // 4), max(1, (height + 3) // 4)
    coarse = Image.frombytes("RGB", (sw, sh), rng.randbytes(sw * sh * 3))
    coarse = coarse.point(_symmetric_lut(128, _COARSE_AMPLITUDE) * 3)
    coarse = coarse.resize((width, height), Image.Resampling.BILINEAR)
    grain = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    grain = grain.point(_symmetric_lut(_GRAIN_AMPLITUDE, _GRAIN_AMPLITUDE))
    grain_rgb = Image.merge("RGB", (grain, grain, grain))
    return ImageChops.add(coarse, grain_rgb, 1.0, -_GRAIN_AMPLITUDE)


def _channel_lut(centre: int) -> list[int]:
    # Texture amplitude shrinks near 0/255 so that no pixel is ever clipped (clipping would
    # bias the mean); always keeps >= ~10 levels of head-room for JPEG ringing.
    amplitude = max(2, min(_COARSE_AMPLITUDE, centre - 12, 243 - centre))
    scale = amplitude / (_COARSE_AMPLITUDE + _GRAIN_AMPLITUDE)
    return [min(255, max(0, centre + round((v - 128) * scale))) for v in range(256)]


def image_for_class(
    spec_num_classes: int,
    class_id: int,
    size: tuple[int, int] = (640, 480),
    *,
    seed: int = 0,
) -> Image.Image:
    """A textured RGB image that :func:`default_classify` maps to exactly ``class_id``.

    ``spec_num_classes`` is the model's ``num_classes`` (1001 -> ids 1..1000, 1000 -> 0..999,
    N < 1000 -> 0..N-1).  ``seed`` selects the texture (the same seed gives the same texture
    in every class; only the colour differs).  Deterministic; returns a new image each call.
    """
    code = _code_for_class(spec_num_classes, class_id)
    width, height = size
    if width < 1 or height < 1:
        raise ValueError("size must be positive")
    lut: list[int] = []
    for digit in (code // 100, (code // 10) % 10, code % 10):
        lut.extend(_channel_lut(round(_BIN_WIDTH * (digit + 0.5))))
    return _noise_field(width, height, seed).point(lut)


def jpeg_bytes(image: Image.Image, quality: int = 85) -> bytes:
    """Encode ``image`` as a baseline RGB JPEG."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Tensor -> image
# --------------------------------------------------------------------------------------------

_RANGE_AFFINE: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    # tensor channel c -> 0..255 value = v * scale[c] + offset[c]
    "0_1": ((255.0, 255.0, 255.0), (0.0, 0.0, 0.0)),
    "-1_1": ((127.5, 127.5, 127.5), (127.5, 127.5, 127.5)),
    "0_255": ((1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
    "caffe": ((1.0, 1.0, 1.0), (103.939, 116.779, 123.68)),  # tensor is BGR
    "rgb_mean": ((1.0, 1.0, 1.0), (123.68, 116.78, 103.94)),
    "torch": (
        (0.229 * 255.0, 0.224 * 255.0, 0.225 * 255.0),
        (0.485 * 255.0, 0.456 * 255.0, 0.406 * 255.0),
    ),
}


def _tensor_to_image(
    values: Sequence[Any], height: int, width: int, spec: ModelSpec
) -> Image.Image:
    out = bytearray(height * width * 3)
    if spec.input_kind == "uint8":
        for c in range(3):
            out[c::3] = bytes(int(v) & 0xFF for v in values[c::3])
    else:
        scales, offsets = _RANGE_AFFINE[spec.tensor_range]
        bgr = spec.tensor_range == "caffe"
        for c in range(3):
            a, b = scales[c], offsets[c]
            channel = bytes(
                0 if not (x := v * a + b) > 0.0 else 255 if x >= 254.5 else int(x + 0.5)
                for v in values[c::3]
            )
            out[(2 - c if bgr else c) :: 3] = channel
    return Image.frombytes("RGB", (width, height), bytes(out))


_ALLOWED_FORMATS = {"JPEG", "PNG", "GIF", "BMP", "WEBP", "JXL"}
_UNKNOWN_FORMAT = "Unknown image file format. One of JPEG, JPEG XL, PNG, GIF, BMP, WebP required."


def _decode_image(data: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise _invalid(_UNKNOWN_FORMAT) from None
    if img.format not in _ALLOWED_FORMATS:
        raise _invalid(_UNKNOWN_FORMAT)
    try:
        img.load()
    except (OSError, ValueError, SyntaxError, struct.error):
        if img.format == "JPEG":
            raise _invalid("jpeg::Uncompress failed. Invalid JPEG data or crop window.") from None
        raise _invalid(f"Invalid {img.format} data") from None
    return img
