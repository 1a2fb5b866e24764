"""MLServer custom runtimes for EfficientNet-Lite0: BYTES JPEG (base64 in JSON, MLServer's
codec) -> FP32 logits, and an FP32 NCHW tensor -> logits."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from mlserver import MLModel
from mlserver.codecs import Base64Codec, NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import effnet


def _answer(name: str, logits: np.ndarray) -> InferenceResponse:
    return InferenceResponse(
        model_name=name, outputs=[NumpyCodec.encode_output(name="logits", payload=logits)]
    )


class EffnetBytes(MLModel):
    async def load(self) -> bool:
        effnet.model()
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        pictures = self.decode(payload.inputs[0], default_codec=Base64Codec)
        batch = np.stack([effnet.crop(bytes(p)) for p in pictures])
        return _answer(self.name, effnet.logits(batch))


class EffnetFP32(MLModel):
    async def load(self) -> bool:
        effnet.model()
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        batch = self.decode(payload.inputs[0], default_codec=NumpyCodec)
        return _answer(self.name, effnet.logits(np.asarray(batch, dtype=np.float32)))
