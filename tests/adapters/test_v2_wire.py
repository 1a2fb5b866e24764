"""The Open Inference Protocol's wire format: requests in JSON and with the binary tensor data
extension, answers read back from either, and hostile answers refused."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from bot.adapters.v2 import wire
from bot.errors import BadPrediction

WHERE = "model 'resnet' at http://127.0.0.1:8000"


def split(body: bytes, headers: dict[str, str]) -> tuple[dict[str, object], bytes]:
    size = int(headers[wire.HEADER_LENGTH])
    return json.loads(body[:size]), body[size:]


def test_a_json_request_has_no_binary_part_and_says_it_is_json() -> None:
    body, headers = wire.request_body(
        [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 1.0]}],
        [{"name": "y"}],
        [None],
    )
    assert headers == {"Content-Type": "application/json"}
    assert json.loads(body) == {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 1.0]}],
        "outputs": [{"name": "y"}],
    }


def test_a_jpeg_travels_raw_after_the_json_header_with_its_length_prefix() -> None:
    jpeg = b"\xff\xd8 not really a jpeg \xff\xd9"
    data = wire.bytes_elements([jpeg])
    body, headers = wire.request_body(
        [{"name": "image", "datatype": "BYTES", "shape": [1]}], [], [data]
    )
    head, tail = split(body, headers)
    assert headers["Content-Type"] == "application/octet-stream"
    assert head["inputs"] == [
        {
            "name": "image",
            "datatype": "BYTES",
            "shape": [1],
            "parameters": {"binary_data_size": 4 + len(jpeg)},
        }
    ]
    assert tail == struct.pack("<I", len(jpeg)) + jpeg


def test_float_tensors_are_little_endian_float32() -> None:
    data = wire.numbers([[1.0, -2.5], [0.25, 3.0]], "FP32")
    assert data == struct.pack("<4f", 1.0, -2.5, 0.25, 3.0)
    assert wire.numbers([[1, 255]], "UINT8") == bytes([1, 255])


def binary_answer(outputs: list[tuple[str, str, list[int], bytes]]) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(
        {
            "model_name": "m",
            "outputs": [
                {"name": n, "datatype": d, "shape": s, "parameters": {"binary_data_size": len(b)}}
                for n, d, s, b in outputs
            ],
        }
    ).encode()
    return head + b"".join(b for *_, b in outputs), {wire.HEADER_LENGTH: str(len(head))}


def test_binary_outputs_are_read_in_order_and_shaped() -> None:
    scores = np.arange(6, dtype="<f4") / 10
    labels = wire.bytes_elements([b"cat", "\u72d7".encode()])
    body, headers = binary_answer(
        [("scores", "FP32", [1, 2, 3], scores.tobytes()), ("names", "BYTES", [2], labels)]
    )
    found = wire.read_answer(body, headers, WHERE)
    assert found["scores"].shape == (1, 2, 3)
    assert np.allclose(found["scores"].values, [[[0.0, 0.1, 0.2], [0.3, 0.4, 0.5]]])
    assert np.asarray(found["scores"].values).shape == (1, 2, 3)
    assert found["names"].values == ["cat", "\u72d7"]


def test_json_outputs_are_read_flat_or_nested() -> None:
    for data in ([1, 2, 3, 4], [[1, 2], [3, 4]]):
        doc = {"outputs": [{"name": "y", "datatype": "INT32", "shape": [2, 2], "data": data}]}
        found = wire.read_answer(json.dumps(doc).encode(), {}, WHERE)
        assert found["y"].values == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    "outputs,headers,match",
    [
        ([("y", "FP32", [2], b"\x00" * 4)], None, "4 bytes for 2 FP32 values"),
        ([("y", "FP32", [-1], b"")], None, "shape"),
        ([("y", "FP32", [2**20, 2**20], b"")], None, "shape"),
        ([("y", "BYTES", [2], wire.bytes_elements([b"a"]))], None, "do not fit its shape"),
        ([("y", "BYTES", [1], struct.pack("<I", 99) + b"ab")], None, "do not fit its shape"),
        ([("y", "WEIRD", [1], b"\x00")], None, "not a number type"),
        ([("y", "FP32", [1], b"\x00" * 4)], {wire.HEADER_LENGTH: "999999"}, "for a body of"),
        ([("y", "FP32", [1], b"\x00" * 4)], {wire.HEADER_LENGTH: "-3"}, "for a body of"),
    ],
)
def test_an_answer_that_does_not_add_up_is_a_bad_prediction(
    outputs: list[tuple[str, str, list[int], bytes]], headers: dict[str, str] | None, match: str
) -> None:
    body, own = binary_answer(outputs)
    with pytest.raises(BadPrediction, match=match):
        wire.read_answer(body, headers or own, WHERE)


def test_a_binary_size_past_the_body_is_a_bad_prediction() -> None:
    head = json.dumps(
        {
            "outputs": [
                {
                    "name": "y",
                    "datatype": "FP32",
                    "shape": [1],
                    "parameters": {"binary_data_size": 400},
                }
            ]
        }
    ).encode()
    with pytest.raises(BadPrediction, match="binary_data_size 400"):
        wire.read_answer(head + b"\x00" * 4, {wire.HEADER_LENGTH: str(len(head))}, WHERE)


def test_json_data_of_the_wrong_length_is_a_bad_prediction() -> None:
    doc = {"outputs": [{"name": "y", "datatype": "FP32", "shape": [1, 3], "data": [1.0, 2.0]}]}
    with pytest.raises(BadPrediction, match="2 values for the shape"):
        wire.read_answer(json.dumps(doc).encode(), {}, WHERE)


def test_metadata_datatypes_become_the_cores_names() -> None:
    found = wire.tensor_infos(
        [
            {"name": "image", "datatype": "BYTES", "shape": [-1]},
            {"name": "x", "datatype": "FP32", "shape": [-1, 3, 224, 224]},
            {"name": "q", "datatype": "FP8E4M3", "shape": ["1"]},
        ],
        WHERE,
        "inputs",
    )
    assert found["image"][1].dtype == "string" and found["image"][1].shape == (-1,)
    assert found["x"][1].dtype == "float32" and found["x"][1].shape == (-1, 3, 224, 224)
    assert found["q"][1].shown == "FP8E4M3" and found["q"][1].shape == (1,)


@pytest.mark.parametrize(
    "entries", [{"name": "x"}, [{"datatype": "FP32", "shape": [1]}], [{"name": "x", "shape": [1]}]]
)
def test_metadata_that_cannot_be_read_says_what_was_odd(entries: object) -> None:
    with pytest.raises(BadPrediction, match="cannot read"):
        wire.tensor_infos(entries, WHERE, "inputs")
