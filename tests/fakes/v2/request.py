"""An infer request's body as each flavour reads it: the JSON part, the binary part, and the
input tensors with their data (``Tensor.values``: BYTES elements as ``bytes`` from the binary
part or ``str`` from JSON; numbers as a flat NumPy array).

Triton: ``http_server.cc`` ``GetInferenceHeaderLength``, ``EVBufferToJson``,
``ParseJsonTritonIO``, ``ReadDataFromJson``; common ``triton_json.h`` for the
``attempt to access …`` texts (TritonJson errors are INTERNAL, so HTTP 500). KServe:
``InferRequest.from_bytes`` / ``from_inference_request``. OVMS:
``http_rest_api_handler.cpp`` ``prepareGrpcRequest``, ``handleBinaryInputs``. MLServer and
KServe parse JSON with FastAPI: a non-JSON body is a 422 ``{"detail": [...]}``.
"""

from __future__ import annotations

import email.message
import json
import math
import re
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tests.fakes.v2.flavours import FASTAPI, Flavour, detail, error
from tests.fakes.v2.model import NUMPY

HEADER_LENGTH = "Inference-Header-Content-Length"
INT_TYPES = frozenset({"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"})
# Python's json messages in rapidjson's words (GetParseError_En); others: "Invalid value."
RAPIDJSON = {
    "Extra data": "The document root must not be followed by other values.",
    "Expecting property name enclosed in double quotes": "Missing a name for object member.",
    "Expecting ':' delimiter": "Missing a colon after a name of object member.",
    "Expecting ',' delimiter": "Missing a comma or '}' after an object member.",
    "Unterminated string starting at": "Missing a closing quotation mark in string.",
}


@dataclass
class Parsed:
    doc: Any
    tail: bytes = b""
    header_length: int | None = None


@dataclass
class Tensor:
    name: str
    datatype: str
    shape: list[int]
    values: Any  # list[bytes | str] for BYTES, else a flat np.ndarray
    binary: bool
    parameters: dict[str, Any] = field(default_factory=dict)


def params_of(entry: dict[str, Any]) -> dict[str, Any]:
    """An input's or output's ``parameters`` object ({} if absent or not an object)."""
    params = entry.get("parameters")
    return params if isinstance(params, dict) else {}


def is_json(content_type: str | None) -> bool:
    """FastAPI's rule: no Content-Type, or application/json or application/*+json."""
    if not content_type:
        return True
    msg = email.message.Message()
    msg["content-type"] = content_type
    sub = msg.get_content_subtype()
    return msg.get_content_maintype() == "application" and (sub == "json" or sub.endswith("+json"))


def _loads(data: bytes) -> Any:
    def no_constant(name: str) -> Any:
        raise json.JSONDecodeError("Expecting value", name, 0)

    return json.loads(data, parse_constant=no_constant)


def _json_error(exc: Exception, data: bytes) -> tuple[str, int]:
    if not data.strip():
        return "The document is empty.", len(data)
    if isinstance(exc, UnicodeDecodeError):
        return "Invalid encoding in string.", exc.start
    assert isinstance(exc, json.JSONDecodeError)
    return RAPIDJSON.get(exc.msg, "Invalid value."), exc.pos


def read_body(flavour: Flavour, body: bytes, headers: Any, max_json: int) -> Parsed:
    """The JSON part and the binary part, or the flavour's error for a body it cannot read."""
    if flavour in FASTAPI and (flavour == "mlserver" or is_json(headers.get("Content-Type"))):
        if not is_json(headers.get("Content-Type")):  # MLServer: bytes are not a request object
            raise detail(
                422, [_pydantic("model_attributes_type", ["body"], body[:80].decode("latin-1"))]
            )
        try:
            return Parsed(_loads(body))
        except (ValueError, UnicodeDecodeError) as exc:
            msg, pos = _json_error(exc, body)
            item = {"type": "json_invalid", "loc": ["body", pos], "msg": "JSON decode error"}
            raise detail(422, [{**item, "input": {}, "ctx": {"error": msg}}]) from None
    declared = headers.get(HEADER_LENGTH)
    if flavour == "kserve":  # a non-JSON body goes to InferRequest.from_bytes
        if declared is None:
            raise error(
                400, f"received byte inputs, but the'{HEADER_LENGTH.lower()}' header is missing."
            )
        try:
            cut = int(declared)
            return Parsed(_loads(body[:cut]), body[cut:], cut)
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
                raise error(400, f"Unrecognized request format: {exc}") from None
            raise error(500, f"ValueError : {exc}") from None
    cut = len(body) if declared is None else _header_length(flavour, declared, len(body))
    if flavour == "triton" and cut > max_json:
        raise error(
            400,
            f"request JSON size of {cut} bytes exceeds the maximum allowed input size of "
            f"{max_json} bytes. Use --http-max-input-size to increase the limit.",
        )
    try:
        doc = _loads(body[:cut])
    except (ValueError, UnicodeDecodeError) as exc:
        msg, pos = _json_error(exc, body[:cut])
        if flavour == "ovms":
            raise error(412, f"The file is not valid json - Error: {msg} Offset: {pos}") from None
        raise error(400, f"failed to parse the request JSON buffer: {msg} at {pos}") from None
    if flavour == "ovms" and not isinstance(doc, dict):
        raise error(400, "Request body should be JSON object")
    return Parsed(doc, body[cut:], None if declared is None else cut)


