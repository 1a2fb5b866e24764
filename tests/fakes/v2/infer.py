"""Infer: the inputs checked against the model in each server's words, the pictures
classified, and the outputs written back as JSON or binary.

Triton's checks and texts are core ``infer_request.cc`` (``ValidateRequestInputs``,
``Normalize``, ``ValidateBytesInputs``) and ``model.cc``; the classification extension is
``http_server.cc`` ``FinalizeResponse`` + ``classification.cc``. OVMS texts are
``status.cpp`` (its `` - details`` part is approximated). MLServer and KServe leave the checks
to the model (a Python class): here the stand-in model's own words. KServe's binary BYTES must
be UTF-8 (``InferInput.set_data_from_numpy(binary_data=False)`` in ``from_bytes``).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tests.fakes.v2.flavours import (
    Flavour,
    V2Error,
    error,
    internal_error,
    response_envelope,
)
from tests.fakes.v2.model import NUMPY, PictureError, V2Model, b64decode_text
from tests.fakes.v2.request import (
    Parsed,
    Tensor,
    params_of,
    split_bytes,
    triton_inputs,
)

TRITON_NOTE = (
    "NOTE: Setting a non-zero max_batch_size in the model config requires a batch dimension "
    "to be prepended to each input shape. If you want to specify the full shape including the "
    "batch dim in your input dims config, try setting max_batch_size to zero. See the model "
    "configuration docs for more info on max_batch_size."
)


@dataclass
class Wanted:
    name: str
    binary: bool
    k: int = 0


def _dims(shape: list[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


# -- reading the inputs ----------------------------------------------------------------------
def read_inputs(flavour: Flavour, model: V2Model, parsed: Parsed) -> list[Tensor]:
    doc = parsed.doc
    if flavour == "triton":
        return triton_inputs(doc, parsed.tail, model.name)
    tensors, at = [], 0
    entries = doc.get("inputs") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        if flavour == "ovms":
            raise error(400, "Invalid JSON structure, missing inputs")
        raise error(500, "KeyError : 'inputs'")  # KServe from_bytes
    for entry in entries:
        if not isinstance(entry, dict):
            raise error(400, "Invalid JSON structure. One of inputs is not a JSON object.")
        params = params_of(entry)
        name, datatype = str(entry.get("name")), str(entry.get("datatype"))
        shape = _shape(flavour, entry.get("shape"))
        if "data" in entry:
            if flavour == "ovms" and "binary_data_size" in params:
                raise error(400, "Request contains values both in binary data and in content value")
            tensors.append(
                Tensor(name, datatype, shape, _json_data(datatype, entry["data"]), False, params)
            )
            continue
        declared = params.get("binary_data_size")
        if flavour == "kserve" and declared is None:
            raise error(400, f"'data' field is missing for input '{name}' for model '{model.name}'")
        if declared is None:  # OVMS handleBinaryInputs: one BYTES input takes the rest
            only = len(entries) == 1 and datatype == "BYTES"
            declared = len(parsed.tail) - at if only else math.prod(shape) * _itemsize(datatype)
        if not isinstance(declared, int) or isinstance(declared, bool) or declared < 0:
            raise error(400, "binary_data_size parameter is invalid and cannot be parsed")
        if flavour == "ovms" and declared > len(parsed.tail) - at:
            raise error(
                400, "Received buffer size is smaller than binary_data_size parameter indicates"
            )
        chunk = parsed.tail[at : at + declared]
        at += declared
        values: Any = chunk if datatype == "BYTES" else _frombuffer(flavour, datatype, shape, chunk)
        if flavour == "kserve" and datatype == "BYTES":
            values = _kserve_text(chunk)
        tensors.append(Tensor(name, datatype, shape, values, True, params))
    return tensors


def _shape(flavour: Flavour, shape: Any) -> list[int]:
    if isinstance(shape, list) and all(isinstance(d, int) for d in shape):
        return shape
    if flavour == "ovms":
        raise error(400, "Could not parse input content. Not valid ndarray detected")
    raise error(500, f"TypeError : the shape {shape!r} is not a list of integers")


def _itemsize(datatype: str) -> int:
    kind = NUMPY.get(datatype)
    return np.dtype(kind).itemsize if kind else 1


def _json_data(datatype: str, data: Any) -> Any:
    flat = data if isinstance(data, list) else [data]
    while any(isinstance(v, list) for v in flat):
        flat = [x for v in flat for x in (v if isinstance(v, list) else [v])]
    return flat


def _frombuffer(flavour: Flavour, datatype: str, shape: list[int], chunk: bytes) -> Any:
    kind = NUMPY.get(datatype)
    if kind is None:
        raise error(400, "Invalid input precision")
    flat = np.frombuffer(chunk[: len(chunk) - len(chunk) % _itemsize(datatype)], dtype=kind)
    if flavour == "kserve" and flat.size != math.prod(shape):  # as_numpy's reshape
        raise error(
            500, f"ValueError : cannot reshape array of size {flat.size} into shape {tuple(shape)}"
        )
    return flat if len(chunk) % _itemsize(datatype) == 0 else chunk


def _kserve_text(chunk: bytes) -> list[str]:
    values = split_bytes(chunk)
    if isinstance(values, int):
        raise error(500, "unpack_from requires a buffer of at least 4 bytes")
    out = []
    for value in values:
        try:
            out.append(value.decode("utf-8"))
        except UnicodeDecodeError:
            raise error(
                500,
                f'Failed to encode "{value!s}" using UTF-8. Please use binary_data=True, if you '
                "want to pass a byte array.",
            ) from None
    return out


# -- the outputs asked for -------------------------------------------------------------------
def wanted_outputs(flavour: Flavour, model: V2Model, doc: dict[str, Any]) -> list[Wanted]:
    params = params_of(doc)
    default = params.get("binary_data_output", False)
    if flavour == "triton" and not isinstance(default, bool):
        raise error(
            500,
            "Unable to parse 'binary_data_output': attempt to access JSON non-boolean as boolean",
        )
    asked = doc.get("outputs")
    if flavour == "mlserver" or asked is None:
        return [Wanted(n, bool(default) and flavour != "mlserver") for n in model.output_names]
    if not isinstance(asked, list):
        raise error(500, "Unable to parse 'outputs': attempt to access JSON non-array as array")
    out = []
    for item in asked:
        item = item if isinstance(item, dict) else {}
        name = item.get("name")
        if not isinstance(name, str):
            raise error(
                500, "Unable to parse 'name': attempt to access non-existing object member 'name'"
            )
        p = params_of(item)
        k, binary = p.get("classification", 0), p.get("binary_data")
        if flavour == "triton":
            if not isinstance(k, int) or isinstance(k, bool) or k < 0:
                raise error(
                    500,
                    "Unable to set 'classification': attempt to access JSON "
                    "non-unsigned-integer as unsigned-integer",
                )
            if binary is not None and not isinstance(binary, bool):
                raise error(
                    500,
                    "Unable to parse 'binary_data': attempt to access JSON non-boolean as boolean",
                )
        if name not in model.output_names:
            if flavour == "triton":
                raise error(400, f"unexpected inference output '{name}' for model '{model.name}'")
            if flavour == "kserve":
                raise error(400, f"Unexpected inference output '{name}' for model '{model.name}'")
            raise error(400, f"[stand-in] no output '{name}' in model '{model.name}'")
        if flavour == "triton" and k and name == model.names_output:
            raise error(
                400, "class result not available for output due to unsupported type 'BYTES'"
            )
        on = bool(binary) if flavour != "ovms" or binary is not None else bool(default)
        out.append(Wanted(name, on, int(k) if flavour == "triton" else 0))
    return out


# -- checking the input against the model ----------------------------------------------------
def classes(flavour: Flavour, model: V2Model, tensors: list[Tensor]) -> list[int]:
    """Check the request's inputs as the flavour does, then classify each picture."""
    meta, m = model.input_meta(), model.name
    names = sorted({t.name for t in tensors})
    if flavour == "triton":
        if len(names) != 1:
            got = "[" + ",".join(f"'{n}'" for n in names) + "]" if names else "[]"
            missing = "]" if model.input_name in names else f"['{model.input_name}']"
            raise error(
                400,
                f"expected 1 inputs but got {len(names)} inputs for model '{m}'. Got input(s) "
                f"{got}, but missing required input(s) {missing}. Please provide all required "
                "input(s).",
            )
        if names[0] != model.input_name:
            raise error(400, f"unexpected inference input '{names[0]}' for model '{m}'")
    elif len(tensors) != 1:
        if flavour == "ovms":
            raise error(400, f"Invalid number of inputs - Expected: 1; Actual: {len(tensors)}")
        raise error(400, f"{m} takes one input, {model.input_name!r}; got {names}")
    elif tensors[0].name != model.input_name:
        if flavour == "ovms":
            raise error(
                400, f"Missing input with specific name - Required input: {model.input_name}"
            )
        raise error(400, f"{m} takes one input, {model.input_name!r}; got {names}")
    t = tensors[-1]
    if flavour == "ovms" and model.kind != "bytes" and t.datatype == "BYTES":
        return _ovms_images(model, t)
    if t.datatype != meta["datatype"]:
        if flavour == "triton":
            raise error(
                400,
                f"inference input '{t.name}' data-type is '{t.datatype}', but model '{m}' "
                f"expects '{meta['datatype']}'",
            )
        if flavour == "ovms":
            raise error(
                400, f"Invalid input precision - Expected: {meta['datatype']}; Actual: {t.datatype}"
            )
        raise error(400, f"{m}'s input {t.name!r} is {meta['datatype']}, not {t.datatype}")
    _check_shape(flavour, model, t)
    if model.kind == "bytes":
        return [model.classify_picture(p) for p in _pictures(flavour, model, t)]
    return _tensor_classes(flavour, model, t)


