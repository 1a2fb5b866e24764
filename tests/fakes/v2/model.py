"""A v2 stand-in's model: what it declares (metadata) and what it answers (scores, names, top-k).

The class is the TF Serving stand-in's: a function of the picture's mean colour
(:mod:`tests.fakes.tfserving.images`), so ``image_for_class`` photos come back as their class
through every input kind, JPEG or tensor (FP32 in 0..1, UINT8 in 0..255, NHWC or NCHW). The
scores are probabilities: ``0.9 + 0.1 / C`` for the class, ``0.1 / C`` for every other one.
"""

from __future__ import annotations

import binascii
import io
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from tests.fakes.tfserving.images import class_from_mean, default_classify

Kind = Literal["bytes", "fp32", "uint8"]
Layout = Literal["NHWC", "NCHW"]
# The protocol's number datatypes the stand-in reads and writes, little-endian.
NUMPY: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
MAX_PICTURE_BYTES = 32 << 20  # one BYTES element the model will try to open as a picture
MAX_PIXELS = 40_000_000  # decompression-bomb guard when opening one


class PictureError(ValueError):
    """The model could not read a picture; the text is the model's own error message."""


@dataclass
class V2Model:
    """One model of the stand-in. Change fields between requests to change what it answers.

    ``kind``: ``"bytes"`` takes one JPEG (or PNG, …) per element of a BYTES input shaped
    ``bytes_shape`` (``(-1,)``; ``(1,)`` or ``(-1, 1)`` as Triton shows a batching model with
    ``dims: [1]``); ``"fp32"`` / ``"uint8"`` take a picture tensor ``[-1, H, W, 3]`` (NHWC) or
    ``[-1, 3, H, W]`` (NCHW), FP32 in 0..1. ``num_classes`` 1001 has index 0 "background"
    (TF Serving's ResNet export); class ids 1..1000 are reachable.

    ``labels``: the class labels Triton's classification extension appends
    (``"score:index:label"``; none: ``"score:index"``) and the ``names_output`` tensor holds
    (default ``class_<i>``). ``names_output``: also a BYTES output ``[-1, C]`` of class names.

    ``base64_text``: the model itself base64-decodes a BYTES element that reached it as JSON
    text (None: the flavour's usual model — True for ``kserve``, whose Python models must;
    MLServer's codecs decode before the model, see :mod:`tests.fakes.v2.flavours`).

    ``ready=False``: loaded, but says it is not ready; ``loading=True``: the server knows the
    model but has no version loaded (each flavour answers this its own way). ``versions``: the
    versions the server has (the last is the default); ``platform``: the metadata's platform
    (default: the flavour's usual one); ``max_batch``: Triton's ``max_batch_size`` (a batching
    model is one whose input shape starts with -1).
    """

    name: str
    kind: Kind = "bytes"
    num_classes: int = 1001
    layout: Layout = "NHWC"
    size: int = 224
    height: int | None = None
    width: int | None = None
    input_name: str = "image"
    bytes_shape: tuple[int, ...] = (-1,)
    output_name: str = "probabilities"
    names_output: str | None = None
    labels: tuple[str, ...] | None = None
    base64_text: bool | None = None
    ready: bool = True
    loading: bool = False
    versions: tuple[str, ...] = ("1",)
    platform: str | None = None
    max_batch: int = 8

    # -- what it declares --------------------------------------------------------------------
    @property
    def hw(self) -> tuple[int, int]:
        return (self.height or self.size, self.width or self.size)

    @property
    def batching(self) -> bool:
        return self.input_shape[:1] == [-1]

    @property
    def input_datatype(self) -> str:
        return {"bytes": "BYTES", "fp32": "FP32", "uint8": "UINT8"}[self.kind]

    @property
    def input_shape(self) -> list[int]:
        if self.kind == "bytes":
            return list(self.bytes_shape)
        h, w = self.hw
        return [-1, h, w, 3] if self.layout == "NHWC" else [-1, 3, h, w]

    def input_meta(self) -> dict[str, Any]:
        return {"name": self.input_name, "datatype": self.input_datatype, "shape": self.input_shape}

    def output_metas(self) -> list[dict[str, Any]]:
        batch = -1 if self.batching else 1
        metas = [{"name": self.output_name, "datatype": "FP32", "shape": [batch, self.num_classes]}]
        if self.names_output:
            metas.append(
                {"name": self.names_output, "datatype": "BYTES", "shape": [batch, self.num_classes]}
            )
        return metas

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(m["name"] for m in self.output_metas())

    def class_names(self) -> list[str]:
        if self.labels is not None:
            return [self.label(i) or "" for i in range(self.num_classes)]
        return [f"class_{i}" for i in range(self.num_classes)]

    def label(self, index: int) -> str | None:
        if self.labels is None or index >= len(self.labels):
            return None
        return self.labels[index]

    # -- what it answers ---------------------------------------------------------------------
    def classify_picture(self, data: bytes) -> int:
        """The class of one encoded picture; PictureError with the model's words if unreadable."""
        if len(data) > MAX_PICTURE_BYTES:
            raise PictureError(f"could not read the picture: {len(data):,} bytes is too large")
        try:
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise PictureError(
                        f"could not read the picture: {img.width}x{img.height} is too large"
                    )
                img.load()
                return default_classify(img, self.num_classes)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            if isinstance(exc, PictureError):
                raise
            raise PictureError(f"could not read the picture: {type(exc).__name__}") from None

    def classify_tensor(self, picture: np.ndarray) -> int:
        """The class of one picture tensor (the input's shape without the batch dimension)."""
        arr = np.asarray(picture, dtype=np.float64)
        if self.layout == "NCHW":
            arr = arr.transpose(1, 2, 0)
        if self.kind == "fp32":
            arr = arr * 255.0
        return class_from_mean(arr.reshape(-1, 3).mean(axis=0).tolist(), self.num_classes)

    def scores(self, classes: list[int]) -> np.ndarray:
        """FP32 ``[N, C]``: 0.9 + 0.1/C on each picture's class, 0.1/C elsewhere."""
        out = np.full((len(classes), self.num_classes), 0.1 / self.num_classes, dtype=np.float32)
        for row, best in enumerate(classes):
            out[row, best] += np.float32(0.9)
        return out

    def top_k(self, scores: np.ndarray, k: int) -> list[str]:
        """Triton's classification strings, row by row: ``"%f:index[:label]"`` for the k highest
        scores (classification.cc ``AddClassResults``; ties here by lower index)."""
        out: list[str] = []
        for row in scores:
            order = sorted(range(len(row)), key=lambda i: (-float(row[i]), i))[:k]
            for i in order:
                text = f"{float(row[i]):f}:{i}"
                label = self.label(i)
                out.append(text if label is None else f"{text}:{label}")
        return out


def b64decode_text(text: str | bytes) -> bytes:
    """Standard base64 as a model's own ``base64.b64decode`` reads it (lenient about junk)."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    try:
        return binascii.a2b_base64(raw)
    except binascii.Error as exc:
        raise PictureError(f"could not read the picture: base64: {exc}") from None
