"""What a model outputs for a list of winning classes (shared by the TF Serving and STFS fakes).

Every output row is derived from the probability vector ``p`` that puts ``top_probability`` on
the winning class and spreads the rest evenly:

* ``single`` / ``classes_probabilities``: ``p`` (float32), plus ``classes`` = the int64 argmax;
* ``logits``: ``ln(p) + LOGIT_OFFSET`` (float32; unbounded, positive and negative), whose softmax
  is ``p`` again -- the "softmax twin" of the ``single`` model has the same top-1;
* ``classes_scores``: ``scores`` = ``p`` and ``classes`` = every class name in index order (as
  an Estimator classification head exports them).
"""

from __future__ import annotations

import math
from typing import Any

from tests.fakes.tfserving.rjson import _f32
from tests.fakes.tfserving.spec import ModelSpec, _Signature

LOGIT_OFFSET = 4.0

# (alias, kind, one item per example); kind: "int" (an int), "float" (list of float32 values as
# Python floats) or "str" (list of str)
OutputRows = list[tuple[str, str, list[Any]]]


def probability_row(spec: ModelSpec, k: int) -> list[float]:
    n = spec.num_classes
    rest = _f32((1.0 - spec.top_probability) / (n - 1)) if n > 1 else 0.0
    row = [rest] * n
    row[k] = _f32(spec.top_probability)
    return row


def logit_row(spec: ModelSpec, k: int) -> list[float]:
    def logit(p: float) -> float:
        return _f32(math.log(p) + LOGIT_OFFSET) if p > 0.0 else _f32(-100.0)

    probs = probability_row(spec, k)
    top, rest = logit(probs[k]), logit(probs[k - 1] if len(probs) > 1 else probs[k])
    row = [rest] * spec.num_classes
    row[k] = top
    return row


def output_rows(spec: ModelSpec, signature: _Signature, classes: list[int]) -> OutputRows:
    """Per output alias (sorted, like a proto map), the value of each example."""
    rows: OutputRows = []
    for alias in sorted(signature.outputs):
        dtype = signature.outputs[alias].dtype
        if alias == "classes" and dtype == "DT_INT64":
            rows.append((alias, "int", list(classes)))
        elif alias == "classes" and dtype == "DT_STRING":
            names = list(spec.names)
            rows.append((alias, "str", [names for _ in classes]))
        elif spec.outputs == "logits":
            rows.append((alias, "float", [logit_row(spec, k) for k in classes]))
        else:
            rows.append((alias, "float", [probability_row(spec, k) for k in classes]))
    return rows
