"""What the fake serves: :class:`ModelSpec`, its signatures/metadata, and request records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

InputKind = Literal["b64", "base64_text", "float", "uint8", "half"]
FaultScope = Literal["predict", "v1"]

_INPUT_KINDS = ("b64", "base64_text", "float", "uint8", "half")
_OUTPUT_KINDS = ("classes_probabilities", "single", "logits", "classes_scores")
_TENSOR_RANGES = ("0_1", "-1_1", "0_255", "caffe", "rgb_mean", "torch")

# --------------------------------------------------------------------------------------------
# Model description
# --------------------------------------------------------------------------------------------


@dataclass
class ModelSpec:
    """One servable (all its versions share the same signature).

    ``input_kind``: ``"b64"`` -> input ``image_bytes`` ``DT_STRING`` shape ``(-1)`` (r1 ResNet
    JPEG export); ``"float"`` / ``"uint8"`` -> ``DT_FLOAT`` / ``DT_UINT8`` ``(-1, H, W, 3)``;
    ``"half"`` -> ``DT_HALF`` (every request fails: JSON cannot be converted to half);
    ``"base64_text"`` -> seed 000's input: alias ``image``, ``DT_STRING``, unknown rank, the graph
    decodes web-safe base64 TEXT then the PNG/JPEG itself (see :mod:`.b64text`).
    ``outputs``: ``"classes_probabilities"`` (``classes`` int64 + ``probabilities``),
    ``"single"`` (one output ``predictions`` = probability vector; alias dropped in responses),
    ``"logits"`` (one output ``logits``: unbounded scores whose softmax is the ``"single"``
    model's vector) or ``"classes_scores"`` (Estimator classification export: ``classes``
    ``DT_STRING`` (-1, N) = ``class_names`` in index order, ``scores`` ``DT_FLOAT`` (-1, N)).
    ``output_alias`` renames the one output of ``"single"`` / ``"logits"`` (seed 000:
    ``prediction``).
    ``tf2``: metadata lists ``__saved_model_init_op`` + ``serving_default`` and uses TF2 tensor
    names; otherwise (r1 estimator export) ``predict`` + ``serving_default``.
    """

    name: str = "resnet"
    versions: tuple[int, ...] = (1,)
    labels: dict[str, int] = field(default_factory=dict)
    input_kind: str = "b64"
    input_alias: str | None = None
    height: int = 224
    width: int = 224
    num_classes: int = 1001
    outputs: str = "classes_probabilities"
    tf2: bool = False
    classify: Callable[[Image.Image], int] | None = None
    top_probability: float = 0.9
    tensor_range: str = "0_1"
    output_alias: str | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.input_kind not in _INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {_INPUT_KINDS}, got {self.input_kind!r}")
        if self.outputs not in _OUTPUT_KINDS:
            raise ValueError(f"outputs must be one of {_OUTPUT_KINDS}, got {self.outputs!r}")
        if self.tensor_range not in _TENSOR_RANGES:
            raise ValueError(
                f"tensor_range must be one of {_TENSOR_RANGES}, got {self.tensor_range!r}"
            )
        if self.num_classes < 1:
            raise ValueError("num_classes must be >= 1")
        if not 0.0 <= self.top_probability <= 1.0:
            raise ValueError("top_probability must be in [0, 1]")
        self.versions = tuple(int(v) for v in self.versions)
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise ValueError("class_names must have num_classes entries")

    @property
    def names(self) -> tuple[str, ...]:
        """Class names of a ``classes_scores`` model (Estimator default: the ids as text)."""
        if self.class_names is not None:
            return self.class_names
        return tuple(str(i) for i in range(self.num_classes))

    @property
    def alias(self) -> str:
        """The input alias used in requests."""
        if self.input_alias is not None:
            return self.input_alias
        if self.input_kind == "base64_text":
            return "image"
        return "image_bytes" if self.input_kind == "b64" else "input_1"


@dataclass
class RecordedRequest:
    """One HTTP request as received by the fake (``status`` is filled in once answered)."""

    method: str
    path: str  # raw request target (path + query)
    headers: dict[str, str]  # header names lower-cased
    body_length: int  # bytes on the wire (before gzip inflation)
    json: Any | None  # parsed (inflated) body, None if empty/invalid/too large to keep
    status: int = 0


# --------------------------------------------------------------------------------------------
# Signatures / metadata
# --------------------------------------------------------------------------------------------

_KIND_DTYPE = {
    "b64": "DT_STRING",
    "base64_text": "DT_STRING",
    "float": "DT_FLOAT",
    "uint8": "DT_UINT8",
    "half": "DT_HALF",
}


@dataclass(frozen=True)
class _TensorInfo:
    dtype: str
    dims: tuple[int, ...] | None  # None = unknown rank
    name: str

    def to_json(self) -> dict[str, Any]:
        if self.dims is None:
            shape: dict[str, Any] = {"dim": [], "unknown_rank": True}
        else:
            shape = {
                "dim": [{"size": str(d), "name": ""} for d in self.dims],
                "unknown_rank": False,
            }
        return {"dtype": self.dtype, "tensor_shape": shape, "name": self.name}

    def to_text(self, indent: str) -> list[str]:
        lines = [f'{indent}name: "{self.name}"', f"{indent}dtype: {self.dtype}"]
        lines.append(f"{indent}tensor_shape {{")
        if self.dims is None:
            lines.append(f"{indent}  unknown_rank: true")
        for d in self.dims or ():
            lines += [f"{indent}  dim {{", f"{indent}    size: {d}", f"{indent}  }}"]
        lines.append(f"{indent}}}")
        return lines


@dataclass(frozen=True)
class _Signature:
    inputs: dict[str, _TensorInfo]
    outputs: dict[str, _TensorInfo]
    method_name: str

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": {k: v.to_json() for k, v in sorted(self.inputs.items())},
            "outputs": {k: v.to_json() for k, v in sorted(self.outputs.items())},
            "method_name": self.method_name,
            "defaults": {},
        }

    def debug_string(self) -> str:
        """protobuf DebugString() (text format) of the SignatureDef."""
        lines: list[str] = []
        for field_name, infos in (("inputs", self.inputs), ("outputs", self.outputs)):
            for key, info in sorted(infos.items()):
                lines += [f"{field_name} {{", f'  key: "{key}"', "  value {"]
                lines += info.to_text("    ")
                lines += ["  }", "}"]
        lines.append(f'method_name: "{self.method_name}"')
        return "\n".join(lines) + "\n"


_PREDICT_METHOD = "tensorflow/serving/predict"


def _signatures(spec: ModelSpec) -> dict[str, _Signature]:
    alias = spec.alias
    dtype = _KIND_DTYPE[spec.input_kind]
    dims: tuple[int, ...] | None = (
        None
        if spec.input_kind == "base64_text"
        else (-1,)
        if spec.input_kind == "b64"
        else (-1, spec.height, spec.width, 3)
    )
    if spec.tf2:
        in_name = f"serving_default_{alias}:0"
        out_names = ["StatefulPartitionedCall:0", "StatefulPartitionedCall:1"]
    elif spec.input_kind == "base64_text":
        # seed 000: tf.placeholder(tf.string, name="base64_string") + two import_graph_def()s
        in_name = "base64_string:0"
        out_names = ["import_1/final_result:0", "import_1/final_result:0"]
    else:
        in_name = "input_tensor:0" if spec.input_kind == "b64" else "input:0"
        out_names = ["ArgMax:0", "softmax_tensor:0"]
    probs = (-1, spec.num_classes)
    outputs: dict[str, _TensorInfo]
    if spec.outputs in ("single", "logits"):
        default = "predictions" if spec.outputs == "single" else "logits"
        outputs = {spec.output_alias or default: _TensorInfo("DT_FLOAT", probs, out_names[0])}
    elif spec.outputs == "classes_scores":
        outputs = {
            "classes": _TensorInfo("DT_STRING", probs, out_names[0]),
            "scores": _TensorInfo("DT_FLOAT", probs, out_names[1]),
        }
    else:
        outputs = {
            "classes": _TensorInfo("DT_INT64", (-1,), out_names[0]),
            "probabilities": _TensorInfo("DT_FLOAT", probs, out_names[1]),
        }
    serving = _Signature({alias: _TensorInfo(dtype, dims, in_name)}, outputs, _PREDICT_METHOD)
    if spec.tf2:
        init = _Signature(
            {},
            {"__saved_model_init_op": _TensorInfo("DT_INVALID", None, "NoOp")},
            "",
        )
        return {"__saved_model_init_op": init, "serving_default": serving}
    if spec.input_kind == "base64_text":
        return {"serving_default": serving}  # simple_save() writes only the default signature
    return {"predict": serving, "serving_default": serving}