def _check_shape(flavour: Flavour, model: V2Model, t: Tensor) -> None:
    declared, m = model.input_shape, model.name
    if flavour == "triton" and model.batching:
        if not t.shape:
            raise error(
                400, f"input '{t.name}' has no shape but model requires batch dimension for '{m}'"
            )
        if t.shape[0] > model.max_batch:
            raise error(400, f"inference request batch-size must be <= {model.max_batch} for '{m}'")
    fits = len(t.shape) == len(declared) and all(
        d in (-1, s) for d, s in zip(declared, t.shape, strict=True)
    )
    if fits:
        return
    if flavour == "triton":
        note = TRITON_NOTE if model.batching else ""
        raise error(
            400,
            f"unexpected shape for input '{t.name}' for model '{m}'. Expected {_dims(declared)}, "
            f"got {_dims(t.shape)}. {note}",
        )
    if flavour == "ovms":
        raise error(
            400, f"Invalid input shape - Expected: {_dims(declared)}; Actual: {_dims(t.shape)}"
        )
    raise error(400, f"{m}'s input {t.name!r} has the shape {declared}, not {t.shape}")


def _pictures(flavour: Flavour, model: V2Model, t: Tensor) -> list[bytes]:
    count, m = math.prod(t.shape), model.name
    values = t.values
    if isinstance(values, bytes):  # Triton/OVMS binary: length-prefixed elements
        split = split_bytes(values)
        if isinstance(split, int):
            left = len(values) - split
            if left < 4 and flavour == "triton":
                raise error(
                    400,
                    f"incomplete string length indicator for inference input '{t.name}' for "
                    f"model '{m}', expecting 4 bytes but only {left} bytes available. Please "
                    "make sure the string length indicator is in one buffer.",
                )
            split = []
        values = split
    if len(values) != count:
        if flavour == "triton":
            raise error(
                400,
                f"expected {count} string elements for inference input '{t.name}' for model "
                f"'{m}', got {len(values)}",
            )
        raise error(
            400, f"{m}'s input {t.name!r} has {len(values)} elements for the shape {t.shape}"
        )
    if flavour == "mlserver":
        return [_mlserver_codec(t, v) for v in values]
    base64_text = model.base64_text if model.base64_text is not None else flavour == "kserve"
    raws = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values]
    return [b64decode_text(r) if base64_text else r for r in raws]


