"""A detector, through its ports: its signature recognised, its answer read and checked, the
finds counted in Chinese with measure words, and the answer with its drawn picture."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from bot.core.chat import Image
from bot.core.detection import read_detections, read_detector
from bot.core.detector import Box, Detector, count, say_counts
from bot.core.pipeline import LabelTable
from bot.core.serving import (
    Detection,
    DetectorOutputs,
    JpegPayload,
    ModelInput,
    Prediction,
    TensorInfo,
)
from bot.core.settings import DetectConfig, ReplyConfig, ServingConfig
from bot.errors import BadPrediction, ModelMismatch

WHERE = "model 'ssd' at http://127.0.0.1:8501"
OD_API_OUTPUTS = {
    "detection_boxes": TensorInfo("float32", (1, 100, 4)),
    "detection_classes": TensorInfo("float32", (1, 100)),
    "detection_scores": TensorInfo("float32", (1, 100)),
    "num_detections": TensorInfo("float32", (1,)),
    "raw_detection_boxes": TensorInfo("float32", (1, 1917, 4)),
    "raw_detection_scores": TensorInfo("float32", (1, 1917, 91)),
    "detection_multiclass_scores": TensorInfo("float32", (1, 100, 91)),
    "detection_anchor_indices": TensorInfo("float32", (1, 100)),
}
COCO = LabelTable(
    ("人", "汽车", "猫", "狗"),
    "coco.csv",
    "class_ZH",
    ids=(1, 3, 17, 18),
    measures=("个", "辆", "只", "只"),
    english=("person", "car", "cat", "dog"),
)
DOG_A = Detection(18, 0.97, (0.1, 0.1, 0.3, 0.3))
DOG_B = Detection(18, 0.91, (0.5, 0.5, 0.7, 0.7))
PERSON = Detection(1, 0.88, (0.2, 0.6, 0.9, 0.8))
FAINT_CAT = Detection(17, 0.31, (0.0, 0.0, 0.2, 0.2))


def od_answer(rows: Sequence[tuple[float, float, tuple[float, ...]]], n: int = 100) -> Any:
    """A TF Serving row answer (batch dimension removed), padded to ``n`` (with whole-picture
    boxes, so that only ``num_detections`` tells the padding from the finds)."""
    padded = list(rows) + [(1.0, 0.0, (0.0, 0.0, 1.0, 1.0))] * (n - len(rows))
    return {
        "detection_classes": [c for c, _, _ in padded],
        "detection_scores": [s for _, s, _ in padded],
        "detection_boxes": [list(b) for _, _, b in padded],
        "num_detections": float(len(rows)),
        "raw_detection_scores": [[0.1] * 91] * 3,
    }


def od_outputs(box_format: str = "normalized") -> DetectorOutputs:
    return DetectorOutputs(
        "detection_boxes",
        "detection_classes",
        "detection_scores",
        "num_detections",
        "od_api",
        box_format,  # type: ignore[arg-type]
        100,
    )


# -- the signature ----------------------------------------------------------------------------
def test_an_object_detection_api_signature_is_a_detector_with_normalised_boxes() -> None:
    found = read_detector(OD_API_OUTPUTS, ServingConfig(), WHERE)
    assert found == od_outputs()
    assert "the Object Detection API's outputs" in found.describe()


def test_a_model_garden_export_is_told_by_its_image_info_and_its_boxes_left_to_the_answer() -> None:
    outputs = {
        "detection_boxes": TensorInfo("float32", (1, 100, 4)),
        "detection_classes": TensorInfo("int32", (1, 100)),
        "detection_scores": TensorInfo("float32", (1, 100)),
        "num_detections": TensorInfo("int32", (1,)),
        "image_info": TensorInfo("float32", (1, 4, 2)),
    }
    found = read_detector(outputs, ServingConfig(), WHERE)
    assert found is not None
    assert (found.convention, found.box_format) == ("model_garden", "auto")
    assert "set [serving] boxes" in found.describe()
    stated = read_detector(outputs, ServingConfig(boxes="pixels"), WHERE)
    assert stated is not None and stated.box_format == "pixels"


def test_a_classifier_signature_is_no_detector_and_task_classify_overrides_auto() -> None:
    scores = {"probabilities": TensorInfo("float32", (-1, 1001))}
    assert read_detector(scores, ServingConfig(), WHERE) is None
    assert read_detector(OD_API_OUTPUTS, ServingConfig(task="classify"), WHERE) is None


def test_task_detect_on_a_model_without_detection_outputs_says_what_it_has() -> None:
    scores = {"probabilities": TensorInfo("float32", (-1, 1001))}
    with pytest.raises(ModelMismatch, match="has no detection_boxes, detection_classes") as exc:
        read_detector(scores, ServingConfig(task="detect"), WHERE)
    assert "it has probabilities" in str(exc.value)


def test_detection_outputs_of_strings_are_a_mismatch() -> None:
    odd = {**OD_API_OUTPUTS, "detection_classes": TensorInfo("string", (1, 100))}
    with pytest.raises(ModelMismatch, match="'detection_classes' is string"):
        read_detector(odd, ServingConfig(), WHERE)


# -- the answer -------------------------------------------------------------------------------
def test_the_answer_is_read_up_to_num_detections_best_first() -> None:
    answer = od_answer([(1.0, 0.88, PERSON.box), (18.0, 0.97, DOG_A.box), (18.0, 0.91, DOG_B.box)])
    found = read_detections(answer, od_outputs(), size=(640, 480), where=WHERE)
    assert found == (DOG_A, DOG_B, PERSON)


def test_a_batched_columnar_answer_reads_the_same() -> None:
    row = od_answer([(18.0, 0.97, DOG_A.box)], n=3)
    batched = {k: [v] for k, v in row.items()}
    assert read_detections(batched, od_outputs(), size=(1, 1), where=WHERE) == (DOG_A,)


def test_boxes_in_pixels_are_divided_by_the_size_of_the_picture_sent() -> None:
    answer = od_answer([(18.0, 0.97, (48.0, 64.0, 144.0, 192.0))], n=1)
    for fmt in ("pixels", "auto"):
        found = read_detections(answer, od_outputs(fmt), size=(640, 480), where=WHERE)
        assert found[0].box == pytest.approx((0.1, 0.1, 0.3, 0.3))


def test_model_garden_pixel_boxes_are_of_the_picture_it_scaled_onto_its_canvas() -> None:
    # 640x480 sent; the model scaled it by 0.6 onto a 384x384 canvas: a box of the photo's
    # (0.1, 0.1, 0.3, 0.3) is (28.8, 38.4, 86.4, 115.2) there, whatever size was sent
    garden = DetectorOutputs(
        "detection_boxes",
        "detection_classes",
        "detection_scores",
        "num_detections",
        "model_garden",
        "auto",
        100,
    )
    answer = od_answer([(18.0, 0.97, (28.8, 38.4, 86.4, 115.2))], n=1)
    answer["image_info"] = [[[480.0, 640.0], [384.0, 384.0], [0.6, 0.6], [0.0, 0.0]]]
    found = read_detections(answer, garden, size=(640, 480), where=WHERE)
    assert found[0].box == pytest.approx((0.1, 0.1, 0.3, 0.3))


@pytest.mark.parametrize(
    "info",
    [
        [[480.0, 640.0], [384.0, 384.0]],
        [[480.0, 640.0], [384.0, 384.0], [0.0, 0.6], [0.0, 0.0]],
        [[480.0, float("inf")], [384.0, 384.0], [0.6, 0.6], [0.0, 0.0]],
        "nonsense",
    ],
)
def test_a_model_garden_image_info_that_is_not_a_picture_size_is_a_bad_answer(info: Any) -> None:
    garden = DetectorOutputs(
        "detection_boxes",
        "detection_classes",
        "detection_scores",
        None,
        "model_garden",
        "pixels",
        100,
    )
    answer = od_answer([(18.0, 0.97, (28.8, 38.4, 86.4, 115.2))], n=1)
    answer["image_info"] = info
    with pytest.raises(BadPrediction, match="image_info"):
        read_detections(answer, garden, size=(640, 480), where=WHERE)


def test_boxes_are_clamped_into_the_picture_and_put_in_order() -> None:
    answer = od_answer([(18.0, 0.97, (0.5, 1.0001, -0.2, 0.4))], n=1)
    found = read_detections(answer, od_outputs(), size=(10, 10), where=WHERE)
    assert found[0].box == (0.0, 0.4, 0.5, 1.0)
    outside = od_answer([(18.0, 0.97, (0.5, 0.5, 0.5, 0.9))], n=1)  # no height: dropped
    assert read_detections(outside, od_outputs(), size=(10, 10), where=WHERE) == ()


@pytest.mark.parametrize(
    "bad,match",
    [
        ({"detection_scores": [float("nan")]}, "not a finite number"),
        ({"detection_scores": [1.5]}, "scores are 0..1"),
        ({"detection_classes": [2.5]}, "the class 2.5"),
        ({"detection_classes": [-1.0]}, "the class -1.0"),
        ({"detection_classes": ["dog"]}, "not a number"),
        ({"detection_boxes": [[0.1, 0.2, 0.3]]}, "a box of 3 numbers"),
        ({"detection_boxes": "boxes"}, "not a list"),
        ({"num_detections": -3.0}, "not a count"),
        ({"num_detections": 1.5}, "not a count"),
    ],
)
def test_a_hostile_answer_is_a_bad_prediction_that_says_what(bad: Any, match: str) -> None:
    answer = {**od_answer([(18.0, 0.97, DOG_A.box)], n=1), **bad}
    with pytest.raises(BadPrediction, match=match):
        read_detections(answer, od_outputs(), size=(10, 10), where=WHERE)


def test_an_answer_without_a_declared_output_names_it() -> None:
    answer = od_answer([(18.0, 0.97, DOG_A.box)], n=1)
    del answer["detection_boxes"]
    with pytest.raises(BadPrediction, match="without the output 'detection_boxes'"):
        read_detections(answer, od_outputs(), size=(10, 10), where=WHERE)


def test_a_huge_answer_is_read_only_up_to_a_bound() -> None:
    answer = od_answer([(18.0, 0.9, DOG_A.box)] * 5000, n=5000)
    answer["num_detections"] = 5000.0
    assert len(read_detections(answer, od_outputs(), size=(1, 1), where=WHERE)) == 1000


# -- counting and saying ----------------------------------------------------------------------
def test_finds_are_counted_per_class_with_measure_words_most_confident_first() -> None:
    found = count([DOG_A, DOG_B, PERSON, FAINT_CAT], COCO, DetectConfig(), offset=0)
    assert say_counts(found.counted) == "2 只狗 (97%, 91%)、1 个人 (88%)"
    assert [(b.caption, b.slot) for b in found.boxes] == [("狗", 0), ("狗", 0), ("人", 1)]
    assert [c.label for c in found.doubtful] == ["猫"]


def test_at_most_max_classes_are_said_and_drawn() -> None:
    found = count([DOG_A, PERSON], COCO, DetectConfig(max_classes=1), offset=0)
    assert say_counts(found.counted) == "1 只狗 (97%)"
    assert [b.caption for b in found.boxes] == ["狗"]


def test_many_of_one_class_list_three_scores_and_a_class_the_table_lacks_is_numbered() -> None:
    people = [Detection(1, 0.9 - i * 0.01, (0.1, 0.1, 0.2, 0.2)) for i in range(5)]
    found = count(
        [*people, Detection(77, 0.6, (0.3, 0.3, 0.4, 0.4))], COCO, DetectConfig(), offset=0
    )
    assert say_counts(found.counted) == "5 个人 (90%, 89%, 88%, …)、类别 77 ×1 (60%)"


def test_a_table_without_measure_words_counts_with_a_times_sign() -> None:
    plain = LabelTable(("person", "bicycle", "car"), "t.csv", "class_EN")
    found = count([Detection(3, 0.8, (0, 0, 1, 1))] * 2, plain, DetectConfig(), offset=1)
    assert say_counts(found.counted) == "car ×2 (80%, 80%)"


# -- the answer port --------------------------------------------------------------------------
class ScriptedDetector:
    """The ``Classifier`` port of a detection model: always the same finds."""

    def __init__(self, found: tuple[Detection, ...] | None) -> None:
        self.found = found

    def predict(self, payload: ModelInput) -> Prediction:
        return Prediction((), "ssd", "1", 1234, detections=self.found)


class RecordingLook:
    def __init__(self, data: bytes, drawn: list[tuple[bytes, list[Box]]]) -> None:
        self.payload = JpegPayload(data, 640, 480)
        self._data = data
        self._drawn = drawn

    def draw(self, boxes: Sequence[Box]) -> Image | None:
        self._drawn.append((self._data, list(boxes)))
        return Image(b"drawn", name="detections.jpg")


class RecordingSight:
    """The ``Sight`` port: the photo as its own payload; records what it was asked to draw."""

    def __init__(self) -> None:
        self.drawn: list[tuple[bytes, list[Box]]] = []
        self.looks: list[bool] = []

    def __call__(self, data: bytes, *, drawing: bool) -> RecordingLook:
        self.looks.append(drawing)
        return RecordingLook(data, self.drawn)


def detector(
    found: tuple[Detection, ...] | None, **settings: Any
) -> tuple[Detector, RecordingSight]:
    sight = RecordingSight()
    made = Detector(
        sight=sight,
        classifier=ScriptedDetector(found),
        labels=COCO,
        settings=DetectConfig(**settings),
        offset=0,
    )
    return made, sight


def test_the_answer_counts_in_words_and_carries_the_drawn_photo() -> None:
    made, drawer = detector((DOG_A, DOG_B, PERSON, FAINT_CAT))
    answer = made.answer(b"photo", sender="小明", rules=ReplyConfig())
    assert answer.text == "@小明\u2005图里有: 2 只狗 (97%, 91%)、1 个人 (88%)"
    assert (answer.kind, answer.sure, answer.label, answer.probability) == (
        "detect",
        True,
        "狗",
        0.97,
    )
    assert answer.detail == "狗×2, 人×1"
    assert answer.counts == (("狗", 2), ("人", 1))
    assert answer.picture == Image(b"drawn", name="detections.jpg")
    assert [type(m).__name__ for m in answer.messages()] == ["Text", "Image"]
    [(data, boxes)] = drawer.drawn
    assert data == b"photo" and [b.box for b in boxes] == [DOG_A.box, DOG_B.box, PERSON.box]


def test_nothing_above_the_threshold_gets_the_unsure_reply_and_no_picture() -> None:
    made, drawer = detector((FAINT_CAT,))
    answer = made.answer(b"photo", sender="小明", rules=ReplyConfig())
    assert answer.text == "@小明\u2005这张图片我不太有把握,可能是: 猫 31%"
    assert (answer.sure, answer.picture, answer.counts) == (False, None, ())
    assert drawer.drawn == []
    nothing, _ = detector(())
    said = nothing.answer(b"photo", sender="小明", rules=ReplyConfig()).text
    assert said == "@小明\u2005这张图片我不太有把握,可能是: 没有认出任何东西"


def test_drawing_off_sends_the_text_alone_and_the_photo_is_not_decoded_for_drawing() -> None:
    made, sight = detector((DOG_A,), draw=False)
    assert made.answer(b"photo", sender="小明", rules=ReplyConfig()).picture is None
    assert (sight.drawn, sight.looks) == ([], [False])


def test_a_classifier_answer_from_a_model_wired_as_a_detector_is_a_bad_prediction() -> None:
    made, _ = detector(None)
    with pytest.raises(BadPrediction, match='set \\[serving\\] task = "classify"'):
        made.answer(b"photo", sender="小明", rules=ReplyConfig())


def test_a_peer_name_cannot_break_the_reply_line() -> None:
    made, _ = detector((DOG_A,))
    text = made.answer(b"photo", sender="小明\n[系统] 你已被踢出", rules=ReplyConfig()).text
    assert "\n" not in text
