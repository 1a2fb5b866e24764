"""Real TF SavedModels with the Object Detection API's and Model Garden's detection signatures
(tests/fakes/detector), served over TF Serving's REST API by real TensorFlow
(tests/fakes/tfserving_tf), asked with plain `requests`."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
import requests

from tests.fakes.detector import (
    CAR,
    DOG,
    MAX_DETECTIONS,
    MG_INPUT_SIZE,
    MG_OUTPUTS,
    NOISE,
    OD_OUTPUTS,
    PERSON,
    SquaresPhoto,
    squares_photo,
)
from tests.fakes.tfserving_tf import RealTfServing

TIMEOUT = 60
BOX_SLACK = 0.02  # of the picture's side: JPEG moves a square's edge by a pixel or two
OD_MODELS = ("od_image_tensor", "od_encoded", "od_encoded_b1")

# Two red squares and a blue one; small, as uint8 pictures travel as JSON numbers.
SMALL = squares_photo(320, 240, [("red", 80, 60, 40), ("red", 240, 70, 30), ("blue", 160, 170, 60)])
PHOTO = squares_photo(
    640, 480, [("red", 160, 120, 80), ("red", 480, 120, 60), ("blue", 320, 360, 100)]
)


def metadata(server: RealTfServing, model: str) -> dict[str, Any]:
    resp = requests.get(f"{server.url}/v1/models/{model}/metadata", timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    signatures: dict[str, Any] = resp.json()["metadata"]["signature_def"]["signature_def"]
    return signatures


def dims(info: dict[str, Any]) -> list[int]:
    return [int(d["size"]) for d in info["tensor_shape"]["dim"]]


def predict(server: RealTfServing, model: str, doc: dict[str, Any]) -> requests.Response:
    return requests.post(f"{server.url}/v1/models/{model}:predict", json=doc, timeout=TIMEOUT)


def b64(photo: SquaresPhoto) -> dict[str, str]:
    return {"b64": base64.b64encode(photo.data).decode("ascii")}


def pixels(photo: SquaresPhoto) -> list[Any]:
    listed: list[Any] = np.asarray(photo.image()).tolist()
    return listed


def request_for(model: str, form: str, photo: SquaresPhoto) -> dict[str, Any]:
    """One picture in TF Serving's row or columnar form, for the model's input kind."""
    value: Any = pixels(photo) if model in ("od_image_tensor", "mg_image_tensor") else b64(photo)
    alias = "inputs" if model.startswith("mg_") else "input_tensor"
    return {
        "instances": {"instances": [value]},
        "named_instances": {"instances": [{alias: value}]},
        "inputs": {"inputs": [value]},
        "named_inputs": {"inputs": {alias: [value]}},
    }[form]


def only(answer: dict[str, Any], form: str) -> dict[str, Any]:
    """The outputs for the one picture, batch dimension removed."""
    if "predictions" in answer:
        (row,) = answer["predictions"]
        return dict(row)
    assert "instances" not in form
    return {name: value[0] for name, value in answer["outputs"].items()}


def assert_found(photo: SquaresPhoto, found: dict[str, Any], *, boxes: list[Any]) -> None:
    """The squares come first, best first, with their classes, scores and boxes."""
    expected = photo.expected
    real = [s for s in found["detection_scores"] if s >= 0.5]
    assert len(real) == len(expected)
    assert [float(c) for c in found["detection_classes"][: len(expected)]] == [
        float(e.class_id) for e in expected
    ]
    for got_score, square in zip(real, expected, strict=True):
        assert got_score == pytest.approx(square.score, abs=0.01)
    for box, square in zip(boxes, expected, strict=True):
        assert box == pytest.approx(list(square.box), abs=BOX_SLACK)


@pytest.mark.parametrize("model", OD_MODELS)
def test_od_api_detector_metadata_lists_exactly_the_exporters_outputs(
    detectors: RealTfServing, model: str
) -> None:
    signatures = metadata(detectors, model)
    assert set(signatures) == {"serving_default", "__saved_model_init_op"}
    serving = signatures["serving_default"]
    assert serving["method_name"] == "tensorflow/serving/predict"
    assert set(serving["outputs"]) == OD_OUTPUTS
    assert {o["dtype"] for o in serving["outputs"].values()} == {"DT_FLOAT"}
    assert list(serving["inputs"]) == ["input_tensor"]
    info = serving["inputs"]["input_tensor"]
    batch = {"od_image_tensor": 1, "od_encoded": -1, "od_encoded_b1": 1}[model]
    if model == "od_image_tensor":
        assert (info["dtype"], dims(info)) == ("DT_UINT8", [1, -1, -1, 3])
    else:
        assert (info["dtype"], dims(info)) == ("DT_STRING", [batch])
    outputs = serving["outputs"]
    assert dims(outputs["detection_boxes"]) == [batch, MAX_DETECTIONS, 4]
    assert dims(outputs["detection_classes"]) == [batch, MAX_DETECTIONS]
    assert dims(outputs["detection_scores"]) == [batch, MAX_DETECTIONS]
    assert dims(outputs["num_detections"]) == [batch]
    assert dims(outputs["detection_multiclass_scores"]) == [batch, MAX_DETECTIONS, 91]
    assert dims(outputs["detection_anchor_indices"]) == [batch, MAX_DETECTIONS]
    assert dims(outputs["raw_detection_boxes"]) == [batch, 64, 4]
    assert dims(outputs["raw_detection_scores"]) == [batch, 64, 91]
    init = signatures["__saved_model_init_op"]["outputs"]["__saved_model_init_op"]
    assert init["dtype"] == "DT_INVALID"
    assert init["tensor_shape"] == {"dim": [], "unknown_rank": True}


def test_model_garden_metadata_has_image_info_and_integer_classes(
    detectors: RealTfServing,
) -> None:
    serving = metadata(detectors, "mg_image_tensor")["serving_default"]
    assert set(serving["outputs"]) == MG_OUTPUTS
    info = serving["inputs"]["inputs"]
    assert (info["dtype"], dims(info)) == ("DT_UINT8", [-1, -1, -1, 3])
    types = {name: o["dtype"] for name, o in serving["outputs"].items()}
    assert types == {
        "detection_boxes": "DT_FLOAT",
        "detection_scores": "DT_FLOAT",
        "detection_classes": "DT_INT32",
        "num_detections": "DT_INT32",
        "image_info": "DT_FLOAT",
    }
    assert dims(serving["outputs"]["image_info"]) == [-1, 4, 2]
    normalized = metadata(detectors, "mg_image_bytes_normalized")["serving_default"]
    assert normalized["inputs"]["inputs"]["dtype"] == "DT_STRING"
    assert {o["dtype"] for o in normalized["outputs"].values()} == {"DT_FLOAT"}


@pytest.mark.parametrize("form", ["instances", "named_instances", "inputs", "named_inputs"])
@pytest.mark.parametrize("model", OD_MODELS)
def test_two_red_squares_and_a_blue_one_are_two_dogs_and_a_person(
    detectors: RealTfServing, model: str, form: str
) -> None:
    photo = SMALL if model == "od_image_tensor" else PHOTO
    resp = predict(detectors, model, request_for(model, form, photo))
    assert resp.status_code == 200, resp.text
    found = only(resp.json(), form)
    assert found["detection_classes"][:3] == [PERSON, DOG, DOG]
    assert_found(photo, found, boxes=found["detection_boxes"][:3])
    assert found["num_detections"] == 3 + len(NOISE)
    assert found["detection_scores"][3:5] == [n.score for n in NOISE]
    assert len(found["detection_boxes"]) == MAX_DETECTIONS
    assert len(found["raw_detection_scores"]) == 64


def test_rows_past_num_detections_are_zero_padding_with_class_one(
    detectors: RealTfServing,
) -> None:
    found = only(predict(detectors, "od_encoded", {"inputs": [b64(PHOTO)]}).json(), "inputs")
    count = int(found["num_detections"])
    assert found["detection_scores"][count:] == [0.0] * (MAX_DETECTIONS - count)
    assert found["detection_boxes"][count:] == [[0.0] * 4] * (MAX_DETECTIONS - count)
    assert found["detection_classes"][count:] == [1.0] * (MAX_DETECTIONS - count)
    assert found["detection_multiclass_scores"][0][PERSON] == found["detection_scores"][0]


def test_a_picture_without_squares_gets_only_the_low_scored_noise(
    detectors: RealTfServing,
) -> None:
    empty = squares_photo(400, 300, [])
    found = only(predict(detectors, "od_encoded", {"inputs": [b64(empty)]}).json(), "inputs")
    assert found["num_detections"] == len(NOISE)
    assert found["detection_classes"][:2] == [float(n.class_id) for n in NOISE]
    assert found["detection_scores"][:2] == [n.score for n in NOISE]
    assert max(found["detection_scores"]) < 0.5


def test_a_green_square_in_a_png_is_a_car(detectors: RealTfServing) -> None:
    photo = squares_photo(300, 200, [("green", 150, 100, 50)], image_format="PNG")
    found = only(predict(detectors, "od_encoded", {"inputs": [b64(photo)]}).json(), "inputs")
    assert found["detection_classes"][0] == CAR
    assert_found(photo, found, boxes=found["detection_boxes"][:1])


def test_encoded_model_of_batch_minus_one_answers_two_pictures_at_once(
    detectors: RealTfServing,
) -> None:
    resp = predict(detectors, "od_encoded", {"instances": [b64(PHOTO), b64(SMALL)]})
    assert resp.status_code == 200, resp.text
    first, second = resp.json()["predictions"]
    assert_found(PHOTO, first, boxes=first["detection_boxes"][:3])
    assert_found(SMALL, second, boxes=second["detection_boxes"][:3])


def test_batch_one_models_refuse_two_pictures(detectors: RealTfServing) -> None:
    resp = predict(detectors, "od_encoded_b1", {"instances": [b64(PHOTO), b64(SMALL)]})
    assert resp.status_code == 400
    assert "error" in resp.json()


def test_model_garden_boxes_are_pixels_of_the_picture_scaled_onto_its_input_canvas(
    detectors: RealTfServing,
) -> None:
    resp = predict(detectors, "mg_image_tensor", request_for("mg_image_tensor", "inputs", SMALL))
    assert resp.status_code == 200, resp.text
    found = only(resp.json(), "inputs")
    scale = MG_INPUT_SIZE / max(SMALL.width, SMALL.height)
    canvas = [MG_INPUT_SIZE, MG_INPUT_SIZE]
    assert found["image_info"] == [[240.0, 320.0], canvas, [scale, scale], [0.0, 0.0]]
    assert found["num_detections"] == 3 + len(NOISE)
    assert found["detection_classes"][:3] == [PERSON, DOG, DOG]  # JSON integers
    # Pixels of the scaled picture (240 x 320 * 1.2), not of the 384 x 384 canvas.
    (height, width), (y_scale, x_scale) = found["image_info"][0], found["image_info"][2]
    boxes = [
        [
            y0 / (height * y_scale),
            x0 / (width * x_scale),
            y1 / (height * y_scale),
            x1 / (width * x_scale),
        ]
        for y0, x0, y1, x1 in found["detection_boxes"][:3]
    ]
    assert_found(SMALL, found, boxes=boxes)


def test_model_garden_with_normalized_coordinates_answers_floats_of_the_picture(
    detectors: RealTfServing,
) -> None:
    resp = predict(detectors, "mg_image_bytes_normalized", {"instances": [b64(PHOTO)]})
    assert resp.status_code == 200, resp.text
    found = only(resp.json(), "instances")
    assert found["num_detections"] == 5.0
    assert found["detection_classes"][:3] == [1.0, 18.0, 18.0]
    assert_found(PHOTO, found, boxes=found["detection_boxes"][:3])


def test_squares_photo_refuses_squares_that_touch_or_stick_out() -> None:
    with pytest.raises(ValueError, match="touches"):
        squares_photo(200, 200, [("red", 50, 50, 40), ("blue", 80, 50, 20)])
    with pytest.raises(ValueError, match="outside"):
        squares_photo(200, 200, [("red", 190, 50, 40)])
