"""Pillow adapter: check a picture, orient it, shrink it, encode what the model needs.

Photos arrive as whatever the phone produced (5 MB 12 MP JPEGs, PNG screenshots, GIFs,
WebP, CMYK scans, 16-bit PNGs). The model looks at about 224x224 pixels, so the picture
is decoded at reduced scale where the format allows (``Image.draft`` for JPEG), turned
upright (TensorFlow's decoder ignores EXIF orientation), converted to 8-bit RGB, and
re-encoded as a small baseline JPEG (or PNG, ``[images] format``) without metadata, or turned
into a tensor.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from bot.core.serving import UINT8, InputSpec, JpegPayload, ModelInput, TensorPayload
from bot.core.settings import ImagesConfig
from bot.errors import ImageError

FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF")  # JPEG includes MPO
CAFFE_BGR_MEANS = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def _sniff(data: bytes, limits: ImagesConfig) -> None:
    if not data:
        raise ImageError("the picture is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise ImageError(
            f"the picture is {len(data):,} bytes, over the {limits.max_bytes:,}-byte limit "
            "([images] max_bytes)"
        )
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"{")):
        raise ImageError("got a web page or JSON document instead of a picture")
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftyphevc", b"ftypheim", b"ftyphevx"):
        raise ImageError("HEIC pictures are not supported; send a JPEG or PNG")


SIGNATURES = (
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
)


def _kind_by_signature(data: bytes) -> str | None:
    """The image format a file's first bytes announce, if one this bot knows."""
    return next((kind for magic, kind in SIGNATURES if data.startswith(magic)), None)


def _open(data: bytes, limits: ImagesConfig) -> Image.Image:
    _sniff(data, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError("the picture declares too many pixels (a decompression bomb)") from exc
    except UnidentifiedImageError as exc:
        kind = _kind_by_signature(data)
        if kind is not None:  # a picture, in a variant the decoder does not take
            raise ImageError(
                f"a {kind} picture this bot cannot decode (its compression or layout is not "
                "supported); send it as JPEG or PNG"
            ) from exc
        raise ImageError(
            "the file is not a picture this bot can read; it reads JPEG, PNG, GIF, WebP, BMP, "
            "TIFF and AVIF"
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"the picture is damaged ({exc})") from exc
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageError("the picture has no pixels")
    if width * height > limits.max_pixels:
        raise ImageError(
            f"the picture declares {width}x{height} pixels, over the {limits.max_pixels:,}-pixel "
            "limit ([images] max_pixels)"
        )
    return img


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I") or img.mode == "F":
        # 16/32-bit grey: Pillow's convert would clip to white, so scale the range down.
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    ):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def load_upright_rgb(data: bytes, limits: ImagesConfig, *, min_side_px: int) -> Image.Image:
    """Decode (first frame, reduced scale if possible), apply EXIF orientation, make 8-bit RGB."""
    img = _open(data, limits)
    try:
        width, height = img.size
        if img.format in ("JPEG", "MPO"):
            scale = min_side_px / min(width, height)
            if scale < 1.0:
                img.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
        img.seek(0)
        img.load()
        upright = ImageOps.exif_transpose(img) or img
        return _to_rgb(upright)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"the picture is damaged or truncated ({exc})") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError("the picture declares too many pixels (a decompression bomb)") from exc


def shrink(img: Image.Image, short_side_px: int) -> Image.Image:
    """Downscale so the shorter side is ``short_side_px``; never upscale."""
    width, height = img.size
    short = min(width, height)
    if short <= short_side_px:
        return img
    scale = short_side_px / short
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def encode_jpeg(img: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality, optimize=False, progressive=False)
    return out.getvalue()


def encode_png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def to_tensor(img: Image.Image, spec: InputSpec) -> TensorPayload:
    """Resize to the model's H x W (plain bilinear, as Keras/retrain models expect)."""
    if spec.height is None or spec.width is None:
        raise ImageError("the model's input has no fixed height and width")
    resized = img.resize((spec.width, spec.height), Image.Resampling.BILINEAR)
    arr = np.asarray(resized, dtype=np.float32)
    if spec.dtype == UINT8:
        return TensorPayload(arr.astype(np.uint8).tolist(), spec.width, spec.height)
    if spec.value_range == "0_1":
        arr = arr / 255.0
    elif spec.value_range == "-1_1":
        arr = arr / 127.5 - 1.0
    elif spec.value_range == "caffe":
        arr = arr[..., ::-1] - CAFFE_BGR_MEANS
    # 4 decimals are far below 8-bit pixel resolution and halve the JSON size; round in
    # float64, or float32's nearest value (0.5216000080108643) comes back as the long repr.
    return TensorPayload(np.round(arr.astype(np.float64), 4).tolist(), spec.width, spec.height)


