"""Models: read the label table, reach the server, read the signature, wire the recogniser.

Part of the wiring (``bot.app``): the one place that builds the serving, imaging and labels
adapters for the default model and for each [models.NAME], picks the serving protocol from
the registry (``[serving] protocol``, ``bot.app.protocols``), and settles a picture input the
signature cannot describe by trying.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from bot.adapters.imaging import PhotoPreparer
from bot.adapters.imaging.drawing import PhotoSight, find_font, font_warning
from bot.adapters.labels import load_labels
from bot.app import protocols
from bot.core.answers import Answerer
from bot.core.detector import Detector
from bot.core.live import LiveRecogniser, ModelSet
from bot.core.pipeline import LabelTable, Recogniser
from bot.core.serving import InputKind, ModelInfo, ModelInput, ServingClient
from bot.core.settings import (
    MODEL_LABELS,
    Config,
    ImagesConfig,
    LabelsConfig,
    ModelConfig,
    ServingConfig,
)
from bot.core.signature import STRING_KINDS
from bot.errors import BadPrediction, ModelMismatch, ServingRejected, UsageError

log = logging.getLogger(__name__)


def read_labels(labels: LabelsConfig) -> LabelTable:
    if str(labels.file) == MODEL_LABELS:
        return LabelTable((), source="the model's own class names", from_model=True)
    return load_labels(labels.file, column=labels.column, id_column=labels.id_column)


@dataclass
class LoadedModel:
    """A model reached and read, with its answerer wired to it (the ``Model`` port): a
    ``Recogniser`` for a classifier, a ``Detector`` for a detector."""

    client: ServingClient
    info: ModelInfo
    labels: LabelTable
    answerer: Recogniser | Detector
    tried: list[tuple[str, str]]  # (input kind, what happened) when ``auto`` had to try

    @property
    def recogniser(self) -> Answerer:
        return self.answerer

    @property
    def description(self) -> str:
        info = self.client.model_info()
        return f"model {info.name} version {info.version}, {info.input.describe()}"

    def ping(self) -> None:
        self.client.ping()


def model_config(config: Config, name: str | None) -> ModelConfig:
    """The default model's settings (None) or a [models.NAME] table's; BotError if unknown."""
    if name is None:
        return ModelConfig(serving=config.serving, labels=config.labels)
    if name not in config.models:
        if not config.models:
            raise UsageError(
                f"no model {name!r}: {config.path} defines no [models.NAME] table; leave "
                "--model out for the default model ([serving])"
            )
        raise UsageError(
            f"no model {name!r}: use one of {', '.join(config.models)} from [models.NAME] in "
            f"{config.path}, or leave --model out for the default"
        )
    return config.models[name]


def serving_client(serving: ServingConfig) -> ServingClient:
    """The configured protocol's client, or (``auto``) the one the server's answers show."""
    return protocols.serving_client(serving, session=requests.Session(), sleep=time.sleep)


def try_inputs(
    client: ServingClient,
    images: ImagesConfig,
    kinds: tuple[InputKind, ...],
    *,
    stop_at_first: bool,
) -> list[tuple[str, str]]:
    """Send the test picture as each input kind: (kind, "works" or why not). Leaves the client
    on the first kind that works, else on the kind it had."""
    start = client.model_info().input.kind
    results: list[tuple[str, str]] = []
    works: InputKind | None = None
    for kind in kinds:
        info = client.use_input(kind)
        try:
            client.predict(PhotoPreparer(info.input, images)(probe_picture()))
        except (ServingRejected, BadPrediction) as exc:  # ServingUnavailable: nothing to learn
            why = getattr(exc, "server_message", str(exc))
            results.append((kind, f"refused ({why[:120]})"))
            continue
        results.append((kind, "works"))
        works = works or kind
        if stop_at_first:
            break
    client.use_input(works or start)
    return results


def connect_model(
    config: Config, name: str | None = None, *, labels: LabelTable | None = None
) -> LoadedModel:
    """Read labels, reach the server, read the model's signature, wire the recogniser."""
    model = model_config(config, name)
    labels = labels if labels is not None else read_labels(model.labels)
    client = serving_client(model.serving)
    info = client.model_info()
    if labels.from_model and info.names_output is None:
        raise ModelMismatch(
            f'[labels] file = "model", but model {info.name!r} has no string output of class '
            "names (such as an Estimator's `classes`); give a label table"
        )
    tried: list[tuple[str, str]] = []
    if info.input_guessed:  # a string input of unknown rank: picture bytes or base64 text?
        tried = try_inputs(client, config.images, STRING_KINDS, stop_at_first=True)
        info = client.model_info()
    if info.detector is not None:
        detector = _detector(config, model, client, labels)
        return LoadedModel(client, info, labels, detector, tried)
    recogniser = Recogniser(
        prepare=_Preparer(client, config.images),
        classifier=client,
        labels=labels,
        rules=config.reply,
        offset=model.labels.offset,
        model_classes=None if labels.from_model else info.num_classes,
    )
    return LoadedModel(client, info, labels, recogniser, tried)


_FONTS_SAID: set[Path | None] = set()  # the English-labels warning is said once per font


def _detector(
    config: Config, model: ModelConfig, client: ServingClient, labels: LabelTable
) -> Detector:
    """A detector's answerer: label ids as the table gives them (an id column, else row r =
    class r + 1, the Object Detection API's label maps starting at 1), boxes drawn with a
    Chinese font where one is found."""
    if labels.from_model:
        raise ModelMismatch(
            f'[labels] file = "model", but model {client.model_info().name!r} is a detector, '
            "whose classes are numbers: give its label map, e.g. labels/coco.csv"
        )
    offset = model.labels.offset
    if offset is None:
        offset = 0 if labels.ids is not None else 1
    font = None
    if config.detect.draw:
        font = find_font(config.detect.font)
        warning = font_warning(config.detect, font)
        if warning and config.detect.font not in _FONTS_SAID:
            _FONTS_SAID.add(config.detect.font)
            log.warning("%s", warning)

    def prepare() -> PhotoPreparer:  # for the input kind the client uses now
        return PhotoPreparer(client.model_info().input, config.images, config.detect.max_side_px)

    sight = PhotoSight(prepare, config.detect, config.images, font)
    return Detector(sight, client, labels, config.detect, offset)


@dataclass(frozen=True)
class _Preparer:
    """The ``Preparer`` for the input kind the client uses now (``check`` may change it)."""

    client: ServingClient
    images: ImagesConfig

    def __call__(self, data: bytes) -> ModelInput:
        return PhotoPreparer(self.client.model_info().input, self.images)(data)


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
