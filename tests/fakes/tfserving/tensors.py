"""JSON -> tensor conversion with the rules and error texts of ``json_tensor.cc``."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from tests.fakes.tfserving.errors import _invalid, _TFError
from tests.fakes.tfserving.rjson import _JObj, _json_type, _json_value_to_string

_DTYPE_NAMES = {
    "DT_FLOAT": "float",
    "DT_UINT8": "uint8",
    "DT_STRING": "string",
    "DT_HALF": "half",
    "DT_INT64": "int64",
}

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
# tf.Example checks (:classify / :regress)
# --------------------------------------------------------------------------------------------


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
