"""KServe's own ModelServer (the kserve wheel, no Kubernetes) serving EfficientNet-Lite0 over
V2 REST: effnet_bytes (BYTES JPEG -> FP32 logits) and effnet_fp32 (FP32 NCHW -> logits).

    /tmp/ksv/bin/python scripts/interop/v2/kserve_serve.py --http_port 18200
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path
from typing import Any

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer

sys.path.insert(0, str(Path(__file__).parent))
import effnet


def _pictures(value: Any) -> list[bytes]:
    """BYTES elements as the server hands them over: bytes from the binary extension, text
    (base64, the bot's JSON form with content_type) otherwise."""
    out = []
    for item in np.asarray(value, dtype=object).reshape(-1):
        if isinstance(item, str):
            out.append(base64.b64decode(item))
        else:
            out.append(bytes(item))
    return out


class Effnet(Model):
    def __init__(self, name: str, kind: str) -> None:
        super().__init__(name)
        self.kind = kind
        self.load()

    def load(self) -> bool:
        effnet.model()
        self.ready = True
        return True

    def get_input_types(self) -> list[dict[str, Any]]:
        if self.kind == "bytes":
            return [{"name": "image", "datatype": "BYTES", "shape": [-1]}]
        return [{"name": "image", "datatype": "FP32", "shape": [-1, 3, 224, 224]}]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [{"name": "logits", "datatype": "FP32", "shape": [-1, 1000]}]

    def predict(
        self, payload: InferRequest, headers: Any = None, response_headers: Any = None
    ) -> InferResponse:
        inp = payload.inputs[0]
        if self.kind == "bytes":
            batch = np.stack([effnet.crop(p) for p in _pictures(inp.as_numpy())])
        else:
            batch = np.asarray(inp.as_numpy(), dtype=np.float32)
        logits = effnet.logits(batch)
        out = InferOutput(name="logits", shape=list(logits.shape), datatype="FP32")
        out.set_data_from_numpy(logits, binary_data=False)
        return InferResponse(
            response_id=payload.id or "", model_name=self.name, infer_outputs=[out]
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--http_port", type=int, default=18200)
    args = ap.parse_args()
    models = [Effnet("effnet_bytes", "bytes"), Effnet("effnet_fp32", "fp32")]
    ModelServer(http_port=args.http_port, grpc_port=args.http_port + 1, enable_grpc=False).start(
        models
    )


if __name__ == "__main__":
    main()
