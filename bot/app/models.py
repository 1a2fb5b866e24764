"""Models: read the label table, reach the server, read the signature, wire the recogniser.

Part of the wiring (``bot.app``): the one place that builds the serving, imaging and labels
adapters for the default model and for each [models.NAME].
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
import requests
from PIL import Image

from bot.adapters.imaging import PhotoPreparer
from bot.adapters.labels import load_labels
from bot.adapters.tfserving import ModelInfo, TFServingClient
from bot.core.live import LiveRecogniser, ModelSet
from bot.core.pipeline import LabelTable, Recogniser
from bot.core.settings import Config, LabelsConfig, ModelConfig
from bot.errors import UsageError


def read_labels(labels: LabelsConfig) -> LabelTable:
    return load_labels(labels.file, column=labels.column, id_column=labels.id_column)


@dataclass
class LoadedModel:
    """A model reached and read, with the recogniser wired to it (the ``Model`` port)."""

    client: TFServingClient
    info: ModelInfo
    labels: LabelTable
    recogniser: Recogniser

    @property
    def description(self) -> str:
        info = self.info
        return f"model {info.name} version {info.version}, {info.input.describe()}"

    def ping(self) -> None:
        self.client.ping()


def model_config(config: Config, name: str | None) -> ModelConfig:
    """The default model's settings (None) or a [models.NAME] table's; BotError if unknown."""
    if name is None:
        return ModelConfig(serving=config.serving, labels=config.labels)
    if name not in config.models:
        raise UsageError(
            f"no model {name!r}: use one of {', '.join(config.models) or '(none)'} from "
            f"[models.NAME] in {config.path}, or leave --model out for the default"
        )
    return config.models[name]


def connect_model(
    config: Config, name: str | None = None, *, labels: LabelTable | None = None
) -> LoadedModel:
    """Read labels, reach the server, read the model's signature, wire the recogniser."""
    model = model_config(config, name)
    labels = labels if labels is not None else read_labels(model.labels)
    client = TFServingClient(model.serving, session=requests.Session(), sleep=time.sleep)
    info = client.model_info()
    recogniser = Recogniser(
        prepare=PhotoPreparer(info.input, config.images),
        classifier=client,
        labels=labels,
        rules=config.reply,
        offset=model.labels.offset,
        model_classes=info.num_classes,
    )
    return LoadedModel(client, info, labels, recogniser)


def model_set(config: Config) -> ModelSet:
    """Every configured model, each connected lazily (and again after failures)."""

    def live(name: str | None) -> LiveRecogniser:
        labels = read_labels(model_config(config, name).labels)  # a bad table stops the bot now
        return LiveRecogniser(
            lambda: connect_model(config, name, labels=labels), retry_s=5.0, clock=time.monotonic
        )

    return ModelSet(live(None), {name: live(name) for name in config.models})


def probe_picture(size: int = 400) -> bytes:
    """A textured test photo for ``check``'s end-to-end prediction."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 255 // size, y * 255 // size, (x + y) * 127 // size], axis=-1)
    pixels = np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _offset_meaning(offset: int | None) -> str:
    if offset == 1:
        return "class 0 is background, model class i = table row i-1"
    if offset == 0:
        return "model class i = table row i"
    return f"model class i = table row i-{offset}"


def check_model(config: Config, name: str | None) -> list[tuple[str, str]]:
    """Reach the model, read it, classify a test picture: (topic, finding) lines; raises on the
    first failure."""
    model = connect_model(config, name)
    labels, info = model.labels, model.info
    lines = []
    lines.append(
        (
            "labels",
            f"{model_config(config, name).labels.file}: {len(labels)} names from column "
            f"{labels.column!r} (e.g. 0 = {labels.names[0]})",
        )
    )
    lines.append(
        (
            "serving",
            f"{model.client.public_url}: model {info.name!r} version "
            f"{info.version} AVAILABLE (loaded: {', '.join(info.available_versions)})",
        )
    )
    shrink = f"; pictures shrunk to {config.images.short_side_px} px short side"
    lines.append(("input", info.input.describe() + (shrink if info.input.kind == "jpeg" else "")))
    recognition = model.recogniser.recognise(probe_picture())
    classes = info.num_classes or "?"
    lines.append(("output", f"{info.output or 'the only output'!s}: {classes} classes"))
    offset = model.recogniser.resolved_offset
    how = "auto" if model_config(config, name).labels.offset is None else "set in config"
    lines.append(("offset", f"{offset} ({how}: {_offset_meaning(offset)})"))
    best = recognition.verdict.best
    lines.append(
        (
            "predict",
            f"test picture -> {best.label} {best.probability:.1%} in "
            f"{recognition.latency_ms:.0f} ms, {recognition.sent_bytes:,} bytes sent",
        )
    )
    return lines
