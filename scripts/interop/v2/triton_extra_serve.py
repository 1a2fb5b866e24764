"""Real NVIDIA Triton (nvidia-pytriton 0.7.0) serving the two EfficientNet-Lite0 models that
`triton_serve.py` does not (issue 19):

  effnet_labelled   BYTES JPEG [-1,1] -> FP32 `scores` [-1,1000] (probabilities) whose config
                    names a label file, so Triton's classification extension answers
                    "0.952706:967:espresso" instead of "0.952706:967"
  effnet_fp32_nhwc  FP32 [-1,224,224,3] (NHWC, already normalised) -> FP32 `scores` (logits)

pytriton has no way to give an output a label file: its `Tensor` has only name/dtype/shape.
Here `Model.get_model_config` and `Model.get_proxy_model_files` are wrapped so the config it
sends to Triton's load API carries `label_filename: "labels.txt"` on the output and the files
it uploads carry `labels.txt` (ImageNet's 1,000 English names from labels/imagenet1k.xlsx, in
the model's order). Triton's core then reads the labels itself. Needs openpyxl in the venv.

    /tmp/triton-venv/bin/python scripts/interop/v2/triton_extra_serve.py --port 18010
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import ModelConfig, Tensor
from pytriton.models import model as pytriton_model
from pytriton.triton import Triton, TritonConfig

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import effnet  # noqa: E402

LABELLED = {"effnet_labelled"}


def _labels_file() -> bytes:
    import openpyxl

    sheet = openpyxl.load_workbook(
        HERE.parents[2] / "labels" / "imagenet1k.xlsx", read_only=True
    ).active
    rows = list(sheet.iter_rows(values_only=True))
    col = rows[0].index("class_EN")
    return ("\n".join(str(r[col]) for r in rows[1:]) + "\n").encode()


def _with_labels() -> None:
    labels = _labels_file()
    config_of = pytriton_model.Model.get_model_config
    files_of = pytriton_model.Model.get_proxy_model_files

    def get_model_config(self: Any) -> dict:
        cfg = config_of(self)
        if self.model_name in LABELLED:
            for out in cfg.get("output", []):
                out["label_filename"] = "labels.txt"
        return cfg

    def get_proxy_model_files(self: Any) -> dict[str, bytes]:
        files = files_of(self)
        if self.model_name in LABELLED:
            files["file:labels.txt"] = labels  # beside config.pbtxt, where Triton looks
        return files

    pytriton_model.Model.get_model_config = get_model_config
    pytriton_model.Model.get_proxy_model_files = get_proxy_model_files


@batch
def infer_labelled(image: np.ndarray) -> dict[str, np.ndarray]:
    pictures = np.stack([effnet.crop(bytes(row[0])) for row in image])
    return {"scores": effnet.softmax(effnet.logits(pictures))}


@batch
def infer_nhwc(image: np.ndarray) -> dict[str, np.ndarray]:
    return {"scores": effnet.logits(np.asarray(image).transpose(0, 3, 1, 2))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18010, help="HTTP; gRPC +1, metrics +2")
    args = ap.parse_args()
    _with_labels()
    effnet.model()
    config = TritonConfig(http_port=args.port, grpc_port=args.port + 1, metrics_port=args.port + 2)
    scores = [Tensor(name="scores", dtype=np.float32, shape=(1000,))]
    with Triton(config=config) as triton:
        triton.bind(
            model_name="effnet_labelled",
            infer_func=infer_labelled,
            inputs=[Tensor(name="image", dtype=np.bytes_, shape=(1,))],
            outputs=scores,
            config=ModelConfig(max_batch_size=4),
        )
        triton.bind(
            model_name="effnet_fp32_nhwc",
            infer_func=infer_nhwc,
            inputs=[Tensor(name="image", dtype=np.float32, shape=(224, 224, 3))],
            outputs=scores,
            config=ModelConfig(max_batch_size=4),
        )
        print("serving", flush=True)
        triton.serve()


if __name__ == "__main__":
    main()