def _header_length(flavour: Flavour, text: str, content_length: int) -> int:
    if flavour == "ovms":
        if not text.strip().isdigit():
            raise error(500, f"{HEADER_LENGTH} header is invalid and couldn't be parsed")
        if int(text) > content_length:
            raise error(500, f"{HEADER_LENGTH} header exceeds actual payload length")
        return int(text)
    m = re.match(r"\s*([+-]?\d+)", text)  # std::stoi
    if m is None:
        raise error(400, f"Unable to parse {HEADER_LENGTH}, got: {text}")
    value = int(m.group(1))
    if not -(2**31) <= value < 2**31:
        raise error(
            400,
            f"Unable to parse {HEADER_LENGTH}, value is out of range [ -2147483648, 2147483647 ], "
            f"got: {text}",
        )
    if value < 0 or value > content_length:
        raise error(
            400, f"inference header size should be in range (0, {content_length}), got: {text}"
        )
    if value == 0:
        raise error(400, "[stand-in] raw binary requests (header length 0) are not emulated")
    return value


def _pydantic(kind: str, loc: list[Any], value: Any) -> dict[str, Any]:
    msg = {
        "missing": "Field required",
        "model_attributes_type": (
            "Input should be a valid dictionary or object to extract fields from"
        ),
        "list_type": "Input should be a valid list",
        "string_type": "Input should be a valid string",
        "int_type": "Input should be a valid integer",
    }[kind]
    return {"type": kind, "loc": loc, "msg": msg, "input": value}


def validate_fastapi(flavour: Flavour, doc: Any) -> None:
    """The pydantic ``InferenceRequest`` check of MLServer and KServe (422 on failure)."""
    if not isinstance(doc, dict):
        raise detail(422, [_pydantic("model_attributes_type", ["body"], doc)])
    inputs = doc.get("inputs")
    if not isinstance(inputs, list):
        kind = "missing" if inputs is None else "list_type"
        raise detail(422, [_pydantic(kind, ["body", "inputs"], inputs if inputs else doc)])
    problems = []
    for i, entry in enumerate(inputs):
        if not isinstance(entry, dict):
            problems.append(_pydantic("model_attributes_type", ["body", "inputs", i], entry))
            continue
        for key in ("name", "shape", "datatype", "data"):
            if key not in entry:
                problems.append(_pydantic("missing", ["body", "inputs", i, key], entry))
        shape = entry.get("shape", [])
        if not isinstance(shape, list):
            problems.append(_pydantic("list_type", ["body", "inputs", i, "shape"], shape))
        else:
            for j, d in enumerate(shape):
                if not isinstance(d, int) or isinstance(d, bool):
                    problems.append(_pydantic("int_type", ["body", "inputs", i, "shape", j], d))
        if flavour == "kserve" and "data" in entry and not isinstance(entry["data"], list):
            problems.append(_pydantic("list_type", ["body", "inputs", i, "data"], entry["data"]))
    if problems:
        raise detail(422, problems)


# -- Triton ----------------------------------------------------------------------------------
def _member(entry: dict[str, Any], key: str, kind: type, what: str) -> Any:
    if key not in entry:
        raise error(
            500, f"Unable to parse '{key}': attempt to access non-existing object member '{key}'"
        )
    value = entry[key]
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise error(500, f"Unable to parse '{key}': attempt to access JSON non-{what} as {what}")
    return value


