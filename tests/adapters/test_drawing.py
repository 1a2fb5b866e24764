"""The drawn reply picture (Pillow): boxes where the detector found things, in the class's
colour, labelled in Chinese with a CJK font and in English without one, shrunk and upright."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.adapters.imaging import PhotoPreparer
from bot.adapters.imaging.drawing import (
    FONT_CANDIDATES,
    PALETTE,
    PhotoSight,
    find_font,
    font_warning,
    has_chinese,
)
from bot.core.detector import Box
from bot.core.serving import InputSpec, JpegPayload, TensorPayload
from bot.core.settings import DetectConfig, ImagesConfig
from bot.errors import ImageError

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # no Chinese glyphs
WQY = FONT_CANDIDATES[0]
ENCODED = InputSpec("jpeg", "input_tensor", "string")
TENSOR = InputSpec("tensor", "input_tensor", "uint8", None, None)


def white_photo(width: int, height: int, *, orientation: int | None = None) -> bytes:
    out = io.BytesIO()
    img = Image.new("RGB", (width, height), (255, 255, 255))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    img.save(out, format="JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def sight(font: Path | None = None, spec: InputSpec = ENCODED) -> PhotoSight:
    def prepare() -> PhotoPreparer:
        return PhotoPreparer(spec, ImagesConfig(), DetectConfig().max_side_px)

    return PhotoSight(prepare, DetectConfig(), ImagesConfig(), font)


def drawn(data: bytes, boxes: list[Box], font: Path | None = None) -> np.ndarray:
    picture = sight(font)(data, drawing=True).draw(boxes)
    assert picture is not None and picture.name == "detections.jpg"
    return np.asarray(Image.open(io.BytesIO(picture.data)).convert("RGB"), dtype=np.int16)


def near(pixel: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool(np.abs(pixel - np.array(colour)).max() <= 40)


def test_a_box_is_drawn_where_the_detector_found_it_in_its_class_colour() -> None:
    box = Box((0.25, 0.5, 0.75, 0.9), "狗", "dog", slot=1, score=0.97)
    pixels = drawn(white_photo(800, 600), [box])
    assert pixels.shape == (600, 800, 3)
    colour = PALETTE[1]
    # the left edge at x = 0.5 * 799 and the bottom edge at y = 0.75 * 599, half-way along
    assert near(pixels[300, 400], colour) and near(pixels[449, 560], colour)
    assert near(pixels[300, 560], (255, 255, 255))  # inside the box: the photo
    assert near(pixels[100, 100], (255, 255, 255))  # far outside: the photo
    assert near(pixels[148, 401], colour)  # the label strip above the top edge


def test_the_drawn_picture_is_shrunk_to_draw_side_px_and_turned_upright() -> None:
    box = Box((0.0, 0.0, 0.5, 0.5), "狗", "dog", slot=0)
    assert drawn(white_photo(4000, 3000), [box]).shape == (960, 1280, 3)
    # a phone photo held upright: stored 4000x3000 with EXIF orientation 6
    assert drawn(white_photo(4000, 3000, orientation=6), [box]).shape == (1280, 960, 3)


def test_chinese_labels_are_drawn_with_a_cjk_font_and_differ_per_class() -> None:
    assert WQY.is_file(), "install Debian's fonts-wqy-microhei (scripts/test does, as root)"
    assert find_font(None) == WQY and has_chinese(WQY)
    photo = white_photo(800, 600)
    dog = drawn(photo, [Box((0.5, 0.1, 0.9, 0.5), "狗", "dog", 0)], WQY)
    cat = drawn(photo, [Box((0.5, 0.1, 0.9, 0.5), "猫", "dog", 0)], WQY)
    strip = (slice(270, 299), slice(80, 200))  # the label strip above the box's top edge
    assert np.abs(dog[strip] - cat[strip]).max() > 100  # two glyphs, not two empty boxes


def test_without_a_chinese_font_the_english_name_is_drawn_and_said_once() -> None:
    assert not has_chinese(DEJAVU)
    assert find_font(DEJAVU) is None
    warning = font_warning(DetectConfig(font=DEJAVU), None)
    assert warning is not None and "labelled in English" in warning and "fonts-wqy" in warning
    assert font_warning(DetectConfig(), WQY) is None
    assert font_warning(DetectConfig(draw=False), None) is None
    photo = white_photo(800, 600)
    dog = drawn(photo, [Box((0.5, 0.1, 0.9, 0.5), "狗", "dog", 0)], None)
    cat = drawn(photo, [Box((0.5, 0.1, 0.9, 0.5), "狗", "cat", 0)], None)
    strip = (slice(270, 299), slice(80, 200))
    assert np.abs(dog[strip] - cat[strip]).max() > 100  # the English names are drawn


def test_the_model_input_is_made_from_the_photo_decoded_once_for_drawing() -> None:
    photo = white_photo(4000, 3000, orientation=6)
    look = sight()(photo, drawing=True)
    payload = look.payload
    assert isinstance(payload, JpegPayload) and (payload.width, payload.height) == (480, 640)
    tensor = sight(spec=TENSOR)(photo, drawing=True).payload
    assert isinstance(tensor, TensorPayload) and (tensor.width, tensor.height) == (480, 640)
    assert len(tensor.pixels) == 640 and len(tensor.pixels[0]) == 480
    plain = sight(spec=TENSOR)(photo, drawing=False)
    assert (plain.payload.width, plain.payload.height) == (480, 640)
    assert plain.draw([Box((0, 0, 1, 1), "狗", "dog", 0)]) is None  # not decoded for drawing


def test_the_photo_is_let_go_once_drawn() -> None:
    look = sight()(white_photo(800, 600), drawing=True)
    assert look.draw([Box((0, 0, 1, 1), "狗", "dog", 0)]) is not None
    assert look.photo is None


def test_a_picture_that_cannot_be_decoded_is_an_image_error() -> None:
    with pytest.raises(ImageError, match="not a picture"):
        sight()(b"not a picture at all", drawing=True)
