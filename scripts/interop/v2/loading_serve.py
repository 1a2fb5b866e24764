"""A real KServe or MLServer whose model takes LOAD_S seconds to load, to see what the bot says
while it loads and that it answers once loaded (issue 19, after closing). The model is a tiny
stand-in (BYTES JPEG in, 1001 FP32 scores out, the top one at the picture's mean red value) so
that nothing heavy is needed; what matters is the server's own behaviour during the load.

    /tmp/ksv/bin/python scripts/interop/v2/loading_serve.py kserve --port 18400 --load-s 40
    /tmp/mls/bin/python scripts/interop/v2/loading_serve.py mlserver --port 18500 --load-s 40
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

NAME = "slow"


def scores(picture: bytes) -> np.ndarray:
    red = int(np.asarray(Image.open(io.BytesIO(picture)).convert("RGB"))[..., 0].mean())
    out = np.full(1001, 0.1 / 1001, dtype=np.float32)
    out[red] = 0.9
    return out


def as_bytes(item: Any) -> bytes:
    return base64.b64decode(item) if isinstance(item, str) else bytes(item)


def kserve(port: int, load_s: float) -> None:
    from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer

    class Slow(Model):
        def __init__(self, name: str, delay_s: float) -> None:
            super().__init__(name)
            self.ready = False  # KServe's own flag: ready and infer answer 503 until it is set

            def loaded() -> None:
                time.sleep(delay_s)
                self.ready = True
                print(f"{name}: loaded after {delay_s:g} s", flush=True)

            threading.Thread(target=loaded, daemon=True).start()

        def get_input_types(self) -> list[dict[str, Any]]:
            return [{"name": "image", "datatype": "BYTES", "shape": [-1]}]

        def get_output_types(self) -> list[dict[str, Any]]:
            return [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 1001]}]

        def predict(
            self, payload: InferRequest, headers: Any = None, response_headers: Any = None
        ) -> InferResponse:
            items = np.asarray(payload.inputs[0].as_numpy(), dtype=object).reshape(-1)
            batch = np.stack([scores(as_bytes(i)) for i in items])
            out = InferOutput(name="probabilities", shape=list(batch.shape), datatype="FP32")
            out.set_data_from_numpy(batch, binary_data=False)
            return InferResponse(
                response_id=payload.id or "", model_name=self.name, infer_outputs=[out]
            )

    # KServe starts only with a ready model ("quick"), and registers at start only the ready
    # ones (a model not ready then "does not exist": 404). "slow" is registered by hand, as
    # a model being (re)loaded is: the server knows it, and it is not ready for load_s.
    quick = Slow("quick", 0.0)
    time.sleep(0.5)
    server = ModelServer(http_port=port, grpc_port=port + 1, enable_grpc=False)
    server.register_model(Slow(NAME, load_s))
    server.start([quick])


try:  # MLServer imports its model by path (``loading_serve.SlowML``): it lives at the top
    from mlserver import MLModel
except ImportError:  # the KServe venv
    MLModel = object


class SlowML(MLModel):  # type: ignore[misc,valid-type]
    async def load(self) -> bool:
        load_s = float(os.environ.get("LOADING_SERVE_LOAD_S", "40"))
        await asyncio.sleep(load_s)  # MLServer serves its REST port meanwhile
        print(f"{NAME}: loaded after {load_s:g} s", flush=True)
        return True

    async def predict(self, payload: Any) -> Any:
        from mlserver.codecs import NumpyCodec
        from mlserver.types import InferenceResponse

        items = payload.inputs[0].data.root
        batch = np.stack([scores(as_bytes(i)) for i in items])
        out = NumpyCodec.encode_output(name="probabilities", payload=batch)
        return InferenceResponse(model_name=NAME, outputs=[out])


def mlserver(port: int, load_s: float) -> None:
    from mlserver import MLServer, Settings
    from mlserver.settings import ModelParameters, ModelSettings
    from mlserver.types import MetadataTensor

    os.environ["LOADING_SERVE_LOAD_S"] = str(load_s)
    sys.path.insert(0, str(Path(__file__).resolve().parent))

    async def serve() -> None:
        settings = Settings(
            host="127.0.0.1",
            http_port=port,
            grpc_port=port + 1,
            metrics_port=port + 2,
            parallel_workers=0,
            load_models_at_startup=True,
        )
        model = ModelSettings(
            name=NAME,
            implementation="loading_serve.SlowML",
            inputs=[MetadataTensor(name="image", datatype="BYTES", shape=[-1])],
            outputs=[MetadataTensor(name="probabilities", datatype="FP32", shape=[-1, 1001])],
            parameters=ModelParameters(version="1"),
        )
        await MLServer(settings).start([model])

    asyncio.run(serve())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("server", choices=["kserve", "mlserver"])
    ap.add_argument("--port", type=int, default=18400)
    ap.add_argument("--load-s", type=float, default=40.0)
    args = ap.parse_args()
    (kserve if args.server == "kserve" else mlserver)(args.port, args.load_s)


if __name__ == "__main__":
    main()
