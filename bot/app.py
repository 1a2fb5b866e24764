"""The one place that builds adapters from the config and wires them. No I/O at import."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import requests
from PIL import Image

from bot.config import Config
from bot.imaging import ImageLimits, PhotoPreparer
from bot.labels import load_labels
from bot.pipeline import LabelTable, Recogniser, ReplyRules
from bot.serving import ModelInfo, ServingSettings, TFServingClient


def serving_settings(config: Config) -> ServingSettings:
    s = config.serving
    return ServingSettings(
        url=s.url,
        model=s.model,
        timeout_s=s.timeout_s,
        version=s.version,
        version_label=s.version_label,
        signature=s.signature,
        input=s.input,
        value_range=s.value_range,
        output=s.output,
        retries=s.retries,
        retry_backoff_s=s.retry_backoff_s,
        token=s.token,
        username=s.username,
        password=s.password,
    )


def image_limits(config: Config) -> ImageLimits:
    i = config.images
    return ImageLimits(i.short_side_px, i.max_bytes, i.max_pixels, i.jpeg_quality)


def reply_rules(config: Config) -> ReplyRules:
    r = config.reply
    return ReplyRules(r.template, r.unsure_template, r.top_k, r.min_confidence)


def read_labels(config: Config) -> LabelTable:
    return load_labels(
        config.labels.file, column=config.labels.column, id_column=config.labels.id_column
    )


@dataclass
class Core:
    """Everything between picture bytes and reply text, connected to a live model."""

    client: TFServingClient
    info: ModelInfo
    labels: LabelTable
    recogniser: Recogniser


def build_core(
    config: Config, *, session: requests.Session | None = None, labels: LabelTable | None = None
) -> Core:
    """Read labels, reach TF Serving, read the model's signature, wire the recogniser."""
    labels = labels if labels is not None else read_labels(config)
    client = TFServingClient(serving_settings(config), session=session or requests.Session())
    info = client.model_info()
    recogniser = Recogniser(
        prepare=PhotoPreparer(info.input, image_limits(config)),
        classifier=client,
        labels=labels,
        rules=reply_rules(config),
        offset=config.labels.offset,
        model_classes=info.num_classes,
    )
    return Core(client, info, labels, recogniser)


def probe_picture(size: int = 400) -> bytes:
    """A textured test photo for ``check``'s end-to-end prediction."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 255 // size, y * 255 // size, (x + y) * 127 // size], axis=-1)
    pixels = np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def check(config: Config) -> list[tuple[str, str]]:
    """Run every start-up step and return (topic, finding) lines; raises on the first failure."""
    lines = [("config", f"{config.path}: ok")]
    core = build_core(config)
    labels, info = core.labels, core.info
    lines.append(
        (
            "labels",
            f"{config.labels.file}: {len(labels)} names from column "
            f"{labels.column!r} (e.g. 0 = {labels.names[0]})",
        )
    )
    lines.append(
        (
            "serving",
            f"{core.client.public_url}: model {info.name!r} version "
            f"{info.version} AVAILABLE (loaded: {', '.join(info.available_versions)})",
        )
    )
    shrink = f"; pictures shrunk to {config.images.short_side_px} px short side"
    lines.append(("input", info.input.describe() + (shrink if info.input.kind == "jpeg" else "")))
    recognition = core.recogniser.recognise(probe_picture())
    classes = info.num_classes or "?"
    lines.append(("output", f"{info.output or 'the only output'!s}: {classes} classes"))
    offset = core.recogniser.resolved_offset
    how = "auto" if config.labels.offset is None else "set in config"
    meaning = (
        "class 0 is background, model class i = table row i-1"
        if offset == 1
        else (
            "model class i = table row i"
            if offset == 0
            else f"model class i = table row i-{offset}"
        )
    )
    lines.append(("offset", f"{offset} ({how}: {meaning})"))
    best = recognition.verdict.best
    lines.append(
        (
            "predict",
            f"test picture -> {best.label} {best.probability:.1%} in "
            f"{recognition.latency_ms:.0f} ms, {recognition.sent_bytes:,} bytes sent",
        )
    )
    return lines
