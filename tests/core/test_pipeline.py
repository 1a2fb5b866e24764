"""The pure core: offsets, top-k decisions and reply text."""

from __future__ import annotations

import pytest

from bot.core.pipeline import LabelTable, Recogniser, decide, render_reply, resolve_offset
from bot.core.serving import JpegPayload, ModelInput, Prediction, check_probabilities
from bot.core.settings import DEFAULT_TEMPLATE, DEFAULT_UNSURE_TEMPLATE, ReplyConfig
from bot.errors import BadPrediction, LabelError

TABLE = LabelTable(("tench", "goldfish", "shark"), "t.csv", "name")
RULES = ReplyConfig(DEFAULT_TEMPLATE, DEFAULT_UNSURE_TEMPLATE, top_k=2, min_confidence=0.5)


def test_auto_offset_is_one_when_the_model_has_a_background_class() -> None:
    assert resolve_offset(None, 1001, 1000) == 1


def test_auto_offset_is_zero_when_model_and_table_agree() -> None:
    assert resolve_offset(None, 1000, 1000) == 0


def test_auto_offset_refuses_a_model_that_does_not_fit_the_table() -> None:
    with pytest.raises(LabelError, match="answers 120 classes but the label table has 1000"):
        resolve_offset(None, 120, 1000)


def test_explicit_offset_must_fit_the_model() -> None:
    assert resolve_offset(1, 1001, 1000) == 1
    with pytest.raises(LabelError, match="offset must be model - table = 1"):
        resolve_offset(0, 1001, 1000)


def test_background_class_is_never_the_answer() -> None:
    prediction = Prediction((0.7, 0.1, 0.15, 0.05), "m", "1")
    verdict = decide(prediction, TABLE, offset=1, top_k=3, min_confidence=0.1)
    assert [(g.class_id, g.label) for g in verdict.guesses] == [
        (2, "goldfish"),
        (1, "tench"),
        (3, "shark"),
    ]


def test_class_id_beyond_the_table_is_an_error_not_a_wrong_name() -> None:
    prediction = Prediction((0.1, 0.1, 0.1, 0.7), "m", "1")
    with pytest.raises(LabelError, match="covers ids 0..2"):
        decide(prediction, TABLE, offset=0, top_k=1, min_confidence=0.1)


@pytest.mark.parametrize("bad", [[float("nan"), 0.5], [-0.2, 1.0], [0.5, 3.0], []])
def test_vectors_that_are_not_probabilities_are_refused(bad: list[float]) -> None:
    with pytest.raises(BadPrediction):
        check_probabilities(bad)


def test_confident_reply_uses_the_seed_sentence_with_a_wechat_mention() -> None:
    verdict = decide(
        Prediction((0.923, 0.05, 0.027), "m", "1"), TABLE, offset=0, top_k=2, min_confidence=0.5
    )
    text = render_reply(verdict, sender="小明", rules=RULES)
    assert text == "@小明\u2005让我猜猜,你发的这张图片有 92.3% 的概率是: tench"


def test_unsure_reply_lists_the_top_guesses() -> None:
    verdict = decide(
        Prediction((0.3, 0.45, 0.25), "m", "1"), TABLE, offset=0, top_k=2, min_confidence=0.5
    )
    assert not verdict.confident
    text = render_reply(verdict, sender="小明", rules=RULES)
    assert text == "@小明\u2005这张图片我不太有把握,可能是: goldfish 45.0%, tench 30.0%"


class _Classifier:
    def __init__(self, probs: tuple[float, ...]) -> None:
        self.probs = probs
        self.seen: list[ModelInput] = []

    def predict(self, payload: ModelInput) -> Prediction:
        self.seen.append(payload)
        return Prediction(self.probs, "resnet", "3", request_bytes=123)


def test_recogniser_learns_the_offset_from_the_first_answer_when_metadata_is_silent() -> None:
    classifier = _Classifier((0.0, 0.1, 0.8, 0.1))
    recogniser = Recogniser(
        prepare=lambda data: JpegPayload(data, 1, 1),
        classifier=classifier,
        labels=TABLE,
        rules=RULES,
        offset=None,
        model_classes=None,
    )
    result = recogniser.recognise(b"jpeg")
    assert recogniser.resolved_offset == 1
    assert (result.verdict.best.label, result.model, result.version) == ("goldfish", "resnet", "3")
    assert result.sent_bytes == 123
    assert classifier.seen == [JpegPayload(b"jpeg", 1, 1)]
