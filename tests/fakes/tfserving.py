"""In-process fake of the TensorFlow Serving 2.20 REST API (image classifier).

Emulates the behaviour described in ``/work/shared/docs/tfserving-rest.md`` (which was checked
against ``tensorflow_serving/model_servers/http_rest_api_{handler,util}.cc``,
``util/json_tensor.cc`` and ``util/net_http/server/internal/evhttp_*.cc``):

* URL grammar (case-insensitive regexes, matched against path *and query*), ``Malformed
  request: <METHOD> <path>`` for everything else under ``/v1/``, libevent's non-JSON HTML 404
  for paths outside ``/v1/``.
* ``GET`` status (``model_version_status``, versions as strings, newest first) and metadata
  (``{"metadata": {"signature_def": {"signature_def": {...}}}}``, dims with string sizes,
  ``__saved_model_init_op`` for TF2 models, ``predict`` + ``serving_default`` for r1 exports).
* ``:predict`` in row (``instances``) and columnar (``inputs``) format with the exact JSON ->
  tensor rules and error texts of ``json_tensor.cc`` (rectangularity, dtype checks, ``b64`` only
  for ``DT_STRING``, standard-alphabet base64), the single-output collapse rule and rapidjson's
  pretty-printing (single-line arrays inside ``predictions``; floats printed like
  ``WriteDecimal``).
* Errors as ``{"error": "..."}`` with TF status -> HTTP code mapping; gzip request bodies;
  HTTP/1.1 keep-alive; TCP_NODELAY.

The "model" is deterministic: see :func:`default_classify` / :func:`image_for_class`.

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

Known differences from the real server
--------------------------------------
* Model ("graph") errors are fake-specific 400s: an input whose per-example shape does not match
  the signature gives ``Failed to process element: 0 of 'instances' list. Error:
  INVALID_ARGUMENT: Expecting tensor size: X but got: Y`` (or ``Expecting shape [...]``); in
  columnar form ``Expecting shape [-1,H,W,3] but got: [...]``.  Real TF Serving returns a
  model-specific TF runtime error (also 400).  Undecodable image bytes always give
  ``Unknown image file format. One of JPEG, JPEG XL, PNG, GIF, BMP, WebP required.`` (corrupt
  JPEG: ``jpeg::Uncompress failed. Invalid JPEG data or crop window.``), without TF's node
  annotations.
* JSON parse errors come from Python's ``json`` translated to rapidjson messages and byte
  offsets; exotic inputs (``Inf``/``-NaN`` tokens, lone ``\\uD800`` escapes, numbers that
  overflow a double, a UTF-8 BOM) may differ.  Echoed JSON in messages is cut at 256 bytes
  + ``...`` (the real 2.18+ truncation format was not available).
* ``instances`` that is not an array reports ``Excepting 'instances' to be an list/array``
  (spelling of json_tensor.cc; the doc paraphrases it as "Expecting").
* A version number overflowing int64 gives 400 with an *empty* body (ParseModelInfo errors are
  returned before the handler writes the error JSON).
* ``OPTIONS`` is answered 200 with an empty body.  ``:classify`` / ``:regress`` only emulate the
  failure on predict signatures.  No UNLOADING/END status entries, batching 503s or 504
  timeouts (use :meth:`FakeTFServing.fail_next`).  ``max_concurrent`` throttles ``:predict``
  only (the real worker pool serves every REST call).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import email.utils
import functools
import io
import json
import random
import re
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, cast

from PIL import Image, ImageChops, ImageStat, UnidentifiedImageError

__all__ = [
    "FakeTFServing",
    "ModelSpec",
    "RecordedRequest",
    "class_from_mean",
    "default_classify",
    "image_for_class",
    "jpeg_bytes",
    "main",
]

InputKind = Literal["b64", "float", "uint8", "half"]
FaultScope = Literal["predict", "v1"]

_INPUT_KINDS = ("b64", "float", "uint8", "half")
_OUTPUT_KINDS = ("classes_probabilities", "single")
_TENSOR_RANGES = ("0_1", "-1_1", "0_255", "caffe", "rgb_mean", "torch")


# --------------------------------------------------------------------------------------------
# Model description
# --------------------------------------------------------------------------------------------


@dataclass
class ModelSpec:
    """One servable (all its versions share the same signature).

    ``input_kind``: ``"b64"`` -> input ``image_bytes`` ``DT_STRING`` shape ``(-1)`` (r1 ResNet
    JPEG export); ``"float"`` / ``"uint8"`` -> ``DT_FLOAT`` / ``DT_UINT8`` ``(-1, H, W, 3)``;
    ``"half"`` -> ``DT_HALF`` (every request fails: JSON cannot be converted to half).
    ``outputs``: ``"classes_probabilities"`` (``classes`` int64 + ``probabilities``) or
    ``"single"`` (one output ``predictions`` = probability vector; alias dropped in responses).
    ``tf2``: metadata lists ``__saved_model_init_op`` + ``serving_default`` and uses TF2 tensor
    names; otherwise (r1 estimator export) ``predict`` + ``serving_default``.
    """

    name: str = "resnet"
    versions: tuple[int, ...] = (1,)
    labels: dict[str, int] = field(default_factory=dict)
    input_kind: str = "b64"
    input_alias: str | None = None
    height: int = 224
    width: int = 224
    num_classes: int = 1001
    outputs: str = "classes_probabilities"
    tf2: bool = False
    classify: Callable[[Image.Image], int] | None = None
    top_probability: float = 0.9
    tensor_range: str = "0_1"

    def __post_init__(self) -> None:
        if self.input_kind not in _INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {_INPUT_KINDS}, got {self.input_kind!r}")
        if self.outputs not in _OUTPUT_KINDS:
            raise ValueError(f"outputs must be one of {_OUTPUT_KINDS}, got {self.outputs!r}")
        if self.tensor_range not in _TENSOR_RANGES:
            raise ValueError(
                f"tensor_range must be one of {_TENSOR_RANGES}, got {self.tensor_range!r}"
            )
        if self.num_classes < 1:
            raise ValueError("num_classes must be >= 1")
        if not 0.0 <= self.top_probability <= 1.0:
            raise ValueError("top_probability must be in [0, 1]")
        self.versions = tuple(int(v) for v in self.versions)

    @property
    def alias(self) -> str:
        """The input alias used in requests."""
        if self.input_alias is not None:
            return self.input_alias
        return "image_bytes" if self.input_kind == "b64" else "input_1"


@dataclass
class RecordedRequest:
    """One HTTP request as received by the fake (``status`` is filled in once answered)."""

    method: str
    path: str  # raw request target (path + query)
    headers: dict[str, str]  # header names lower-cased
    body_length: int  # bytes on the wire (before gzip inflation)
    json: Any | None  # parsed (inflated) body, None if empty/invalid/too large to keep
    status: int = 0


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
# TF status emulation
# --------------------------------------------------------------------------------------------

_CODE_TO_HTTP = {
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class _TFError(Exception):
    """A non-OK tensorflow::Status."""

    def __init__(self, code: str, message: str, *, empty_body: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.empty_body = empty_body

    @property
    def http_status(self) -> int:
        return _CODE_TO_HTTP.get(self.code, 500)

    def to_string(self) -> str:
        """absl::Status::ToString()."""
        return f"{self.code}: {self.message}"


def _invalid(message: str) -> _TFError:
    return _TFError("INVALID_ARGUMENT", message)


# --------------------------------------------------------------------------------------------
# rapidjson-compatible JSON writing
# --------------------------------------------------------------------------------------------

_F32 = struct.Struct("<f")
_FLT_MAX = 3.4028234663852886e38
_MAX_JSON_DEBUG_BYTES = 256


def _f32(value: float) -> float:
    try:
        return cast(float, _F32.unpack(_F32.pack(value))[0])
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def _write_decimal(value: float, *, single: bool) -> str:
    """json_tensor.cc WriteDecimal<float|double>."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    text = f"{value:g}"
    if single:
        if _f32(float(text)) != value:
            text = f"{value:.9g}"
    elif float(text) != value:
        text = f"{value:.17g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _rj_double(value: float) -> str:
    """rapidjson Writer::Double (Grisu shortest digits + Prettify)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0.0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    k = exponent - len(frac_part)
    digits_stripped = digits.rstrip("0")
    k += len(digits) - len(digits_stripped)
    digits = digits_stripped or "0"
    length = len(digits)
    kk = length + k
    if k >= 0 and kk <= 21:
        out = digits + "0" * k + ".0"
    elif 0 < kk <= 21:
        out = digits[:kk] + "." + digits[kk:]
    elif -6 < kk <= 0:
        out = "0." + "0" * (-kk) + digits
    elif length == 1:
        out = f"{digits}e{kk - 1}"
    else:
        out = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return sign + out


def _rj_string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20:
            out.append(
                {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(code, f"\\u{code:04X}")
            )
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


class _PrettyWriter:
    """Mirror of rapidjson::PrettyWriter (indent 4) incl. kFormatSingleLineArray."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._stack: list[list[int]] = []  # [in_array, value_count]
        self.single_line = False

    def _indent(self) -> None:
        self.parts.append(" " * (4 * len(self._stack)))

    def _prefix(self) -> None:
        if not self._stack:
            return
        level = self._stack[-1]
        if level[0]:
            if level[1] > 0:
                self.parts.append(", " if self.single_line else ",")
            if not self.single_line:
                self.parts.append("\n")
                self._indent()
        else:
            if level[1] > 0:
                self.parts.append(",\n" if level[1] % 2 == 0 else ": ")
            else:
                self.parts.append("\n")
            if level[1] % 2 == 0:
                self._indent()
        level[1] += 1

    def start_object(self) -> None:
        self._prefix()
        self.parts.append("{")
        self._stack.append([0, 0])

    def end_object(self) -> None:
        level = self._stack.pop()
        if level[1]:
            self.parts.append("\n")
            self._indent()
        self.parts.append("}")

    def start_array(self) -> None:
        self._prefix()
        self.parts.append("[")
        self._stack.append([1, 0])

    def end_array(self) -> None:
        level = self._stack.pop()
        if level[1] and not self.single_line:
            self.parts.append("\n")
            self._indent()
        self.parts.append("]")

    def key(self, name: str) -> None:
        self._prefix()
        self.parts.append(_rj_string(name))

    def raw(self, text: str) -> None:
        self._prefix()
        self.parts.append(text)

    def value(self, val: Any) -> None:
        if isinstance(val, dict):
            self.start_object()
            for k, v in val.items():
                self.key(str(k))
                self.value(v)
            self.end_object()
        elif isinstance(val, list):
            self.start_array()
            for v in val:
                self.value(v)
            self.end_array()
        elif val is None:
            self.raw("null")
        elif val is True:
            self.raw("true")
        elif val is False:
            self.raw("false")
        elif isinstance(val, int):
            self.raw(str(val))
        elif isinstance(val, float):
            self.raw(_rj_double(val))
        else:
            self.raw(_rj_string(str(val)))

    def text(self) -> str:
        return "".join(self.parts)


