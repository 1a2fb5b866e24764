"""The Open Inference Protocol's wire format: datatypes, tensor metadata in the core's words,
and request and answer bodies in JSON or with the binary tensor data extension.

From the KServe v2 REST spec (``required_api.md``) and Triton's ``extension_binary_data.md``
(docs/v2-protocol.md has the details and sources):

* a tensor is ``{"name", "datatype", "shape", "data"}``, ``data`` flat in row-major order;
* binary: the JSON header comes first and its length is in the ``Inference-Header-Content-
  Length`` header; each binary tensor follows it in order, its size in its
  ``"parameters": {"binary_data_size": n}``; numbers little-endian, a BYTES element as a
  4-byte little-endian length and then its bytes. An output asked for with
  ``{"binary_data": true}`` comes back the same way.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.core.serving import DType, TensorInfo
from bot.core.signature import brief, dim_size, unreadable
from bot.errors import BadPrediction

HEADER_LENGTH = "Inference-Header-Content-Length"
BYTES = "BYTES"
# The protocol's datatypes in the core's words, and each number type's little-endian format.
DTYPES: dict[str, DType] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BF16": "bfloat16",
    BYTES: "string",
}
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
MAX_ELEMENTS = 16 * 1024 * 1024  # an answer's tensor may not claim more elements than this


@dataclass(frozen=True)
class Tensor:
    """One tensor of an answer: its datatype, shape, and values (nested by the shape)."""

    datatype: str
    shape: tuple[int, ...]
    values: Any


def tensor_infos(entries: Any, where: str, which: str) -> dict[str, tuple[str, TensorInfo]]:
    """A model's ``inputs`` or ``outputs`` metadata: {name: (datatype, TensorInfo)}, the shape as
    the server gave it (-1 for a size it leaves open)."""
    if not isinstance(entries, list):
        raise unreadable(where, f"its metadata's {which} are {brief(entries)}, not a list")
    found: dict[str, tuple[str, TensorInfo]] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise unreadable(where, f"an entry of its {which} is {brief(entry)}, without a name")
        what = f"{which[:-1]} {entry['name']!r}"
        datatype = entry.get("datatype")
        shape = entry.get("shape")
        if not isinstance(datatype, str):
            raise unreadable(where, f"{what} has the datatype {brief(datatype)}")
        if not isinstance(shape, list):
            raise unreadable(where, f"{what} has the shape {brief(shape)}, not a list")
        sizes = tuple(dim_size(d, where, what) for d in shape)
        found[entry["name"]] = (
            datatype,
            TensorInfo(DTYPES.get(datatype, "other"), sizes, datatype),
        )
    return found


def request_body(
    inputs: Sequence[Mapping[str, Any]],
    outputs: Sequence[Mapping[str, Any]],
    binary: Sequence[bytes | None],
) -> tuple[bytes, dict[str, str]]:
    """An infer request: ``inputs`` as JSON entries; an input whose ``binary`` is bytes goes in
    the binary part (its ``binary_data_size`` set here). Returns the body and its headers."""
    entries = []
    tail = []
    for entry, data in zip(inputs, binary, strict=True):
        if data is None:
            entries.append(dict(entry))
        else:
            params = {**entry.get("parameters", {}), "binary_data_size": len(data)}
            entries.append({**entry, "parameters": params})
            tail.append(data)
    header = json.dumps({"inputs": entries, "outputs": list(outputs)}, separators=(",", ":"))
    head = header.encode("utf-8")
    if not tail:
        return head, {"Content-Type": "application/json"}
    headers = {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))}
    return head + b"".join(tail), headers


def bytes_elements(values: Sequence[bytes]) -> bytes:
    """BYTES elements in the binary extension: each a 4-byte little-endian length, then it."""
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


def numbers(values: Any, datatype: str) -> bytes:
    """A number tensor (nested lists or an array) as little-endian binary."""
    return np.asarray(values, dtype=np.dtype(NUMPY[datatype])).tobytes()


def read_answer(content: bytes, headers: Mapping[str, str], where: str) -> dict[str, Tensor]:
    """The outputs of an infer answer, JSON or binary: {name: Tensor}."""
    declared = headers.get(HEADER_LENGTH)
    if declared is not None:
        if not declared.strip().isdigit() or int(declared) > len(content):
            raise BadPrediction(
                f"{where} answered with {HEADER_LENGTH} {declared[:20]!r} for a body of "
                f"{len(content):,} bytes"
            )
        head, rest = content[: int(declared)], memoryview(content)[int(declared) :]
    else:
        head, rest = content, memoryview(b"")
    try:
        doc = json.loads(head)
    except ValueError as exc:
        raise BadPrediction(f"{where} answered an inference with a body that is not JSON") from exc
    outputs = doc.get("outputs") if isinstance(doc, dict) else None
    if not isinstance(outputs, list):
        raise BadPrediction(f"{where} answered an inference without its outputs")
    found: dict[str, Tensor] = {}
    offset = 0
    for out in outputs:
        if not isinstance(out, Mapping) or not isinstance(out.get("name"), str):
            raise BadPrediction(f"{where} answered an output {brief(out)} without a name")
        tensor, used = _tensor(out, rest[offset:], where)
        offset += used
        found[out["name"]] = tensor
    return found


def _tensor(out: Mapping[str, Any], rest: memoryview, where: str) -> tuple[Tensor, int]:
    name, datatype, shape = out["name"], out.get("datatype"), out.get("shape")
    what = f"output {name!r}"
    if not isinstance(datatype, str) or not isinstance(shape, list):
        raise BadPrediction(f"{where} answered {what} without its datatype and shape")
    sizes = tuple(dim_size(d, where, what) for d in shape)
    count = math.prod(sizes)
    if min(sizes, default=0) < 0 or count > MAX_ELEMENTS:
        raise BadPrediction(f"{where} answered {what} with the shape {list(sizes)}")
    params = out.get("parameters")
    size = params.get("binary_data_size") if isinstance(params, Mapping) else None
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= len(rest):
            raise BadPrediction(f"{where} answered {what} with binary_data_size {brief(size)}")
        flat = _from_binary(bytes(rest[:size]), datatype, count, where, what)
        return Tensor(datatype, sizes, nest(flat, sizes)), size
    data = out.get("data")
    if not isinstance(data, list):
        raise BadPrediction(f"{where} answered {what} without data")
    flat = _flatten(data)
    if len(flat) != count:
        raise BadPrediction(
            f"{where} answered {what} with {len(flat)} values for the shape {list(sizes)}"
        )
    return Tensor(datatype, sizes, nest(flat, sizes)), 0


def _from_binary(data: bytes, datatype: str, count: int, where: str, what: str) -> list[Any]:
    if datatype == BYTES:
        values: list[Any] = []
        at = 0
        while at < len(data):
            if at + 4 > len(data):
                break
            (length,) = struct.unpack_from("<I", data, at)
            values.append(data[at + 4 : at + 4 + length].decode("utf-8", errors="replace"))
            at += 4 + length
        if len(values) != count or at != len(data):
            raise BadPrediction(f"{where} answered {what} with BYTES that do not fit its shape")
        return values
    kind = NUMPY.get(datatype)
    if kind is None:
        raise BadPrediction(f"{where} answered {what} as {datatype[:20]!r}, not a number type")
    dtype = np.dtype(kind)
    if len(data) != count * dtype.itemsize:
        raise BadPrediction(
            f"{where} answered {what} with {len(data):,} bytes for {count:,} {datatype} values"
        )
    flat: list[Any] = np.frombuffer(data, dtype=dtype).tolist()
    return flat


def _flatten(data: list[Any]) -> list[Any]:
    """JSON ``data`` is flat by the spec; Triton also answers nested lists. Both are read."""
    if not any(isinstance(v, list) for v in data):
        return data
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            flat.append(value)
        else:
            stack.pop()
    return flat


def nest(flat: list[Any], shape: Sequence[int]) -> Any:
    """Flat row-major values as nested lists of ``shape`` (a scalar for an empty shape)."""
    if not shape:
        return flat[0] if flat else None
    values: Any = flat
    for size in reversed(shape[1:]):
        values = [values[i : i + size] for i in range(0, len(values), size)] if size else []
    return values
