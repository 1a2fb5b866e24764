"""Object detectors as real TF SavedModels, with the exact signatures of the TensorFlow Object
Detection API's and TF Model Garden's exports (facts and sources: README.md beside this file),
whose "network" is a few TensorFlow ops that find saturated red, green and blue squares: a red
square is a dog (COCO 18), a green one a car (3), a blue one a person (1).

* :func:`build_models` writes them (TensorFlow runs in a child process; this package imports
  only numpy and Pillow) -- serve them with :mod:`tests.fakes.tfserving_tf`;
* :func:`squares_photo` paints a picture and tells what a detector finds in it.

::

    models = build_models(tmp / "models")            # {"od_image_tensor": base path, ...}
    photo = squares_photo(640, 480, [("red", 160, 120, 80), ("red", 480, 120, 60),
                                     ("blue", 320, 360, 100)])
    photo.data, photo.expected                       # JPEG bytes; 3 ExpectedSquare, best first
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.fakes.detector.photos import ExpectedSquare, SquareSpec, SquaresPhoto, squares_photo
from tests.fakes.detector.spec import (
    CAR,
    COLOURS,
    DOG,
    MAX_DETECTIONS,
    MG_INPUT_SIZE,
    NOISE,
    NUM_CLASSES,
    PERSON,
    Colour,
    Noise,
    score_for_side,
)

REPO = Path(__file__).resolve().parents[3]
MODEL_NAMES = (
    "od_image_tensor",
    "od_encoded",
    "od_encoded_b1",
    "mg_image_tensor",
    "mg_image_bytes_normalized",
)  # what build.py makes (tests/fakes/detector/build.py's docstring says how each looks)
OD_OUTPUTS = frozenset(
    {
        "detection_boxes",
        "detection_classes",
        "detection_scores",
        "num_detections",
        "detection_multiclass_scores",
        "detection_anchor_indices",
        "raw_detection_boxes",
        "raw_detection_scores",
    }
)
MG_OUTPUTS = frozenset(
    {"detection_boxes", "detection_classes", "detection_scores", "num_detections", "image_info"}
)


def build_models(
    out_dir: Path, names: Sequence[str] = MODEL_NAMES, *, python: str = sys.executable
) -> dict[str, Path]:
    """Build the detectors ``names`` under ``out_dir`` with TensorFlow in ``python`` (about
    1 s each after TensorFlow's import); returns ``{name: base_path}`` (version 1 inside).
    Raises RuntimeError with TensorFlow's output if the build fails."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    done = subprocess.run(
        [python, "-m", "tests.fakes.detector.build", str(out_dir), *names],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the detectors failed:\n{done.stdout}\n{done.stderr}")
    return {name: out_dir / name for name in names}


__all__ = [
    "CAR",
    "COLOURS",
    "DOG",
    "MAX_DETECTIONS",
    "MG_INPUT_SIZE",
    "MG_OUTPUTS",
    "MODEL_NAMES",
    "NOISE",
    "NUM_CLASSES",
    "OD_OUTPUTS",
    "PERSON",
    "Colour",
    "ExpectedSquare",
    "Noise",
    "SquareSpec",
    "SquaresPhoto",
    "build_models",
    "score_for_side",
    "squares_photo",
]
