"""KServe's ModelServer (kserve 0.21.0, no Kubernetes) serving the models of `kserve_serve.py`
(effnet_bytes, effnet_fp32) with what that one leaves out (issue 19):

  V2: a binary answer when the request asks for one (`"parameters":{"binary_data_output":true}`
      or an output's `"binary_data": true`); kserve_serve.py always answers JSON
  V1: `POST /v1/models/NAME:predict` with `{"instances": [...]}`: for effnet_bytes each instance
      is base64 text or `{"b64": text}` of a JPEG, for effnet_fp32 a nested [3,224,224] list;
      answers `{"predictions": [[1000 logits], ...]}`

    /tmp/kserve-venv/bin/python scripts/interop/v2/kserve_extra_serve.py --port 18200
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path
from typing import Any

import numpy as np
from kserve import InferRequest, InferResponse, ModelServer

sys.path.insert(0, str(Path(__file__).parent))
import effnet
from kserve_serve import Effnet


def _jpeg(instance: Any) -> bytes:
    return base64.b64decode(instance["b64"] if isinstance(instance, dict) else instance)


class EffnetV1V2(Effnet):
    def predict(
        self, payload: InferRequest | dict, headers: Any = None, response_headers: Any = None
    ) -> InferResponse | dict:
        if isinstance(payload, dict):  # V1
            instances = payload["instances"]
            if self.kind == "bytes":
                batch = np.stack([effnet.crop(_jpeg(i)) for i in instances])
            else:
                batch = np.asarray(instances, dtype=np.float32)
            return {"predictions": effnet.logits(batch).tolist()}
        answer = super().predict(payload, headers, response_headers)
        return InferResponse(
            response_id=answer.id,
            model_name=answer.model_name,
            infer_outputs=answer.outputs,
            use_binary_outputs=payload.use_binary_outputs,
            requested_outputs=payload.request_outputs,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18200, help="HTTP (gRPC off)")
    args = ap.parse_args()
    models = [EffnetV1V2("effnet_bytes", "bytes"), EffnetV1V2("effnet_fp32", "fp32")]
    ModelServer(http_port=args.port, grpc_port=args.port + 1, enable_grpc=False).start(models)


if __name__ == "__main__":
    main()
