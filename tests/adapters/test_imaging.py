"""Imaging: every picture becomes a small upright RGB JPEG, or a clear ImageError."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from bot.adapters.imaging import PhotoPreparer, load_upright_rgb
from bot.core.serving import DType, InputSpec, JpegPayload, TensorPayload
from bot.core.settings import ImagesConfig
from bot.errors import ImageError
from tests import gallery

JPEG_SPEC = InputSpec("jpeg", "image_bytes", "string")
LIMITS = ImagesConfig()


def prepare(data: bytes, spec: InputSpec = JPEG_SPEC, limits: ImagesConfig = LIMITS) -> Image.Image:
    payload = PhotoPreparer(spec, limits)(data)
    assert isinstance(payload, JpegPayload)
    img = Image.open(io.BytesIO(payload.data))
    assert img.format == "JPEG"
    assert img.size == (payload.width, payload.height)
    return img


def test_twelve_megapixel_photo_is_sent_as_a_small_jpeg_with_short_side_320() -> None:
    data = gallery.tiled_photo_jpeg(4032, 3024)
    assert len(data) > 4_000_000  # as large as a phone's 12 MP JPEG
    payload = PhotoPreparer(JPEG_SPEC, LIMITS)(data)
    assert isinstance(payload, JpegPayload)
    assert (payload.width, payload.height) == (427, 320)
    assert len(payload.data) < len(data) / 20


def test_small_picture_is_never_upscaled() -> None:
    img = prepare(gallery.photo_jpeg(200, 150))
    assert img.size == (200, 150)


def test_short_side_is_configurable() -> None:
    img = prepare(gallery.photo_jpeg(1440, 1080), limits=ImagesConfig(short_side_px=256))
    assert img.size == (341, 256)


def test_exif_orientation_is_applied_so_the_picture_is_upright() -> None:
    # Left half red, right half blue; orientation 6 means "rotate 90° clockwise to view".
    arr = np.zeros((300, 400, 3), dtype=np.uint8)
    arr[:, :200] = (220, 20, 20)
    arr[:, 200:] = (20, 20, 220)
    img = prepare(gallery.with_orientation(Image.fromarray(arr), 6))
    assert img.size == (300, 400)
    top, bottom = np.asarray(img)[20, 150], np.asarray(img)[380, 150]
    assert top[0] > 150 and top[2] < 80  # red now on top
    assert bottom[2] > 150 and bottom[0] < 80


W, H = 64, 48
# Four quadrants of different colours (top-left, top-right, bottom-left, bottom-right): a wrong
# colour, a swapped channel, a turn or a mirror all show.
QUAD_RGB = np.array([(220, 30, 30), (30, 200, 40), (20, 40, 210), (240, 220, 20)], np.uint8)


def quadrants(values: np.ndarray, w: int = W, h: int = H) -> np.ndarray:
    """An (h, w, ...) array whose quadrants hold values[0..3]."""
    out = np.empty((h, w, *values.shape[1:]), values.dtype)
    out[: h // 2, : w // 2], out[: h // 2, w // 2 :] = values[0], values[1]
    out[h // 2 :, : w // 2], out[h // 2 :, w // 2 :] = values[2], values[3]
    return out


def cmyk_jpeg() -> tuple[bytes, np.ndarray]:
    cmyk = np.concatenate([255 - QUAD_RGB, np.zeros((4, 1), np.uint8)], axis=1)  # K = 0
    img = Image.frombytes("CMYK", (W, H), quadrants(cmyk).tobytes())
    return gallery.jpeg(img, quality=95), quadrants(QUAD_RGB)


def palette_png_with_alpha() -> tuple[bytes, np.ndarray]:
    img = Image.fromarray(quadrants(np.arange(4, dtype=np.uint8)), "L").convert("P")
    img.putpalette(QUAD_RGB.flatten().tolist())
    expected = quadrants(QUAD_RGB)
    expected[: H // 2, : W // 2] = 255  # index 0 is transparent: white
    return gallery.encode(img, "PNG", transparency=0), expected


def rgba_png() -> tuple[bytes, np.ndarray]:
    alpha = np.array([255, 128, 0, 64], np.uint8)
    rgba = np.concatenate([QUAD_RGB, alpha[:, None]], axis=1)
    a = alpha[:, None].astype(float) / 255
    over_white = np.rint(QUAD_RGB * a + 255 * (1 - a)).astype(np.uint8)
    return gallery.encode(Image.fromarray(quadrants(rgba), "RGBA"), "PNG"), quadrants(over_white)


def grey_png() -> tuple[bytes, np.ndarray]:
    levels = np.array([0, 90, 180, 255], np.uint8)
    grey = quadrants(np.repeat(levels[:, None], 3, axis=1))
    return gallery.encode(Image.fromarray(quadrants(levels), "L"), "PNG"), grey


def sixteen_bit_png() -> tuple[bytes, np.ndarray]:
    levels = np.array([0, 10_000, 40_000, 65_535], np.uint16)
    eight = np.rint(levels.astype(float) * 255 / 65_535).astype(np.uint8)
    img = Image.fromarray(quadrants(levels))
    assert img.mode.startswith("I;16")
    return gallery.encode(img, "PNG"), quadrants(np.repeat(eight[:, None], 3, axis=1))


def rgb_as(fmt: str) -> Callable[[], tuple[bytes, np.ndarray]]:
    def make() -> tuple[bytes, np.ndarray]:
        return gallery.encode(Image.fromarray(quadrants(QUAD_RGB)), fmt), quadrants(QUAD_RGB)

    return make


def animated_gif(frames: int = 100) -> tuple[bytes, np.ndarray]:
    def frame(shift: int) -> Image.Image:
        img = Image.fromarray(quadrants((np.arange(4, dtype=np.uint8) + shift) % 4), "L")
        img = img.convert("P")
        img.putpalette(QUAD_RGB.flatten().tolist())
        return img

    first, *rest = [frame(i) for i in range(frames)]
    data = gallery.encode(first, "GIF", save_all=True, append_images=rest, duration=40)
    return data, quadrants(QUAD_RGB)


def exif_rotated(orientation: int, turns_clockwise: int) -> Callable[[], tuple[bytes, np.ndarray]]:
    def make() -> tuple[bytes, np.ndarray]:
        stored = quadrants(QUAD_RGB)
        upright = np.rot90(stored, k=-turns_clockwise)
        data = gallery.with_orientation(Image.fromarray(stored), orientation)
        return data, np.ascontiguousarray(upright)

    return make


@pytest.mark.parametrize(
    "make",
    [
        cmyk_jpeg,
        palette_png_with_alpha,
        rgba_png,
        grey_png,
        sixteen_bit_png,
        rgb_as("WEBP"),
        rgb_as("BMP"),
        animated_gif,
        exif_rotated(6, 1),
        exif_rotated(3, 2),
        exif_rotated(8, 3),
    ],
    ids=[
        "cmyk jpeg",
        "palette png with alpha",
        "rgba png",
        "grey png",
        "sixteen bit png",
        "webp",
        "bmp",
        "animated gif",
        "exif orientation 6",
        "exif orientation 3",
        "exif orientation 8",
    ],
)
def test_awkward_formats_become_rgb_jpeg_with_the_pixels_of_the_picture(
    make: Callable[[], tuple[bytes, np.ndarray]],
) -> None:
    data, expected = make()
    img = prepare(data)
    assert img.mode == "RGB"
    got = np.asarray(img).astype(int)
    assert got.shape == expected.shape
    h, w = expected.shape[:2]
    centres = [
        (h // 4, w // 4),
        (h // 4, 3 * w // 4),
        (3 * h // 4, w // 4),
        (3 * h // 4, 3 * w // 4),
    ]
    for y, x in centres:  # each quadrant's colour, within JPEG's error
        assert tuple(got[y, x]) == pytest.approx(tuple(expected[y, x].astype(int)), abs=10), (y, x)
    assert np.abs(got - expected).mean() < 6  # and the picture as a whole


def test_sixteen_bit_grey_keeps_its_brightness_instead_of_turning_white() -> None:
    img = prepare(gallery.sixteen_bit_png(level=40_000))
    right = np.asarray(img)[75, 190]
    assert 140 < int(right[0]) < 170  # 40000/65535*255 ≈ 156


def test_animated_gif_uses_its_first_frame() -> None:
    img = prepare(gallery.animated_gif(frames=3))
    assert tuple(np.asarray(img)[45, 60]) == pytest.approx((0, 0, 0), abs=6)


def test_transparent_areas_become_white() -> None:
    img = prepare(gallery.encode(Image.new("RGBA", (64, 48), (0, 0, 0, 0)), "PNG"))
    assert tuple(np.asarray(img)[10, 10]) == pytest.approx((255, 255, 255), abs=3)


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "web page"),
        (b"   <html><head></head></html>", "web page"),
        (
            b"hello, I am a text file named cat.png\n",
            "not a picture this bot can read; it reads JPEG, PNG",
        ),
        (bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8)), "not a picture"),
        (gallery.bomb_png(), "too many pixels"),
        (gallery.photo_jpeg(640, 480)[:3000], "damaged"),
        (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 100, "HEIC"),
    ],
    ids=[
        "zero bytes",
        "html page",
        "html with spaces",
        "text file",
        "random bytes",
        "decompression bomb",
        "truncated jpeg",
        "heic",
    ],
)
def test_bad_input_is_refused_with_a_clear_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ImageError) as err:
        PhotoPreparer(JPEG_SPEC, LIMITS)(data)
    assert reason in err.value.reason


def test_file_over_the_size_cap_is_refused_before_decoding() -> None:
    data = gallery.photo_jpeg(640, 480)
    with pytest.raises(ImageError, match="over the"):
        PhotoPreparer(JPEG_SPEC, ImagesConfig(max_bytes=len(data) - 1))(data)


def test_decompression_bomb_is_refused_quickly() -> None:
    start = time.perf_counter()
    with pytest.raises(ImageError):
        load_upright_rgb(gallery.bomb_png(), LIMITS, min_side_px=320)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    "value_range,dtype,expected",
    [
        ("0_1", "float32", (1.0, 0.0, 0.4)),
        ("-1_1", "float32", (1.0, -1.0, 102 / 127.5 - 1)),
        ("0_255", "float32", (255.0, 0.0, 102.0)),
        ("caffe", "float32", (102 - 103.939, 0 - 116.779, 255 - 123.68)),  # BGR order
        ("0_1", "uint8", (255, 0, 102)),
    ],
)
def test_tensor_models_get_the_configured_value_range(
    value_range: str, dtype: DType, expected: tuple[float, float, float]
) -> None:
    img = Image.new("RGB", (50, 40), (255, 0, 102))
    spec = InputSpec("tensor", "input_1", dtype, 8, 6, value_range)
    payload = PhotoPreparer(spec, LIMITS)(gallery.encode(img, "PNG"))
    assert isinstance(payload, TensorPayload)
    arr = np.asarray(payload.pixels)
    assert arr.shape == (8, 6, 3)
    assert tuple(arr[4, 3].tolist()) == pytest.approx(expected, abs=1e-3)


def test_a_tiff_the_decoder_cannot_take_is_called_a_tiff_not_no_picture() -> None:
    # A TIFF header whose first directory points nowhere: Pillow cannot identify it.
    data = b"II*\x00" + (0xFFFFFF).to_bytes(4, "little") + b"\x00" * 64
    with pytest.raises(ImageError) as err:
        prepare(data)
    assert str(err.value).startswith("a TIFF picture this bot cannot decode")