def _mlserver_codec(t: Tensor, value: Any) -> bytes:
    """MLServer ``decode(input, default_codec=Base64Codec)``: ``content_type`` "str" gives the
    model text (it cannot open it), any other or none the base64 codec, which falls back to
    the text's ASCII bytes when it is not valid base64 (``codecs/base64.py``)."""
    content_type = t.parameters.get("content_type")
    if content_type == "str" or not isinstance(value, str | bytes):
        raise internal_error()  # the runtime's bytes(str) / b64decode(int): TypeError
    try:
        raw = value.encode("ascii") if isinstance(value, str) else value
    except UnicodeEncodeError:
        raise internal_error() from None
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error:
        return raw


def _tensor_classes(flavour: Flavour, model: V2Model, t: Tensor) -> list[int]:
    dtype = np.dtype(NUMPY[t.datatype])
    if isinstance(t.values, bytes) or (t.binary and t.values.size != math.prod(t.shape)):
        got = len(t.values) if isinstance(t.values, bytes) else t.values.nbytes
        expected = math.prod(t.shape) * dtype.itemsize
        if flavour == "triton":
            raise error(
                400,
                f"input byte size mismatch for input '{t.name}' for model '{model.name}'. "
                f"Expected {expected}, got {got}",
            )
        raise error(
            400,
            f"Invalid content size of tensor proto - Expected: {expected} bytes; "
            f"Actual: {got} bytes",
        )
    try:
        array = np.asarray(t.values, dtype=dtype).reshape(t.shape)
    except (ValueError, TypeError):
        if flavour == "mlserver":
            raise internal_error() from None  # NumpyCodec's reshape
        raise error(
            400, f"{model.name}'s input {t.name!r} does not fill the shape {t.shape}"
        ) from None
    return [model.classify_tensor(picture) for picture in array]