def _uint(value: Any, label: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise error(
            500, f"{label}: attempt to access JSON non-unsigned-integer as unsigned-integer"
        )
    return value


def _flat(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    for item in data:
        out.extend(_flat(item))
    return out


def triton_inputs(doc: Any, tail: bytes, model_name: str) -> list[Tensor]:
    if not isinstance(doc, dict) or "inputs" not in doc:
        raise error(
            500, "Unable to parse 'inputs': attempt to access non-existing object member 'inputs'"
        )
    if not isinstance(doc["inputs"], list):
        raise error(500, "Unable to parse 'inputs': attempt to access JSON non-array as array")
    tensors, at = [], 0
    for entry in doc["inputs"]:
        if not isinstance(entry, dict):
            raise error(500, "Unable to parse 'name': attempt to access JSON non-object as object")
        params = params_of(entry)
        set_fields = [
            f
            for f, on in (
                ("data", "data" in entry),
                ("binary_data_size", "binary_data_size" in params),
                ("shared_memory_region", "shared_memory_region" in params),
            )
            if on
        ]
        if len(set_fields) != 1:
            said = (
                " set " + " ".join(f"'{f}'" for f in set_fields)
                if set_fields
                else " no field is set"
            )
            raise error(
                400,
                "Input must set only one of the following fields: 'data', 'binary_data_size' in "
                "'parameters', 'shared_memory_region' in 'parameters'. But" + said,
            )
        name = _member(entry, "name", str, "string")
        datatype = _member(entry, "datatype", str, "string")
        shape_json = _member(entry, "shape", list, "array")
        shape = [_uint(d, "Unable to parse 'shape'") for d in shape_json]
        if set_fields == ["shared_memory_region"]:
            raise error(400, "[stand-in] shared memory is not emulated")
        if set_fields == ["binary_data_size"]:
            size = _uint(params["binary_data_size"], "Unable to parse 'binary_data_size'")
            chunk = tail[at : at + size]
            if len(chunk) < size:
                raise error(
                    400,
                    f"unexpected size for input '{name}', expecting {size - len(chunk)} "
                    f"additional bytes for model '{model_name}'",
                )
            at += size
            tensors.append(
                Tensor(name, datatype, shape, _binary_values(datatype, chunk), True, params)
            )
            continue
        tensors.append(
            Tensor(
                name,
                datatype,
                shape,
                _json_values(name, datatype, shape, entry["data"]),
                False,
                params,
            )
        )
    if at != len(tail):
        raise error(400, f"unexpected additional input data for model '{model_name}'")
    return tensors


def _binary_values(datatype: str, chunk: bytes) -> Any:
    if datatype == "BYTES":
        return chunk  # split by the model check, which knows the element count
    kind = NUMPY.get(datatype)
    return np.frombuffer(chunk, dtype=np.dtype(kind)) if kind else chunk


def _json_values(name: str, datatype: str, shape: list[int], data: Any) -> Any:
    count = math.prod(shape)
    if count == 0:
        return [] if datatype == "BYTES" else np.zeros(0)
    if not isinstance(data, list):
        raise error(500, "Unable to parse 'data': attempt to access JSON non-array as array")
    flat = _flat(data)
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in flat):
            raise error(
                500, "Unable to parse JSON bytes array: attempt to access JSON non-string as string"
            )
        return flat
    if datatype in ("FP16", "BF16"):
        raise error(
            400,
            f"receiving {datatype} data via JSON is not supported. Please use the binary data "
            f"format for input {name}",
        )
    if datatype not in NUMPY:
        raise error(400, f"invalid datatype for input {name}")
    if len(flat) > count:
        raise error(500, "Unable to parse 'data': Shape does not match true shape of 'data' field")
    for v in flat:
        number = isinstance(v, int | float) and not isinstance(v, bool)
        if datatype == "BOOL" and not isinstance(v, bool):
            raise error(
                500, "Unable to parse 'data': attempt to access JSON non-boolean as boolean"
            )
        if datatype in INT_TYPES and not (isinstance(v, int) and number):
            what = "unsigned-integer" if datatype.startswith("U") else "signed-integer"
            raise error(500, f"Unable to parse 'data': attempt to access JSON non-{what} as {what}")
        if datatype.startswith("FP") and not number:
            raise error(500, "Unable to parse 'data': attempt to access JSON non-number as double")
    if len(flat) < count:
        raise error(500, "Failed to parse 'data' field: shape does not match true shape")
    if datatype in INT_TYPES:  # C casts wrap around
        return np.array([int(v) % (1 << 64) for v in flat], dtype=np.uint64).astype(NUMPY[datatype])
    return np.asarray(flat, dtype=np.dtype(NUMPY[datatype]))


def split_bytes(chunk: bytes) -> list[bytes] | int:
    """BYTES elements from the binary extension (4-byte little-endian length, then the bytes);
    an int is the offset where a length indicator or an element is cut short."""
    values, at = [], 0
    while at < len(chunk):
        if len(chunk) - at < 4:
            return at
        (n,) = struct.unpack_from("<I", chunk, at)
        if at + 4 + n > len(chunk):
            return at
        values.append(chunk[at + 4 : at + 4 + n])
        at += 4 + n
    return values
