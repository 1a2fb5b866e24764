"""Imaging: every picture becomes a small upright RGB JPEG, or a clear ImageError."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from bot.adapters.imaging import PhotoPreparer, load_upright_rgb
from bot.core.pipeline import InputSpec, JpegPayload, TensorPayload
from bot.core.settings import ImagesConfig
from bot.errors import ImageError
from tests import gallery

JPEG_SPEC = InputSpec("jpeg", "image_bytes", "DT_STRING")
LIMITS = ImagesConfig()


def prepare(data: bytes, spec: InputSpec = JPEG_SPEC, limits: ImagesConfig = LIMITS) -> Image.Image:
    payload = PhotoPreparer(spec, limits)(data)
    assert isinstance(payload, JpegPayload)
    img = Image.open(io.BytesIO(payload.data))
    assert img.format == "JPEG"
    assert img.size == (payload.width, payload.height)
    return img


def test_twelve_megapixel_photo_is_sent_as_a_small_jpeg_with_short_side_320() -> None:
    data = gallery.photo_jpeg(4032, 3024)
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


@pytest.mark.parametrize(
    "name,data",
    [
        ("cmyk jpeg", gallery.jpeg(Image.new("CMYK", (64, 48), (0, 255, 255, 0)))),
        (
            "palette png with alpha",
            gallery.encode(
                Image.new("RGBA", (64, 48), (255, 0, 0, 0)).convert("P"), "PNG", transparency=0
            ),
        ),
        ("rgba png", gallery.encode(Image.new("RGBA", (64, 48), (0, 0, 255, 128)), "PNG")),
        ("grey png", gallery.encode(Image.new("L", (64, 48), 90), "PNG")),
        ("sixteen bit png", gallery.sixteen_bit_png()),
        ("webp", gallery.encode(Image.new("RGB", (64, 48), (10, 200, 10)), "WEBP")),
        ("bmp", gallery.encode(Image.new("RGB", (64, 48), (10, 200, 10)), "BMP")),
        ("animated gif", gallery.animated_gif(frames=100)),
    ],
)
def test_awkward_formats_become_rgb_jpeg(name: str, data: bytes) -> None:
    img = prepare(data)
    assert img.mode == "RGB", name


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
        (b"hello, I am a text file named cat.png\n", "not a picture"),
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
        ("0_1", "DT_FLOAT", (1.0, 0.0, 0.4)),
        ("-1_1", "DT_FLOAT", (1.0, -1.0, 102 / 127.5 - 1)),
        ("0_255", "DT_FLOAT", (255.0, 0.0, 102.0)),
        ("caffe", "DT_FLOAT", (102 - 103.939, 0 - 116.779, 255 - 123.68)),  # BGR order
        ("0_1", "DT_UINT8", (255, 0, 102)),
    ],
)
def test_tensor_models_get_the_configured_value_range(
    value_range: str, dtype: str, expected: tuple[float, float, float]
) -> None:
    img = Image.new("RGB", (50, 40), (255, 0, 102))
    spec = InputSpec("tensor", "input_1", dtype, 8, 6, value_range)
    payload = PhotoPreparer(spec, LIMITS)(gallery.encode(img, "PNG"))
    assert isinstance(payload, TensorPayload)
    arr = np.asarray(payload.pixels)
    assert arr.shape == (8, 6, 3)
    assert tuple(arr[4, 3].tolist()) == pytest.approx(expected, abs=1e-3)
