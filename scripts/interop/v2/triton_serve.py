"""Real NVIDIA Triton (the tritonserver binary in nvidia-pytriton 0.7.0) serving EfficientNet-Lite0
three ways: effnet_bytes (BYTES JPEG -> FP32 logits), effnet_probs (BYTES JPEG -> FP32
probabilities, so the bot uses the classification extension), effnet_fp32 (FP32 NCHW tensor,
already normalised -> logits). Run from a venv made with /usr/bin/python3 (see README.md):

    /tmp/pyt/bin/python scripts/interop/v2/triton_serve.py --port 18000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

sys.path.insert(0, str(Path(__file__).parent))
import effnet


def _pictures(image: np.ndarray) -> np.ndarray:
    return np.stack([effnet.crop(bytes(row[0])) for row in image])


@batch
def infer_bytes(image: np.ndarray) -> dict[str, np.ndarray]:
    return {"logits": effnet.logits(_pictures(image))}


@batch
def infer_probs(image: np.ndarray) -> dict[str, np.ndarray]:
    return {"probabilities": effnet.softmax(effnet.logits(_pictures(image)))}


@batch
def infer_fp32(image: np.ndarray) -> dict[str, np.ndarray]:
    return {"logits": effnet.logits(image)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18000)
    args = ap.parse_args()
    effnet.model()
    config = TritonConfig(http_port=args.port, grpc_port=args.port + 1, metrics_port=args.port + 2)
    jpeg = [Tensor(name="image", dtype=np.bytes_, shape=(1,))]
    with Triton(config=config) as triton:
        triton.bind(
            model_name="effnet_bytes",
            infer_func=infer_bytes,
            inputs=jpeg,
            outputs=[Tensor(name="logits", dtype=np.float32, shape=(1000,))],
            config=ModelConfig(max_batch_size=4),
        )
        triton.bind(
            model_name="effnet_probs",
            infer_func=infer_probs,
            inputs=jpeg,
            outputs=[Tensor(name="probabilities", dtype=np.float32, shape=(1000,))],
            config=ModelConfig(max_batch_size=4),
        )
        triton.bind(
            model_name="effnet_fp32",
            infer_func=infer_fp32,
            inputs=[Tensor(name="image", dtype=np.float32, shape=(3, 224, 224))],
            outputs=[Tensor(name="logits", dtype=np.float32, shape=(1000,))],
            config=ModelConfig(max_batch_size=4),
        )
        print("serving", flush=True)
        triton.serve()


if __name__ == "__main__":
    main()
