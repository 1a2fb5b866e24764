"""Ready-made :class:`ModelSpec` variants for the models the seeds describe (issue 11).

* :func:`seed000_spec` -- seed 000's "AIDog" model: input ``image`` ``DT_STRING`` of unknown rank
  holding web-safe base64 TEXT of a PNG/JPEG, decoded in the graph; output ``prediction``
  (-1, 120) probabilities.  Call it with the columnar form ``{"inputs": "<text>"}`` (TF Serving)
  or ``{"data": {"image": "<text>"}}`` (STFS).
* :func:`logits_spec` -- one output ``logits`` (unbounded values, softmax twin of ``single``).
* :func:`named_classes_spec` -- Estimator classification export: ``classes`` ``DT_STRING``
  (-1, N) class names + ``scores`` (-1, N).
* :func:`dogs120_spec` + :data:`DOGS120_CSV` -- a 120-class model with its own label table
  (Stanford Dogs order as in AIDog's ``dog_labels_inception_v3.txt``; Chinese names from AIDog's
  ``data/dogs.csv``, mogoweb/aiexamples).  Columns ``class_NO,class_EN,class_ZH,wnid``.

A picture made with ``image_for_class(spec.num_classes, k)`` is classified as ``k`` by all of them
(and by the STFS fake, which reuses this machinery).
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes.tfserving.spec import ModelSpec

DOGS120_CSV = Path(__file__).with_name("dogs120.csv")


@dataclass(frozen=True)
class DogBreed:
    class_no: int
    class_en: str
    class_zh: str
    wnid: str


def dog_breeds() -> list[DogBreed]:
    """The 120 rows of :data:`DOGS120_CSV` in class-index order."""
    with DOGS120_CSV.open(encoding="utf-8", newline="") as fh:
        return [
            DogBreed(int(r["class_NO"]), r["class_EN"], r["class_ZH"], r["wnid"])
            for r in csv.DictReader(fh)
        ]


def write_dogs120_csv(path: str | Path) -> Path:
    """Copy the 120-row label table to ``path`` (e.g. a test's ``tmp_path / "dogs120.csv"``)."""
    target = Path(path)
    shutil.copyfile(DOGS120_CSV, target)
    return target


def seed000_spec(name: str = "default", **overrides: Any) -> ModelSpec:
    """Seed 000's base64-text model ("default" is STFS's default model name)."""
    fields: dict[str, Any] = {
        "name": name,
        "input_kind": "base64_text",
        "outputs": "single",
        "output_alias": "prediction",
        "num_classes": 120,
        "height": 299,
        "width": 299,
    }
    fields.update(overrides)
    return ModelSpec(**fields)


def logits_spec(name: str = "logits", num_classes: int = 1001, **overrides: Any) -> ModelSpec:
    """A Keras-style model exported without softmax: one output ``logits``."""
    fields: dict[str, Any] = {
        "name": name,
        "input_kind": "float",
        "outputs": "logits",
        "num_classes": num_classes,
        "tf2": True,
    }
    fields.update(overrides)
    return ModelSpec(**fields)


def named_classes_spec(
    name: str = "named", class_names: tuple[str, ...] | None = None, **overrides: Any
) -> ModelSpec:
    """Estimator classification export: ``classes`` (names) + ``scores``."""
    names = class_names or tuple(b.class_en for b in dog_breeds())
    fields: dict[str, Any] = {
        "name": name,
        "input_kind": "b64",
        "input_alias": "inputs",
        "outputs": "classes_scores",
        "num_classes": len(names),
        "class_names": names,
    }
    fields.update(overrides)
    return ModelSpec(**fields)


def dogs120_spec(name: str = "dogs", **overrides: Any) -> ModelSpec:
    """A 120-class JPEG-input model (``image_bytes``, one output) for :data:`DOGS120_CSV`."""
    fields: dict[str, Any] = {
        "name": name,
        "input_kind": "b64",
        "outputs": "single",
        "num_classes": 120,
    }
    fields.update(overrides)
    return ModelSpec(**fields)
