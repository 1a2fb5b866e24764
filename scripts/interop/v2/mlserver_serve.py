"""Seldon MLServer serving EfficientNet-Lite0 on a port of your choice, until killed (issue 19).

Serves the model folder `mlserver/` beside this file (what `run mlserver` serves with
`mlserver start`, whose settings.json fixes port 18100): `effnet_bytes` (BYTES JPEG, base64 in
JSON -> FP32 logits) and `effnet_fp32` (FP32 NCHW [-1,3,224,224], normalised -> logits), both
custom `mlserver.MLModel` runtimes in mlserver/effnet_runtime.py. Inference runs in this
process (parallel_workers 0), so the model is in memory once.

    /tmp/mlserver-venv/bin/python scripts/interop/v2/mlserver_serve.py --port 18100
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from mlserver import MLServer, Settings
from mlserver.repository.factory import ModelRepositoryFactory

FOLDER = Path(__file__).resolve().parent / "mlserver"


async def serve(port: int) -> None:
    sys.path.insert(0, str(FOLDER))  # effnet_runtime, as `mlserver start FOLDER` does
    settings = Settings(
        host="127.0.0.1",
        http_port=port,
        grpc_port=port + 1,
        metrics_port=port + 2,
        parallel_workers=0,
        model_repository_root=str(FOLDER),
        load_models_at_startup=True,
    )
    models = await ModelRepositoryFactory.resolve_model_repository(settings).list()
    await MLServer(settings).start(models)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18100, help="HTTP; gRPC +1, metrics +2")
    args = ap.parse_args()
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