def _ovms_images(model: V2Model, t: Tensor) -> list[int]:
    """OVMS decodes BYTES sent to a 4-D input as JPEG/PNG pictures (binary_input_kfs.md)."""
    if len(t.shape) != 1:
        raise error(400, "Invalid number of shape dimensions")
    out = []
    for data in _pictures("ovms", model, t):
        try:
            out.append(model.classify_picture(data))
        except PictureError:
            raise error(500, "Image parsing failed") from None
    return out


# -- the answer ------------------------------------------------------------------------------
def answer(
    flavour: Flavour,
    model: V2Model,
    version: str | None,
    doc: dict[str, Any],
    found: list[int],
    wanted: list[Wanted],
) -> tuple[dict[str, Any], bytes]:
    scores = model.scores(found)
    outputs, tail = [], b""
    for want in wanted:
        if want.name == model.output_name and want.k:
            data: list[Any] = model.top_k(scores, want.k)
            k = min(want.k, model.num_classes)  # a non-batching model: [k]
            entry: dict[str, Any] = {
                "datatype": "BYTES",
                "shape": [len(found), k] if model.batching else [k],
            }
        elif want.name == model.output_name:
            data = scores.reshape(-1).tolist()
            entry = {"datatype": "FP32", "shape": list(scores.shape)}
        else:
            data = model.class_names() * len(found)
            entry = {"datatype": "BYTES", "shape": [len(found), model.num_classes]}
        entry = {"name": want.name, **entry}
        if want.binary:
            raw = (
                scores.astype("<f4").tobytes()
                if entry["datatype"] == "FP32"
                else b"".join(len(s.encode()).to_bytes(4, "little") + s.encode() for s in data)
            )
            entry["parameters"] = {"binary_data_size": len(raw)}
            tail += raw
        else:
            if flavour == "kserve":
                entry["parameters"] = None
            elif flavour == "mlserver":
                entry["parameters"] = {"content_type": "np"}
            entry["data"] = data
        outputs.append(entry)
    rid = doc.get("id")
    if flavour == "triton" and rid is not None and not isinstance(rid, str):
        raise error(500, "Unable to parse 'id': attempt to access JSON non-string as string")
    return {**response_envelope(flavour, model, version, rid), "outputs": outputs}, tail


def infer(
    flavour: Flavour, model: V2Model, version: str | None, parsed: Parsed
) -> tuple[dict[str, Any], bytes]:
    """One inference: (the answer's JSON part, its binary part)."""
    tensors = read_inputs(flavour, model, parsed)
    doc = parsed.doc if isinstance(parsed.doc, dict) else {}
    wanted = wanted_outputs(flavour, model, doc)
    try:
        found = classes(flavour, model, tensors)
    except PictureError as exc:
        raise error(400, str(exc)) from None
    return answer(flavour, model, version, doc, found, wanted)


__all__ = ["V2Error", "Wanted", "infer"]
