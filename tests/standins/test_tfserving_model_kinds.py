"""The TF Serving fake's model kinds from issue 11 (tests/fakes/tfserving/kinds.py)."""

from __future__ import annotations

import base64
import csv
import io
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.fakes.tfserving import (
    FakeTFServing,
    dog_breeds,
    dogs120_spec,
    image_for_class,
    jpeg_bytes,
    logits_spec,
    named_classes_spec,
    seed000_spec,
    tf_base64_decode,
    write_dogs120_csv,
)

TIMEOUT = 10
NODE_B64 = "\n\t [[{{node import/DecodeBase64}}]]"
NODE_PNG = "\n\t [[{{node import/DecodePng}}]]"


def png_text(class_id: int) -> str:
    buf = io.BytesIO()
    image_for_class(120, class_id, (64, 48)).save(buf, format="PNG")
    return base64.urlsafe_b64encode(buf.getvalue()).decode("ascii")


def top1(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


@pytest.fixture
def tfs() -> Iterator[FakeTFServing]:
    specs = [seed000_spec("aidog"), logits_spec(num_classes=120, height=32, width=32)]
    specs += [named_classes_spec(), dogs120_spec(), seed000_spec("twin", input_kind="b64")]
    with FakeTFServing(specs) as server:
        yield server


def predict(server: FakeTFServing, model: str, doc: object) -> requests.Response:
    return requests.post(f"{server.url}/v1/models/{model}:predict", json=doc, timeout=TIMEOUT)


def test_base64_text_model_takes_a_scalar_string_in_columnar_form(tfs: FakeTFServing) -> None:
    resp = predict(tfs, "aidog", {"inputs": png_text(77)})
    assert resp.status_code == 200
    outputs = resp.json()["outputs"]
    assert len(outputs) == 1 and len(outputs[0]) == 120 and top1(outputs[0]) == 77
    named = predict(tfs, "aidog", {"inputs": {"image": png_text(76)}})
    assert top1(named.json()["outputs"][0]) == 76


def test_base64_text_model_metadata_says_unknown_rank(tfs: FakeTFServing) -> None:
    meta = requests.get(f"{tfs.url}/v1/models/aidog/metadata", timeout=TIMEOUT).json()
    sigs = meta["metadata"]["signature_def"]["signature_def"]
    assert list(sigs) == ["serving_default"]
    image = sigs["serving_default"]["inputs"]["image"]
    assert image["dtype"] == "DT_STRING"
    assert image["tensor_shape"] == {"dim": [], "unknown_rank": True}
    out = sigs["serving_default"]["outputs"]["prediction"]["tensor_shape"]["dim"]
    assert [d["size"] for d in out] == ["-1", "120"]


def test_raw_bytes_from_a_b64_object_get_tfs_invalid_character_error(tfs: FakeTFServing) -> None:
    jpeg = base64.b64encode(jpeg_bytes(image_for_class(120, 3))).decode()
    for doc in ({"inputs": {"b64": jpeg}}, {"instances": [{"b64": jpeg}]}):
        resp = predict(tfs, "aidog", doc)
        assert resp.status_code == 400
        assert resp.json() == {"error": "Invalid character found in base64." + NODE_B64}


def test_row_form_batches_so_the_scalar_model_refuses_it(tfs: FakeTFServing) -> None:
    resp = predict(tfs, "aidog", {"instances": [png_text(1)]})
    assert resp.status_code == 400
    assert resp.json()["error"] == "`contents` must be scalar but got shape[1]" + NODE_PNG


def test_standard_alphabet_empty_and_short_texts(tfs: FakeTFServing) -> None:
    std = base64.b64encode(b"\xfb\xff\xfe" * 4).decode()
    assert predict(tfs, "aidog", {"inputs": std}).json()["error"].startswith("Invalid character")
    assert predict(tfs, "aidog", {"inputs": ""}).json()["error"] == "Input is empty." + NODE_PNG
    short = predict(tfs, "aidog", {"inputs": "abcde"}).json()["error"]
    assert short == "Base64 string length cannot be 1 modulo 4." + NODE_B64


def test_tf_base64_decode_matches_tensorflow_rules() -> None:
    assert tf_base64_decode(b"-_-_") == base64.urlsafe_b64decode("-_-_")
    assert tf_base64_decode(b"YWI") == b"ab" == tf_base64_decode(b"YWI=")
    assert tf_base64_decode(b"") == b""
    for bad in (b"YW+/", b"YQ=A", b"\xff\xd8\xff\xe0"):
        with pytest.raises(ValueError, match="Invalid character"):
            tf_base64_decode(bad)


def test_logits_model_has_unbounded_values_with_the_same_top1_as_its_softmax_twin(
    tfs: FakeTFServing,
) -> None:
    pixels = [[[[0.9, 0.1, 0.5]] * 32] * 32]
    logits = predict(tfs, "logits", {"instances": pixels}).json()["predictions"][0]
    assert max(logits) > 1.0 and min(logits) < 0.0
    exp = [math.exp(v) for v in logits]
    probs = [e / sum(exp) for e in exp]
    assert abs(max(probs) - 0.9) < 1e-4
    twin = predict(tfs, "twin", {"instances": [{"b64": png_b64_std(top1(logits))}]})
    assert top1(twin.json()["predictions"][0]) == top1(logits)


def png_b64_std(class_id: int) -> str:
    return base64.b64encode(jpeg_bytes(image_for_class(120, class_id))).decode()


def test_named_classes_model_returns_names_and_scores(tfs: FakeTFServing) -> None:
    resp = predict(tfs, "named", {"instances": [{"b64": png_b64_std(56)}]})
    pred = resp.json()["predictions"][0]
    assert sorted(pred) == ["classes", "scores"]
    assert pred["classes"][56] == "golden retriever" and len(pred["classes"]) == 120
    assert top1(pred["scores"]) == 56
    meta = requests.get(f"{tfs.url}/v1/models/named/metadata", timeout=TIMEOUT).json()
    classes = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["outputs"]
    assert classes["classes"]["dtype"] == "DT_STRING"


def test_dogs120_model_and_its_label_table(tfs: FakeTFServing, tmp_path: Path) -> None:
    path = write_dogs120_csv(tmp_path / "dogs120.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 120 and rows[0]["class_EN"] == "chihuahua"
    assert rows[56]["class_ZH"] == "金毛寻回犬"
    assert [b.class_no for b in dog_breeds()] == list(range(120))
    resp = predict(tfs, "dogs", {"instances": [{"b64": png_b64_std(56)}]})
    assert top1(resp.json()["predictions"][0]) == 56