def _json_value_to_string(val: Any) -> str:
    """json_tensor.cc JsonValueToString (pretty, truncated like 2.18+)."""
    if isinstance(val, float):
        single = abs(val) <= _FLT_MAX  # rapidjson IsFloat(): double within float range
        text = _write_decimal(_f32(val) if single else val, single=single)
    else:
        writer = _PrettyWriter()
        writer.value(val)
        text = writer.text()
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) > _MAX_JSON_DEBUG_BYTES:
        text = encoded[:_MAX_JSON_DEBUG_BYTES].decode("utf-8", "ignore") + "..."
    return text


def _error_body(message: str) -> bytes:
    writer = _PrettyWriter()
    writer.start_object()
    writer.key("error")
    writer.raw(_rj_string(message))
    writer.end_object()
    return _encode(writer.text())


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _pb_json(val: Any, indent: int = 0) -> str:
    """protobuf MessageToJsonString(add_whitespace=true) layout (1-space indent)."""
    pad = " " * (indent + 1)
    if isinstance(val, dict):
        if not val:
            return "{}"
        items = [
            f"{pad}{json.dumps(k, ensure_ascii=False)}: {_pb_json(v, indent + 1)}"
            for k, v in val.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(val, list):
        if not val:
            return "[]"
        items = [pad + _pb_json(v, indent + 1) for v in val]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    if val is True:
        return "true"
    if val is False:
        return "false"
    return json.dumps(val, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# rapidjson-compatible parsing (Python's json + error translation)
# --------------------------------------------------------------------------------------------


class _JObj(dict[str, Any]):
    """JSON object that remembers its raw member count (rapidjson keeps duplicates)."""

    member_count: int = 0

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _JObj:
        obj = cls()
        for k, v in pairs:
            obj.setdefault(k, v)  # FindMember() returns the first occurrence
        obj.member_count = len(pairs)
        return obj


def _container_at(text: str, pos: int) -> str:
    stack: list[str] = []
    in_str = False
    esc = False
    for ch in text[:pos]:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            stack.append(ch)
        elif ch in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _parse_json(body: bytes) -> Any:
    """json_tensor.cc ParseJson: returns the document (not yet checked to be an object)."""
    if not body:
        raise _invalid("JSON Parse error: The document is empty")
    text = body.decode("utf-8", "surrogateescape")
    try:
        return json.loads(text, object_pairs_hook=_JObj.from_pairs)
    except json.JSONDecodeError as exc:
        pos = exc.pos
        msg = exc.msg
        if not text.strip(" \t\n\r"):
            reason, pos = "The document is empty.", len(text)
        elif msg.startswith("Extra data"):
            reason = "The document root must not be followed by other values."
        elif msg.startswith("Expecting property name"):
            reason = "Missing a name for object member."
        elif msg.startswith("Expecting ':'"):
            reason = "Missing a colon after a name of object member."
        elif msg.startswith("Expecting ','"):
            if _container_at(text, pos) == "{":
                reason = "Missing a comma or '}' after an object member."
            else:
                reason = "Missing a comma or ']' after an array element."
        elif msg.startswith("Unterminated string"):
            reason, pos = "Missing a closing quotation mark in string.", len(text)
        elif msg.startswith("Invalid control character"):
            reason = "Invalid encoding in string."
        elif msg.startswith("Invalid \\uXXXX"):
            reason = "Incorrect hex digit after \\u escape in string."
        elif msg.startswith("Invalid \\escape"):
            reason = "Invalid escape character in string."
        else:
            reason = "Invalid value."
        offset = len(text[:pos].encode("utf-8", "surrogateescape"))
        raise _invalid(f"JSON Parse error: {reason} at offset: {offset}") from None
    except RecursionError:
        raise _invalid("JSON Parse error: Terminate parsing due to Handler error.") from None


def _json_type(val: Any) -> str:
    if val is None:
        return "Null"
    if val is True:
        return "True"
    if val is False:
        return "False"
    if isinstance(val, dict):
        return "Object"
    if isinstance(val, list):
        return "Array"
    if isinstance(val, str):
        return "String"
    return "Number"


# --------------------------------------------------------------------------------------------
# JSON -> tensor (json_tensor.cc)
# --------------------------------------------------------------------------------------------

_DTYPE_NAMES = {
    "DT_FLOAT": "float",
    "DT_UINT8": "uint8",
    "DT_STRING": "string",
    "DT_HALF": "half",
    "DT_INT64": "int64",
}
_KIND_DTYPE = {"b64": "DT_STRING", "float": "DT_FLOAT", "uint8": "DT_UINT8", "half": "DT_HALF"}
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


@dataclass
class _Tensor:
    dtype: str
    shape: list[int]
    values: list[Any]


def _type_error(val: Any, dtype: str) -> _TFError:
    return _invalid(
        f"JSON Value: {_json_value_to_string(val)} Type: {_json_type(val)} "
        f"is not of expected type: {_DTYPE_NAMES[dtype]}"
    )


def _is_b64_object(val: Any) -> bool:
    return (
        isinstance(val, _JObj)
        and val.member_count == 1
        and "b64" in val
        and isinstance(val["b64"], str)
    )


_B64_ALPHABET = re.compile(r"[A-Za-z0-9+/]*")
_WHITESPACE = " \t\n\v\f\r"


def _absl_base64_unescape(text: str) -> bytes | None:
    """absl::Base64Unescape: standard alphabet, optional-but-correct padding, skips spaces."""
    s = "".join(ch for ch in text if ch not in _WHITESPACE)
    stripped = s.rstrip("=.")
    pad = len(s) - len(stripped)
    rem = len(stripped) % 4
    if rem == 1 or not _B64_ALPHABET.fullmatch(stripped):
        return None
    if pad and (rem == 0 or rem + pad != 4):
        return None
    try:
        return base64.b64decode(stripped + "=" * ((4 - rem) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _decode_b64_object(val: Any) -> bytes:
    if not _is_b64_object(val):
        raise _invalid(
            f"JSON Value: {_json_value_to_string(val)} not formatted correctly for base64 data"
        )
    decoded = _absl_base64_unescape(val["b64"])
    if decoded is None:
        raise _invalid("Unable to base64 decode")
    return decoded


def _convert_scalar(val: Any, dtype: str) -> Any:
    if isinstance(val, dict):
        if dtype == "DT_STRING":
            return _decode_b64_object(val)
        raise _type_error(val, dtype)
    t = type(val)
    if dtype == "DT_FLOAT":
        if t is float or t is int:
            return val
        raise _type_error(val, dtype)
    if dtype == "DT_UINT8":
        if t is int and _INT32_MIN <= val <= _INT32_MAX:
            return val
        raise _type_error(val, dtype)
    if dtype == "DT_STRING":
        if t is str:
            try:
                return cast(str, val).encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                return cast(str, val).encode("utf-8", "surrogatepass")
        raise _type_error(val, dtype)
    raise _TFError(
        "UNIMPLEMENTED",
        f"Conversion of JSON Value: {_json_value_to_string(val)} to type: {_DTYPE_NAMES[dtype]}",
    )


def _dense_shape(val: Any) -> list[int]:
    shape: list[int] = []
    while isinstance(val, list):
        shape.append(len(val))
        if not val:
            break
        val = val[0]
    return shape


def _fill(val: Any, level: int, shape: list[int], dtype: str, out: list[Any]) -> None:
    rank = len(shape)
    if not isinstance(val, list):
        if level != rank:
            raise _invalid(
                f"JSON Value: {_json_value_to_string(val)} found at incorrect level: "
                f"{level + 1} in the JSON DOM. Expected at level: {rank}"
            )
        out.append(_convert_scalar(val, dtype))
        return
    if level >= rank:
        raise _invalid(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(val) != shape[level]:
        raise _invalid(
            f"Encountered list at unexpected size: {len(val)} at level: {level} "
            f"expected size: {shape[level]}"
        )
    if level == rank - 1:
        if dtype == "DT_FLOAT" and all(type(x) is float or type(x) is int for x in val):
            out.extend(val)
            return
        for x in val:
            if isinstance(x, list):
                raise _invalid(f"Encountered list at unexpected level: {rank} expected < {rank}")
            out.append(_convert_scalar(x, dtype))
        return
    for x in val:
        _fill(x, level + 1, shape, dtype, out)


def _to_tensor(val: Any, dtype: str) -> _Tensor:
    shape = _dense_shape(val)
    values: list[Any] = []
    _fill(val, 0, shape, dtype, values)
    return _Tensor(dtype, shape, values)


def _shape_str(shape: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _tensors_from_instances(instances: list[Any], inputs: dict[str, str]) -> dict[str, _Tensor]:
    """FillTensorMapFromInstancesList; ``inputs`` maps alias -> dtype (sorted like a map)."""
    names = sorted(inputs)
    first = instances[0]
    if not isinstance(first, dict) and len(names) > 1:
        raise _invalid(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )

    def is_element_object(v: Any) -> bool:
        return isinstance(v, dict) and not _is_b64_object(v)

    objects = is_element_object(first)
    per_name: dict[str, list[_Tensor]] = {}

    def add_item(item: Any, name: str) -> None:
        if name not in inputs:
            raise _invalid(f"JSON object: does not have named input: {name}")
        tensor = _to_tensor(item, inputs[name])
        seen = per_name.setdefault(name, [])
        if seen:
            ref = seen[0]
            if len(ref.values) != len(tensor.values):
                raise _invalid(
                    f"Expecting tensor size: {len(ref.values)} but got: {len(tensor.values)}"
                )
            if ref.shape != tensor.shape:
                raise _invalid(
                    f"Expecting shape {_shape_str(ref.shape)} but got: {_shape_str(tensor.shape)}"
                )
        seen.append(tensor)

    for index, elem in enumerate(instances):
        if objects:
            if not is_element_object(elem):
                raise _invalid(f"Expecting object but got list at item {index} of input list")
            for name, item in elem.items():
                try:
                    add_item(item, name)
                except _TFError as exc:
                    raise _invalid(
                        f"Failed to process element: {index} key: {name} of 'instances' list. "
                        f"Error: {exc.to_string()}"
                    ) from None
            if set(elem) != set(names):
                raise _invalid(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{_json_value_to_string(elem)} keys must be equal to: {','.join(names)}"
                )
        else:
            if is_element_object(elem):
                raise _invalid(f"Expecting value/list but got object at item {index} of input list")
            try:
                add_item(elem, names[0])
            except _TFError as exc:
                raise _invalid(
                    f"Failed to process element: {index} of 'instances' list. "
                    f"Error: {exc.to_string()}"
                ) from None

    result: dict[str, _Tensor] = {}
    for name, items in per_name.items():
        values: list[Any] = []
        for item in items:
            values.extend(item.values)
        result[name] = _Tensor(inputs[name], [len(items), *items[0].shape], values)
    return result


def _tensors_from_inputs(val: Any, inputs: dict[str, str]) -> dict[str, _Tensor]:
    """FillTensorMapFromInputsMap."""
    names = sorted(inputs)
    if not isinstance(val, dict) or _is_b64_object(val):
        if len(names) > 1:
            raise _invalid(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        return {names[0]: _to_tensor(val, inputs[names[0]])}
    result: dict[str, _Tensor] = {}
    for name in names:
        if name not in val:
            raise _invalid(f"Missing named input: {name} in 'inputs' object.")
        result[name] = _to_tensor(val[name], inputs[name])
    return result


# --------------------------------------------------------------------------------------------
# Signatures / metadata
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TensorInfo:
    dtype: str
    dims: tuple[int, ...] | None  # None = unknown rank
    name: str

    def to_json(self) -> dict[str, Any]:
        if self.dims is None:
            shape: dict[str, Any] = {"dim": [], "unknown_rank": True}
        else:
            shape = {
                "dim": [{"size": str(d), "name": ""} for d in self.dims],
                "unknown_rank": False,
            }
        return {"dtype": self.dtype, "tensor_shape": shape, "name": self.name}

    def to_text(self, indent: str) -> list[str]:
        lines = [f'{indent}name: "{self.name}"', f"{indent}dtype: {self.dtype}"]
        lines.append(f"{indent}tensor_shape {{")
        if self.dims is None:
            lines.append(f"{indent}  unknown_rank: true")
        for d in self.dims or ():
            lines += [f"{indent}  dim {{", f"{indent}    size: {d}", f"{indent}  }}"]
        lines.append(f"{indent}}}")
        return lines


@dataclass(frozen=True)
class _Signature:
    inputs: dict[str, _TensorInfo]
    outputs: dict[str, _TensorInfo]
    method_name: str

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": {k: v.to_json() for k, v in sorted(self.inputs.items())},
            "outputs": {k: v.to_json() for k, v in sorted(self.outputs.items())},
            "method_name": self.method_name,
            "defaults": {},
        }

    def debug_string(self) -> str:
        """protobuf DebugString() (text format) of the SignatureDef."""
        lines: list[str] = []
        for field_name, infos in (("inputs", self.inputs), ("outputs", self.outputs)):
            for key, info in sorted(infos.items()):
                lines += [f"{field_name} {{", f'  key: "{key}"', "  value {"]
                lines += info.to_text("    ")
                lines += ["  }", "}"]
        lines.append(f'method_name: "{self.method_name}"')
        return "\n".join(lines) + "\n"


_PREDICT_METHOD = "tensorflow/serving/predict"


def _signatures(spec: ModelSpec) -> dict[str, _Signature]:
    alias = spec.alias
    dtype = _KIND_DTYPE[spec.input_kind]
    dims: tuple[int, ...] = (-1,) if spec.input_kind == "b64" else (-1, spec.height, spec.width, 3)
    if spec.tf2:
        in_name = f"serving_default_{alias}:0"
        out_names = ["StatefulPartitionedCall:0", "StatefulPartitionedCall:1"]
    else:
        in_name = "input_tensor:0" if spec.input_kind == "b64" else "input:0"
        out_names = ["ArgMax:0", "softmax_tensor:0"]
    probs = (-1, spec.num_classes)
    outputs: dict[str, _TensorInfo]
    if spec.outputs == "single":
        outputs = {"predictions": _TensorInfo("DT_FLOAT", probs, out_names[0])}
    else:
        outputs = {
            "classes": _TensorInfo("DT_INT64", (-1,), out_names[0]),
            "probabilities": _TensorInfo("DT_FLOAT", probs, out_names[1]),
        }
    serving = _Signature({alias: _TensorInfo(dtype, dims, in_name)}, outputs, _PREDICT_METHOD)
    if spec.tf2:
        init = _Signature(
            {},
            {"__saved_model_init_op": _TensorInfo("DT_INVALID", None, "NoOp")},
            "",
        )
        return {"__saved_model_init_op": init, "serving_default": serving}
    return {"predict": serving, "serving_default": serving}


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


# --------------------------------------------------------------------------------------------
# HTTP-level helpers (libevent behaviour)
# --------------------------------------------------------------------------------------------

_LIBEVENT_PHRASES: dict[int, str] = {
    100: "Continue",
    101: "Switching Protocols",
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Time-out",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Large",
    415: "Unsupported Media Type",
    416: "Requested range not satisfiable",
    417: "Expectation Failed",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
    505: "HTTP Version not supported",
}


def _phrase(status: int) -> str:
    return _LIBEVENT_PHRASES.get(status, "Unknown Status Code")


def _libevent_error_page(status: int) -> bytes:
    reason = _phrase(status)
    return (
        f"<HTML><HEAD>\n<TITLE>{status} {reason}</TITLE>\n</HEAD><BODY>\n"
        f"<H1>{reason}</H1>\n</BODY></HTML>\n"
    ).encode("latin-1")


_HTML = "text/html; charset=ISO-8859-1"
_JSON = "application/json"
_UNRESERVED_EXTRA = "-._~!$&'()*+,;=:@/"


def _uri_chars_ok(part: str, allow_question: bool) -> bool:
    i = 0
    n = len(part)
    while i < n:
        ch = part[i]
        if ch.isascii() and (ch.isalnum() or ch in _UNRESERVED_EXTRA):
            i += 1
        elif ch == "%" and _is_hex(part[i + 1 : i + 3]):
            i += 3
        elif ch == "?" and allow_question:
            i += 1
        else:
            return False
    return True


def _is_hex(text: str) -> bool:
    return len(text) == 2 and all(c in "0123456789abcdefABCDEF" for c in text)


def _uri_path_and_query(target: str) -> str | None:
    """evhttp_uri_parse + TFS ParsedEvRequest::decode (path?query#fragment), None = 400."""
    m = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", target)
    if m:
        target = target[m.end() :]
    path, hash_sign, fragment = target.partition("#")
    path, question, query = path.partition("?")
    if not _uri_chars_ok(path, False):
        return None
    if question and not _uri_chars_ok(query, True):
        return None
    if hash_sign and not _uri_chars_ok(fragment, True):
        return None
    out = path or "/"
    if question:
        out += "?" + query
    if hash_sign:
        out += "#" + fragment
    return out


_V1_RE = re.compile(r"/v1/.*", re.IGNORECASE)
_PREDICT_RE = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_STATUS_RE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)
_INT64_MAX = 2**63 - 1


def _curl_unescape(text: str) -> str:
    return urllib.parse.unquote_to_bytes(text).decode("utf-8", "surrogateescape")


_MAX_GZIP_BYTES = 100 << 20


def _gunzip(body: bytes) -> bytes:
    try:
        d = zlib.decompressobj(wbits=31)
        out = d.decompress(body, _MAX_GZIP_BYTES + 1)
        if len(out) > _MAX_GZIP_BYTES or not d.eof:
            return b""
        return out
    except zlib.error:
        return b""


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


@dataclass
class _Fault:
    scope: FaultScope
    remaining: int
    status: int  # 0 = drop the connection
    body: bytes
    content_type: str


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = _JSON
    drop: bool = False


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeTFServing) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() does a (possibly slow) reverse DNS lookup; skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # connection resets etc. are normal in tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY
    server_version = "tfserving-fake"
    sys_version = ""

    @property
    def fake(self) -> FakeTFServing:
        return cast(_HTTPServer, self.server).fake

    def setup(self) -> None:
        super().setup()
        self.fake._register_connection(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.fake._register_connection(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_TRACE(self) -> None:
        self._not_allowed()

    def do_CONNECT(self) -> None:
        self._not_allowed()

    def _not_allowed(self) -> None:
        # libevent answers methods outside evhttp_set_allowed_methods() itself.
        self._read_body()
        self._send(_Response(501, _libevent_error_page(501), _HTML))

    def _read_body(self) -> bytes | None:
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks: list[bytes] = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    return None
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while True:  # trailers
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    return b"".join(chunks)
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    return None
                chunks.append(chunk)
                self.rfile.readline(3)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            return None
        if length < 0:
            return None
        data = self.rfile.read(length)
        return data if len(data) == length else None

    def _send(self, resp: _Response) -> None:
        if resp.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        lines = [
            f"HTTP/1.1 {resp.status} {_phrase(resp.status)}",
            f"Content-Type: {resp.content_type}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            f"Content-Length: {len(resp.body)}",
        ]
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        payload = head if self.command == "HEAD" else head + resp.body
        try:
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def _dispatch(self) -> None:
        fake = self.fake
        parts = self.requestline.split()
        target = parts[1] if len(parts) >= 2 else self.path
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        if body is None:
            self.close_connection = True
            self._send(_Response(400, _libevent_error_page(400), _HTML))
            return
        wire_length = len(body)
        if "gzip" in self.headers.get("Content-Encoding", ""):
            body = _gunzip(body)
        parsed: Any = None
        parse_error: _TFError | None = None
        try:
            parsed = _parse_json(body)
        except _TFError as exc:
            parse_error = exc
        record = RecordedRequest(
            method=self.command,
            path=target,
            headers=headers,
            body_length=wire_length,
            json=parsed if len(body) <= fake.record_json_limit else None,
        )
        fake._record(record)
        resp = fake._respond(self.command, target, body, parsed, parse_error)
        record.status = 0 if resp.drop else resp.status
        self._send(resp)


class FakeTFServing:
    """Threaded fake TF Serving REST server; usable as a context manager.

    Starts listening on construction (``autostart=True``).  Fault injection knobs can be
    changed at any time from the test thread.
    """

    def __init__(
        self,
        models: ModelSpec | Sequence[ModelSpec] | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        autostart: bool = True,
        image_log_limit: int = 64,
        record_json_limit: int = 4 << 20,
    ) -> None:
        if models is None:
            models = ModelSpec()
        specs = [models] if isinstance(models, ModelSpec) else list(models)
        if not specs:
            raise ValueError("at least one ModelSpec is required")
        self._models: dict[str, ModelSpec] = {}
        for spec in specs:
            if spec.name in self._models:
                raise ValueError(f"duplicate model name {spec.name!r}")
            self._models[spec.name] = spec
        self._host = host
        self._port = port
        self.image_log_limit = image_log_limit
        self.record_json_limit = record_json_limit

        # Fault injection / behaviour knobs (plain attributes, read on every request).
        self.delay_s: float = 0.0
        self.max_concurrent: int | None = None
        self.override_predict_json: object | None = None
        self.loading: bool = False

        self._lock = threading.Lock()
        self._cond = threading.Condition(threading.Lock())
        self._faults: deque[_Fault] = deque()
        self._requests: list[RecordedRequest] = []
        self._images: deque[Image.Image] = deque(maxlen=max(1, image_log_limit))
        self._ranges: list[tuple[float, float]] = []
        self._in_flight = 0
        self.peak_concurrent = 0
        self.connections_accepted = 0
        self._open_conns: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._closed = False
        if autostart:
            self.start()

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start listening (again) on the same port."""
        if self._closed:
            raise RuntimeError("server is closed")
        if self._httpd is not None:
            return
        httpd = _HTTPServer((self._host, self._port), self)
        self._port = int(httpd.server_address[1])
        self._stop_event.clear()
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-tfserving-{self._port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and reset every open connection (port is kept for :meth:`start`)."""
        httpd = self._httpd
        if httpd is None:
            return
        self._httpd = None
        self._stop_event.set()
        with self._cond:
            self._cond.notify_all()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._open_conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._closed = True

    def __enter__(self) -> FakeTFServing:
        if self._httpd is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    # ---- models ----------------------------------------------------------------------------

    @property
    def spec(self) -> ModelSpec:
        """The first (usually only) model."""
        return next(iter(self._models.values()))

    @property
    def models(self) -> dict[str, ModelSpec]:
        with self._lock:
            return dict(self._models)

    def set_model(self, spec: ModelSpec) -> None:
        """Add or replace a model (e.g. to emulate a new version being loaded)."""
        with self._lock:
            self._models[spec.name] = spec

    def remove_model(self, name: str) -> None:
        with self._lock:
            self._models.pop(name, None)

    # ---- records ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of every request received so far (oldest first)."""
        with self._lock:
            return list(self._requests)

    @property
    def predict_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and ":predict" in r.path.lower()]

    @property
    def predict_images(self) -> list[Image.Image]:
        """Images decoded from successful predict requests (last ``image_log_limit``)."""
        with self._lock:
            return list(self._images)

    @property
    def tensor_ranges(self) -> list[tuple[float, float]]:
        """(min, max) of the raw values of each tensor instance received by predict."""
        with self._lock:
            return list(self._ranges)

    def reset_records(self) -> None:
        with self._lock:
            self._requests.clear()
            self._images.clear()
            self._ranges.clear()
            self.peak_concurrent = 0

    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(rec)

    def _register_connection(self, conn: socket.socket, opened: bool) -> None:
        with self._lock:
            if opened:
                self._open_conns.add(conn)
                self.connections_accepted += 1
            else:
                self._open_conns.discard(conn)

    # ---- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        body: str | bytes,
        count: int = 1,
        content_type: str = _JSON,
        *,
        scope: FaultScope = "predict",
    ) -> None:
        """Answer the next ``count`` predict requests (``scope="v1"``: any /v1 request) with
        exactly ``status`` / ``body`` / ``content_type``.  Faults queue up FIFO."""
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        with self._lock:
            self._faults.append(_Fault(scope, count, status, data, content_type))

    def drop_next(self, count: int = 1, *, scope: FaultScope = "predict") -> None:
        """Close the connection without any response for the next ``count`` requests."""
        with self._lock:
            self._faults.append(_Fault(scope, count, 0, b"", _JSON))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, is_predict: bool) -> _Fault | None:
        with self._lock:
            while self._faults and self._faults[0].remaining <= 0:
                self._faults.popleft()
            if not self._faults:
                return None
            fault = self._faults[0]
            if fault.scope == "predict" and not is_predict:
                return None
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.popleft()
            return fault

    # ---- request processing ----------------------------------------------------------------

    def _respond(
        self,
        method: str,
        target: str,
        body: bytes,
        parsed: Any,
        parse_error: _TFError | None,
    ) -> _Response:
        path = _uri_path_and_query(target)
        if path is None:
            return _Response(400, _libevent_error_page(400), _HTML)
        if not _V1_RE.fullmatch(path):
            return _Response(404, _libevent_error_page(404), _HTML)
        m = _PREDICT_RE.fullmatch(path) if method == "POST" else None
        is_predict = m is not None and m.group(4) == "predict"
        fault = self._take_fault(is_predict)
        if fault is not None:
            if fault.status == 0:
                return _Response(0, b"", drop=True)
            return _Response(fault.status, fault.body, fault.content_type)
        if method == "OPTIONS":
            return _Response(200, b"")
        try:
            return _Response(200, _encode(self._process(method, path, parsed, parse_error)))
        except _TFError as exc:
            return _Response(exc.http_status, b"" if exc.empty_body else _error_body(exc.message))
        except Exception as exc:  # a broken custom classify() etc.
            return _Response(500, _error_body(f"{type(exc).__name__}: {exc}"))

    def _process(self, method: str, path: str, parsed: Any, parse_error: _TFError | None) -> str:
        malformed = _invalid(f"Malformed request: {method} {path}")
        if method == "POST":
            m = _PREDICT_RE.fullmatch(path)
        elif method == "GET":
            m = _STATUS_RE.fullmatch(path)
        else:
            raise malformed
        if m is None:
            raise malformed
        raw_name, version_str, raw_label, verb = m.groups()
        name = _curl_unescape(raw_name) if raw_name else ""
        version: int | None = None
        if version_str:
            as_int = int(version_str)
            if as_int > _INT64_MAX:
                # ParseModelInfo() errors are returned before the body is filled in.
                raise _TFError(
                    "INVALID_ARGUMENT",
                    f"Failed to convert version: {version_str} to numeric.",
                    empty_body=True,
                )
            version = as_int
        label = _curl_unescape(raw_label) if raw_label else None

        if method == "POST":
            if verb == "predict":
                return self._predict(name, version, label, parsed, parse_error)
            if verb in ("classify", "regress"):
                return self._classify_regress(verb, name, version, label, parsed, parse_error)
            raise malformed  # e.g. ":PREDICT" matches the regex but no handler
        if verb == "metadata":
            return self._metadata(name, version, label)
        return self._status(name, version)

    def _resolve(self, name: str, version: int | None, label: str | None) -> tuple[ModelSpec, int]:
        """ServerCore::GetServableHandle."""
        with self._lock:
            spec = self._models.get(name)
        if label is not None:
            if spec is None or label not in spec.labels:
                raise _invalid(f"Unrecognized servable version label: {label}")
            version = spec.labels[label]
        available = () if spec is None or self.loading else spec.versions
        if version is None:
            if not available or spec is None:
                raise _TFError("NOT_FOUND", f"Servable not found for request: Latest({name})")
            return spec, max(available)
        if spec is None or version not in available:
            raise _TFError(
                "NOT_FOUND", f"Servable not found for request: Specific({name}, {version})"
            )
        return spec, version

    def _status(self, name: str, version: int | None) -> str:
        if not name:
            raise _invalid("Missing model name in request.")
        with self._lock:
            spec = self._models.get(name)
        known = sorted(spec.versions, reverse=True) if spec is not None else []
        if version is not None:
            if version not in known:
                raise _TFError("NOT_FOUND", f"Could not find version {version} of model {name}")
            known = [version]
        elif not known:
            raise _TFError("NOT_FOUND", f"Could not find any versions of model {name}")
        state = "LOADING" if self.loading else "AVAILABLE"
        doc = {
            "model_version_status": [
                {
                    "version": str(v),
                    "state": state,
                    "status": {"error_code": "OK", "error_message": ""},
                }
                for v in known
            ]
        }
        return _pb_json(doc) + "\n"

    def _metadata(self, name: str, version: int | None, label: str | None) -> str:
        if not name:
            raise _invalid("Missing model name in request.")
        spec, resolved = self._resolve(name, version, label)
        sigs = _signatures(spec)
        model_spec = {"name": spec.name, "signature_name": "", "version": str(resolved)}
        sig_map = {"signature_def": {k: v.to_json() for k, v in sorted(sigs.items())}}
        return (
            '{\n"model_spec":'
            + _pb_json(model_spec)
            + "\n,\n"
            + '"metadata": {"signature_def": '
            + _pb_json(sig_map)
            + "\n}\n}\n"
        )

    def _signature_name(self, doc: Any) -> str:
        if "signature_name" in doc:
            sig = doc["signature_name"]
            if not isinstance(sig, str):
                raise _invalid(
                    f"JSON Value: {_json_value_to_string(doc)} not formatted correctly. "
                    "'signature_name' key must be a string value."
                )
            return sig
        return ""

    @staticmethod
    def _check_document(parsed: Any, parse_error: _TFError | None) -> Any:
        if parse_error is not None:
            raise parse_error
        if not isinstance(parsed, dict):
            raise _invalid(f"JSON Value: {_json_value_to_string(parsed)} Is not object")
        return parsed

    def _predict(
        self,
        name: str,
        version: int | None,
        label: str | None,
        parsed: Any,
        parse_error: _TFError | None,
    ) -> str:
        doc = self._check_document(parsed, parse_error)
        sig_name = self._signature_name(doc)
        spec, _ = self._resolve(name, version, label)
        signame = sig_name or "serving_default"
        signature = _signatures(spec).get(signame)
        if signature is None:
            raise _invalid(f'Serving signature name: "{signame}" not found in signature def')
        inputs = {alias: info.dtype for alias, info in signature.inputs.items()}
        if not inputs:
            raise _invalid(f"Failed to get input map for signature: {sig_name or 'DEFAULT'}")

        if "instances" in doc:
            if "inputs" in doc:
                raise _invalid(
                    f"JSON Value: {_json_value_to_string(doc)} Not formatted correctly expecting "
                    "only one of 'inputs' or 'instances' keys to exist "
                )
            instances = doc["instances"]
            if not isinstance(instances, list):
                raise _invalid(
                    f"JSON Value: {_json_value_to_string(doc)} Excepting 'instances' to be an "
                    "list/array"
                )
            if not instances:
                raise _invalid(
                    f"JSON Value: {_json_value_to_string(doc)} No values in 'instances' array"
                )
            row = True
            tensors = _tensors_from_instances(instances, inputs)
        elif "inputs" in doc:
            row = False
            tensors = _tensors_from_inputs(doc["inputs"], inputs)
        else:
            raise _invalid("Missing 'inputs' or 'instances' key")

        return self._run_model(spec, signature, tensors, row)

    def _graph_shape_check(self, spec: ModelSpec, tensor: _Tensor, row: bool) -> None:
        expected = [] if spec.input_kind == "b64" else [spec.height, spec.width, 3]
        got = tensor.shape[1:]
        if len(tensor.shape) >= 1 and got == expected:
            return
        if row:
            size = 1
            for d in got:
                size *= d
            want = 1
            for d in expected:
                want *= d
            inner = (
                f"Expecting tensor size: {want} but got: {size}"
                if size != want
                else f"Expecting shape {_shape_str(expected)} but got: {_shape_str(got)}"
            )
            raise _invalid(
                f"Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
                f"{inner}"
            )
        raise _invalid(
            f"Expecting shape {_shape_str([-1, *expected])} but got: {_shape_str(tensor.shape)}"
        )

    def _acquire_slot(self) -> bool:
        with self._cond:
            while True:
                if self._stop_event.is_set():
                    return False
                limit = self.max_concurrent
                if limit is None or self._in_flight < limit:
                    break
                self._cond.wait(0.05)
            self._in_flight += 1
            self.peak_concurrent = max(self.peak_concurrent, self._in_flight)
            return True

    def _release_slot(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def _run_model(
        self, spec: ModelSpec, signature: _Signature, tensors: dict[str, _Tensor], row: bool
    ) -> str:
        if not self._acquire_slot():
            raise _TFError("UNAVAILABLE", "Server is shutting down")
        try:
            delay = self.delay_s
            if delay > 0:
                self._stop_event.wait(delay)
            return self._compute(spec, signature, tensors, row)
        finally:
            self._release_slot()

    def _compute(
        self, spec: ModelSpec, signature: _Signature, tensors: dict[str, _Tensor], row: bool
    ) -> str:
        tensor = tensors[spec.alias] if spec.alias in tensors else next(iter(tensors.values()))
        self._graph_shape_check(spec, tensor, row)
        batch = tensor.shape[0]
        images: list[Image.Image] = []
        ranges: list[tuple[float, float]] = []
        if spec.input_kind == "b64":
            images = [_decode_image(cast(bytes, v)) for v in tensor.values]
        else:
            n = spec.height * spec.width * 3
            for i in range(batch):
                chunk = tensor.values[i * n : (i + 1) * n]
                ranges.append((float(min(chunk)), float(max(chunk))))
                images.append(_tensor_to_image(chunk, spec.height, spec.width, spec))
        classify = spec.classify
        classes: list[int] = []
        for img in images:
            k = classify(img) if classify is not None else default_classify(img, spec.num_classes)
            if not 0 <= int(k) < spec.num_classes:
                raise _TFError("INTERNAL", f"classify() returned {k} outside 0..{spec.num_classes}")
            classes.append(int(k))
        with self._lock:
            self._images.extend(images)
            self._ranges.extend(ranges)

        override = self.override_predict_json
        if override is not None:
            if isinstance(override, bytes | bytearray):
                return bytes(override).decode("utf-8", "surrogateescape")
            return json.dumps(override, indent=4)

        n_cls = spec.num_classes
        rest = (1.0 - spec.top_probability) / (n_cls - 1) if n_cls > 1 else 0.0
        top_txt = _write_decimal(_f32(spec.top_probability), single=True)
        rest_txt = _write_decimal(_f32(rest), single=True)

        def prob_row(k: int) -> list[str]:
            vals = [rest_txt] * n_cls
            vals[k] = top_txt
            return vals

        outputs: dict[str, tuple[str, list[Any]]] = {}
        for alias in sorted(signature.outputs):
            if alias == "classes":
                outputs[alias] = ("int", [str(k) for k in classes])
            else:
                outputs[alias] = ("probs", [prob_row(k) for k in classes])
        w = _PrettyWriter()
        w.start_object()
        multi = len(outputs) > 1
        if row:
            w.key("predictions")
            w.start_array()
            for i in range(batch):
                if multi:
                    w.start_object()
                w.single_line = True
                for alias, (kind, per_example) in outputs.items():
                    if multi:
                        w.key(alias)
                    self._write_example(w, kind, per_example[i])
                w.single_line = False
                if multi:
                    w.end_object()
            w.end_array()
        else:
            w.key("outputs")
            if multi:
                w.start_object()
            for alias, (kind, per_example) in outputs.items():
                if multi:
                    w.key(alias)
                w.start_array()
                for item in per_example:
                    self._write_example(w, kind, item)
                w.end_array()
            if multi:
                w.end_object()
        w.end_object()
        return w.text()

    @staticmethod
    def _write_example(w: _PrettyWriter, kind: str, item: Any) -> None:
        if kind == "int":
            w.raw(cast(str, item))
            return
        w.start_array()
        for text in cast(list[str], item):
            w.raw(text)
        w.end_array()

    def _classify_regress(
        self,
        verb: str,
        name: str,
        version: int | None,
        label: str | None,
        parsed: Any,
        parse_error: _TFError | None,
    ) -> str:
        doc = self._check_document(parsed, parse_error)
        sig_name = self._signature_name(doc)
        if "context" in doc:
            _check_example(doc["context"])
        if "examples" not in doc:
            raise _invalid(
                f"JSON Value: {_json_value_to_string(doc)} When method is classify, key "
                "'examples' is expected and was not found"
            )
        examples = doc["examples"]
        if not isinstance(examples, list):
            raise _invalid(
                f"JSON Value: {_json_value_to_string(doc)} Expecting 'examples' value to be an "
                "list/array"
            )
        if not examples:
            raise _invalid(
                f"JSON Value: {_json_value_to_string(doc)} 'examples' value is an empty array"
            )
        for example in examples:
            _check_example(example)
        spec, _ = self._resolve(name, version, label)
        signame = sig_name or "serving_default"
        signature = _signatures(spec).get(signame)
        if signature is None:
            raise _invalid(f"No signature was found with the name: {signame}")
        if len(signature.inputs) != 1:
            raise _invalid("Expected one input Tensor.")
        if verb == "classify":
            if len(signature.outputs) not in (1, 2):
                raise _invalid(
                    f"Expected one or two output Tensors, found {len(signature.outputs)}"
                )
            if "inputs" not in signature.inputs:
                raise _invalid(
                    "No classification inputs found in SignatureDef: " + signature.debug_string()
                )
        else:
            if len(signature.outputs) != 1:
                raise _invalid("Expected one output Tensor.")
            if "inputs" not in signature.inputs:
                raise _invalid(
                    "No regression inputs found in SignatureDef: " + signature.debug_string()
                )
        raise _TFError("UNIMPLEMENTED", "tf.Example signatures are not emulated by the fake")


def _check_example(val: Any) -> None:
    """MakeExampleFromJsonObject / AddValueToFeature type checks."""
    if not isinstance(val, dict):
        raise _invalid(f"Example must be JSON object but got JSON {_json_type(val)}")
    for name, content in val.items():
        kind = ""
        for item in content if isinstance(content, list) else [content]:
            if (
                item is None
                or isinstance(item, list)
                or (isinstance(item, dict) and not _is_b64_object(item))
            ):
                raise _invalid(
                    f"Feature: {name} has element with unexpected JSON type: {_json_type(item)}"
                )
            if isinstance(item, int):
                this = "int64"
            elif isinstance(item, float):
                this = "float"
            else:
                this = "bytes"
            if kind and kind != this:
                raise _invalid(f"Unexpected element type in feature: {name} expecting type: {kind}")
            if isinstance(item, dict):
                _decode_b64_object(item)
            kind = this


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.tfserving",
        description="Fake TensorFlow Serving REST server for manual testing.",
    )
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model-name", default="resnet")
    parser.add_argument("--num-classes", type=int, default=1001)
    parser.add_argument("--versions", default="1", help="comma separated, e.g. 1,2")
    parser.add_argument("--label", action="append", default=[], help="name=version")
    parser.add_argument("--input-kind", choices=_INPUT_KINDS, default="b64")
    parser.add_argument("--input-alias", default=None)
    parser.add_argument("--size", type=int, default=224, help="H = W for tensor inputs")
    parser.add_argument("--outputs", choices=_OUTPUT_KINDS, default="classes_probabilities")
    parser.add_argument("--tensor-range", choices=_TENSOR_RANGES, default="0_1")
    parser.add_argument("--tf2", action="store_true")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per predict")
    parser.add_argument("--max-concurrent", type=int, default=None)
    parser.add_argument(
        "--make-image",
        nargs=2,
        metavar=("CLASS_ID", "OUT.jpg"),
        help="write a JPEG that the fake classifies as CLASS_ID, then exit",
    )
    args = parser.parse_args(argv)

    if args.make_image:
        class_id, out = int(args.make_image[0]), args.make_image[1]
        with open(out, "wb") as fh:
            fh.write(jpeg_bytes(image_for_class(args.num_classes, class_id)))
        print(f"wrote {out} (class {class_id} of {args.num_classes})")
        return 0

    labels: dict[str, int] = {}
    for item in args.label:
        key, _, value = item.partition("=")
        labels[key] = int(value)
    spec = ModelSpec(
        name=args.model_name,
        versions=tuple(int(v) for v in args.versions.split(",") if v.strip()),
        labels=labels,
        input_kind=args.input_kind,
        input_alias=args.input_alias,
        height=args.size,
        width=args.size,
        num_classes=args.num_classes,
        outputs=args.outputs,
        tf2=args.tf2,
        tensor_range=args.tensor_range,
    )
    srv = FakeTFServing(spec, port=args.port, host=args.host)
    srv.delay_s = args.delay
    srv.max_concurrent = args.max_concurrent
    print(f"Fake TF Serving listening on {srv.url}  (model {spec.name!r})", flush=True)
    print(f"  status:   {srv.url}/v1/models/{spec.name}", flush=True)
    print(f"  predict:  POST {srv.url}/v1/models/{spec.name}:predict", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
