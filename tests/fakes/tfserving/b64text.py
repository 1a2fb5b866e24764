"""Seed 000's in-graph input layer: ``tf.decode_base64`` -> ``tf.image.decode_png`` -> classify.

The model's input is ``tf.placeholder(tf.string)`` with no shape (metadata: unknown rank), so the
graph takes whatever tensor the server builds:

* a scalar string (TF Serving's columnar ``{"inputs": "<text>"}``; STFS's ``"data": {"image":
  "<text>"}``) -> decoded and classified, output shape (1, N) (the graph's ``expand_dims``);
* a rank-1 tensor (TF Serving's row form, which always batches: ``{"instances": [...]}``) ->
  ``DecodeBase64`` works element-wise, then ``DecodePng`` refuses it:
  ``\\`contents\\` must be scalar but got shape[1]``.

Error texts (checked with tensorflow-cpu 2.21 running such a SavedModel in a session):
``Invalid character found in base64.`` and ``Base64 string length cannot be 1 modulo 4.``
(tensorflow/tsl/platform/base64.cc ``DecodeThreeChars`` / ``Base64Decode``),
``\\`contents\\` must be scalar but got shape[1]`` and ``Input is empty.``
(tensorflow/core/kernels/image/decode_image_op.cc ``DecodeImageV2Op::Compute``).  The runtime
appends ``\\n\\t [[{{node NAME}}]]``; TF Serving returns that text as the 400 ``error``.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from tests.fakes.tfserving.errors import _invalid, _TFError
from tests.fakes.tfserving.images import _decode_image

INVALID_CHARACTER = "Invalid character found in base64."
LENGTH_1_MOD_4 = "Base64 string length cannot be 1 modulo 4."
EMPTY_INPUT = "Input is empty."

# seed 000 imports the decoder graph with tf.import_graph_def() -> the "import/" name scope
DECODE_BASE64_NODE = "import/DecodeBase64"
DECODE_PNG_NODE = "import/DecodePng"

_WEBSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUE = {ord(c): i for i, c in enumerate(_WEBSAFE)}


def node_error(message: str, node: str) -> _TFError:
    """An INVALID_ARGUMENT raised by op ``node`` as the TF runtime words it."""
    return _invalid(f"{message}\n\t [[{{{{node {node}}}}}]]")


def _decode_quad(quad: bytes) -> bytes:
    packed = 0
    for ch in quad:
        v = _VALUE.get(ch)
        if v is None:
            raise ValueError(INVALID_CHARACTER)
        packed = (packed << 6) | v
    return packed.to_bytes(3, "big")


def tf_base64_decode(data: bytes) -> bytes:
    """tsl::Base64Decode: web-safe alphabet only, padding optional; ValueError(TF message)."""
    if not data:
        return b""
    out = bytearray()
    pos, end = 0, len(data)
    while end - pos > 4:
        out += _decode_quad(data[pos : pos + 4])
        pos += 4
    if end - pos == 4:
        if data[pos + 2 : pos + 4] == b"==":
            end -= 2
        elif data[pos + 3 : pos + 4] == b"=":
            end -= 1
    remain = end - pos
    if remain == 1:
        raise ValueError(LENGTH_1_MOD_4)
    tail = data[pos:end] + b"A" * (4 - remain)
    out += _decode_quad(tail)[: remain - 1]
    return bytes(out)


def decode_base64_text_input(shape: list[int], values: list[Any]) -> Image.Image:
    """Run the decoder part of seed 000's graph on a string tensor; TF's errors as _TFError."""
    decoded: list[bytes] = []
    for value in values:
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        try:
            decoded.append(tf_base64_decode(raw))
        except ValueError as exc:
            raise node_error(str(exc), DECODE_BASE64_NODE) from None
    if shape:
        dims = ",".join(str(d) for d in shape)
        raise node_error(f"`contents` must be scalar but got shape[{dims}]", DECODE_PNG_NODE)
    if not decoded[0]:
        raise node_error(EMPTY_INPUT, DECODE_PNG_NODE)
    try:
        return _decode_image(decoded[0])
    except _TFError as exc:
        raise node_error(exc.message, DECODE_PNG_NODE) from None
