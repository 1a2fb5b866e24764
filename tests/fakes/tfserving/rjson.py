"""rapidjson-compatible JSON: the server's output formatting and its parse errors."""

from __future__ import annotations

import json
import struct
from typing import Any, cast

from tests.fakes.tfserving.errors import _invalid

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
