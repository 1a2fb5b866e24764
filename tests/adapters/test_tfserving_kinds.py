"""The model kinds of the seeds on TF Serving: seed 000's base64-text input, logits-only outputs,
Estimator class names, a 120-class model with its own table, and `check`'s advice."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.adapters.imaging import PhotoPreparer
from bot.adapters.tfserving import TFServingClient
from bot.cli import main
from bot.core.scores import judge_scores, softmax
from bot.core.settings import ImagesConfig, ServingConfig
from bot.errors import BadPrediction
from tests import gallery
from tests.fakes.tfserving import (
    FakeTFServing,
    ModelSpec,
    dogs120_spec,
    image_for_class,
    logits_spec,
    named_classes_spec,
    seed000_spec,
    write_dogs120_csv,
)

GOLDEN = 56  # 金毛寻回犬 / golden retriever in the 120-row table


@pytest.fixture(scope="module")
def tfs() -> Iterator[FakeTFServing]:
    specs = [seed000_spec("aidog"), dogs120_spec(), named_classes_spec()]
    specs += [logits_spec(), ModelSpec(name="twin", input_kind="float", outputs="single", tf2=True)]
    with FakeTFServing(specs) as server:
        yield server


def write_config(
    tmp_path: Path, url: str, serving: str, labels: str = "", images: str = ""
) -> Path:
    table = write_dogs120_csv(tmp_path / "dogs120.csv")
    labels = labels or f'file = "{table.as_posix()}"'
    path = tmp_path / "config.toml"
    path.write_text(
        f'[serving]\nurl = "{url}"\nretry_backoff_s = 0.01\n{serving}\n'
        f"[labels]\n{labels}\n[images]\n{images}\n"
        '[wechat]\nstate_dir = "state"\n[audit]\npath = "audit.sqlite3"\n',
        encoding="utf-8",
    )
    return path


def dog_photo(tmp_path: Path, class_id: int, name: str = "dog.jpg") -> Path:
    path = tmp_path / name
    path.write_bytes(gallery.jpeg(image_for_class(120, class_id, (1440, 1080))))
    return path


def classify(config: Path, *pictures: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["--config", str(config), "classify", *map(str, pictures)]) == 0
    return [line.split("\t")[1] for line in capsys.readouterr().out.splitlines()]


def client_for(url: str, **overrides: object) -> TFServingClient:
    settings = ServingConfig(**{"url": url, "retry_backoff_s": 0.01, **overrides})  # type: ignore[arg-type]
    return TFServingClient(settings, session=requests.Session(), sleep=time.sleep)


def argmax(values: tuple[float, ...]) -> int:
    return max(range(len(values)), key=values.__getitem__)


# -- seed 000: base64 text -------------------------------------------------------------------
def test_base64_text_model_classify_gives_the_breed_name_from_the_120_row_table(
    tfs: FakeTFServing, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, tfs.url, 'model = "aidog"\ninput = "base64_text"')
    assert classify(cfg, dog_photo(tmp_path, GOLDEN), capsys=capsys) == ["金毛寻回犬"]
    sent = [r for r in tfs.requests if r.path == "/v1/models/aidog:predict"][-1]
    assert sent.json is not None and "instances" not in sent.json
    text = sent.json["inputs"]["image"]
    assert isinstance(text, str) and "+" not in text and "/" not in text
    assert base64.urlsafe_b64decode(text)[:3] == b"\xff\xd8\xff"  # JPEG by default


def test_base64_text_model_takes_png_with_images_format_png(
    tfs: FakeTFServing, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, tfs.url, 'model = "aidog"', images='format = "png"')
    assert classify(cfg, dog_photo(tmp_path, 7), capsys=capsys) == ["英国玩具梗"]
    sent = [r for r in tfs.requests if r.path == "/v1/models/aidog:predict"][-1]
    assert sent.json is not None
    assert base64.urlsafe_b64decode(sent.json["inputs"]["image"])[:4] == b"\x89PNG"


def test_auto_input_tries_picture_bytes_then_base64_text_and_check_says_so(
    tfs: FakeTFServing, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, tfs.url, 'model = "aidog"')
    assert main(["--config", str(cfg), "check"]) == 0
    out = capsys.readouterr().out
    assert "input    web-safe base64 text of the picture in input 'image'" in out
    assert "(auto: tried jpeg refused (Invalid character found in base64." in out
    assert "base64_text works)" in out
    assert "serving  " + tfs.url + " (TF Serving, auto-detected)" in out
    assert "scores   probabilities (auto: values in [0, 1] summing to 1)" in out


def test_check_says_which_input_to_set_when_picture_bytes_are_refused(
    tfs: FakeTFServing, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, tfs.url, 'model = "aidog"\ninput = "jpeg"')
    assert main(["--config", str(cfg), "check"]) == 2
    err = capsys.readouterr().err
    assert "400: Invalid character found in base64." in err
    assert 'fix: the graph decodes base64 text itself: set [serving] input = "base64_text"' in err
    assert 'tried: [serving] input = "base64_text" works' in err


def test_check_says_jpeg_when_a_picture_bytes_model_gets_base64_text(
    tfs: FakeTFServing, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, tfs.url, 'model = "dogs"\ninput = "base64_text"')
    assert main(["--config", str(cfg), "check"]) == 2
    err = capsys.readouterr().err
    assert 'set [serving] input = "jpeg"' in err
    assert 'tried: [serving] input = "jpeg" works' in err


def test_120_class_jpeg_model_with_its_own_table(
    tfs: FakeTFServing, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, tfs.url, 'model = "dogs"')
    assert classify(cfg, dog_photo(tmp_path, GOLDEN), capsys=capsys) == ["金毛寻回犬"]


# -- logits ----------------------------------------------------------------------------------
def test_logits_model_gives_the_same_top1_and_probability_as_its_softmax_twin(
    tfs: FakeTFServing,
) -> None:
    picture = gallery.jpeg(image_for_class(1001, 417, (640, 480)))
    results = {}
    for model in ("logits", "twin"):
        client = client_for(tfs.url, model=model)
        payload = PhotoPreparer(client.model_info().input, ImagesConfig())(picture)
        results[model] = (client.predict(payload), client.scores.decision)
    (logits, decided), (twin, twin_decided) = results["logits"], results["twin"]
    assert argmax(logits.probabilities) == argmax(twin.probabilities) == 417
    assert logits.probabilities == pytest.approx(twin.probabilities, abs=1e-5)
    assert decided == "logits (auto: from the output's name)"
    assert twin_decided == "probabilities (auto: values in [0, 1] summing to 1)"


def test_logits_are_recognised_from_their_values_when_the_name_says_nothing(
    tfs: FakeTFServing, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = logits_spec("keras", num_classes=120, output_alias="dense_1")
    with FakeTFServing(spec) as srv:
        cfg = write_config(tmp_path, srv.url, 'model = "keras"')
        assert classify(cfg, dog_photo(tmp_path, GOLDEN), capsys=capsys) == ["金毛寻回犬"]
        assert main(["--config", str(cfg), "check"]) == 0
    out = capsys.readouterr().out
    assert "scores   logits (auto: values from -" in out and "outside [0, 1])" in out
    assert "test picture -> " in out


def test_logits_declared_as_probabilities_are_refused_with_the_fix(tfs: FakeTFServing) -> None:
    client = client_for(tfs.url, model="logits", scores="probabilities")
    payload = PhotoPreparer(client.model_info().input, ImagesConfig())(
        gallery.jpeg(image_for_class(1001, 3))
    )
    with pytest.raises(BadPrediction, match='scores = "logits"'):
        client.predict(payload)


def test_softmax_is_stable_for_huge_logits_and_auto_judges_values() -> None:
    probs = softmax([1000.0, 999.0, -1000.0])
    assert probs[0] == pytest.approx(0.7310586) and probs[2] == 0.0
    assert judge_scores([0.2, 0.8])[0] == "probabilities"
    assert judge_scores([0.9, 0.9])[0] == "logits"
    assert judge_scores([-1.0, 2.0])[0] == "logits"
    with pytest.raises(BadPrediction):
        softmax([float("nan"), 1.0])


# -- names from the model --------------------------------------------------------------------
def test_named_classes_model_with_labels_from_the_model(
    tfs: FakeTFServing, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, tfs.url, 'model = "named"', labels='file = "model"')
    assert classify(cfg, dog_photo(tmp_path, GOLDEN), capsys=capsys) == ["golden retriever"]
    assert main(["--config", str(cfg), "check"]) == 0
    out = capsys.readouterr().out
    assert "labels   the model's own names (output 'classes')" in out
    assert "output   scores: 120 classes" in out


def test_named_classes_model_with_a_table_maps_ids_to_chinese_names(
    tfs: FakeTFServing, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, tfs.url, 'model = "named"')
    assert classify(cfg, dog_photo(tmp_path, GOLDEN), capsys=capsys) == ["金毛寻回犬"]
    assert main(["--config", str(cfg), "check"]) == 0
    out = capsys.readouterr().out
    assert "0 = 'chihuahua' -> '吉娃娃'" in out


def test_labels_from_a_model_without_names_is_a_clear_error(
    tfs: FakeTFServing, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, tfs.url, 'model = "dogs"', labels='file = "model"')
    assert main(["--config", str(cfg), "classify", str(dog_photo(tmp_path, 1))]) == 2
    assert "has no string output of class names" in capsys.readouterr().err


# -- classify goes on picture by picture -----------------------------------------------------
def test_classify_fails_picture_by_picture_whatever_the_model_answers(
    tfs: FakeTFServing, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, tfs.url, 'model = "dogs"\nretries = 0')
    pictures = [str(dog_photo(tmp_path, k, f"{k}.jpg")) for k in (1, 2, 3, 4)]
    tfs.fail_next(400, '{"error": "Invalid JPEG data"}')
    tfs.fail_next(500, "<html>boom</html>", content_type="text/html")
    tfs.fail_next(200, "not json at all")
    assert main(["--config", str(cfg), "classify", *pictures]) == 2
    captured = capsys.readouterr()
    assert captured.out.count("\t") > 0 and len(captured.out.splitlines()) == 1
    assert "3 of 4 pictures not classified" in captured.err
    for junk in ([1, 2], {"predictions": [[float("nan")] * 120]}, {"predictions": ["x"]}):
        tfs.override_predict_json = junk
        try:
            assert main(["--config", str(cfg), "classify", *pictures[:2]]) == 2
        finally:
            tfs.override_predict_json = None
        assert "2 of 2 pictures not classified" in capsys.readouterr().err