def to_any_size_tensor(img: Image.Image, spec: InputSpec) -> TensorPayload:
    """The picture at its own size as an H x W x 3 tensor (a detector's ``[1, -1, -1, 3]``)."""
    arr = np.asarray(img, dtype=np.uint8)
    if spec.dtype == UINT8:
        return TensorPayload(arr.tolist(), img.width, img.height)
    scaled = arr.astype(np.float64) / 255.0 if spec.value_range == "0_1" else arr
    return TensorPayload(np.round(scaled, 4).tolist(), img.width, img.height)


def shrink_longer(img: Image.Image, max_side_px: int, *, fast: bool = False) -> Image.Image:
    """Downscale so the longer side is at most ``max_side_px``; never upscale. ``fast``:
    bilinear after an integer reduction (half the time of Lanczos; for pictures people look
    at, not for the model's input)."""
    width, height = img.size
    if max(width, height) <= max_side_px:
        return img
    scale = max_side_px / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if fast:
        return img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def load_for_longer_side(
    data: bytes, max_side_px: int, limits: ImagesConfig, *, fast: bool = False
) -> Image.Image:
    """Decode (reduced scale where the format allows), upright, RGB, longer side at most
    ``max_side_px``."""
    short = _short_side_for(data, max_side_px, limits)
    img = load_upright_rgb(data, limits, min_side_px=short)
    return shrink_longer(img, max_side_px, fast=fast)


@dataclass(frozen=True)
class PhotoPreparer:
    """The ``Preparer`` port: raw picture bytes -> what this model's signature takes.
    ``longer_side_px`` (a detector's): shrink by the longer side instead, keeping the whole
    picture, and send a tensor of any size at the picture's own size."""

    spec: InputSpec
    limits: ImagesConfig
    longer_side_px: int | None = None

    def __call__(self, data: bytes) -> ModelInput:
        if self.longer_side_px is not None:
            return self.from_upright(load_for_longer_side(data, self.longer_side_px, self.limits))
        if self.spec.kind in ("jpeg", "base64_text"):  # the graph decodes the picture itself
            img = load_upright_rgb(data, self.limits, min_side_px=self.limits.short_side_px)
            return self._encoded(shrink(img, self.limits.short_side_px))
        need = max(self.spec.height or 0, self.spec.width or 0, 1)
        img = load_upright_rgb(data, self.limits, min_side_px=need)
        if self.spec.any_size:
            return to_any_size_tensor(shrink(img, need), self.spec)
        return to_tensor(img, self.spec)

    def from_upright(self, img: Image.Image) -> ModelInput:
        """A detector's input from a photo decoded already (upright RGB): shrunk by its longer
        side to ``longer_side_px``, then encoded or made a tensor of its own size."""
        small = shrink_longer(img, self.longer_side_px or max(img.size))
        if self.spec.kind in ("jpeg", "base64_text"):
            return self._encoded(small)
        if self.spec.any_size:
            return to_any_size_tensor(small, self.spec)
        return to_tensor(small, self.spec)

    def _encoded(self, small: Image.Image) -> JpegPayload:
        if self.limits.format == "png":
            return JpegPayload(encode_png(small), *small.size, format="png")
        return JpegPayload(encode_jpeg(small, self.limits.jpeg_quality), *small.size)


ASK_JPEG_QUALITY = 85
"""For the photo a vision-language model is asked about: at 1024 px, q85 is about half the
bytes of q95 (``python -m bench --only ask``) and such models read it as well."""


def shrink_longer_side(data: bytes, max_side_px: int, limits: ImagesConfig) -> bytes:
    """The picture as a JPEG whose longer side is at most ``max_side_px`` (aspect kept, never
    enlarged): the photo remembered for questions, and sent to a vision-language model."""
    return encode_jpeg(load_for_longer_side(data, max_side_px, limits), ASK_JPEG_QUALITY)


def _short_side_for(data: bytes, max_side_px: int, limits: ImagesConfig) -> int:
    """The short side the decoder may reduce to (JPEG draft) and still give ``max_side_px``."""
    width, height = _open(data, limits).size
    return max(1, round(max_side_px * min(width, height) / max(width, height)))
