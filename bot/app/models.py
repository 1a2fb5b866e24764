"""Models: read the label table, reach the server, read the signature, wire the recogniser.

Part of the wiring (``bot.app``): the one place that builds the serving, imaging and labels
adapters for the default model and for each [models.NAME], picks the serving protocol from
the registry (``[serving] protocol``, ``bot.app.protocols``), and settles a picture input the
signature cannot describe by trying.
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
from bot.app import protocols
from bot.core.live import LiveRecogniser, ModelSet
from bot.core.pipeline import LabelTable, Recogniser
from bot.core.serving import STRING, InputKind, ModelInfo, ModelInput, ServingClient
from bot.core.settings import (
    MODEL_LABELS,
    Config,
    ImagesConfig,
    LabelsConfig,
    ModelConfig,
    ServingConfig,
)
from bot.core.signature import STRING_KINDS, input_advice
from bot.errors import BadPrediction, ModelMismatch, ServingError, ServingRejected, UsageError
from bot.registry import AUTO


def read_labels(labels: LabelsConfig) -> LabelTable:
    if str(labels.file) == MODEL_LABELS:
        return LabelTable((), source="the model's own class names", from_model=True)
    return load_labels(labels.file, column=labels.column, id_column=labels.id_column)


@dataclass
class LoadedModel:
    """A model reached and read, with the recogniser wired to it (the ``Model`` port)."""

    client: ServingClient
    info: ModelInfo
    labels: LabelTable
    recogniser: Recogniser
    tried: list[tuple[str, str]]  # (input kind, what happened) when ``auto`` had to try

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
    recogniser = Recogniser(
        prepare=_Preparer(client, config.images),
        classifier=client,
        labels=labels,
        rules=config.reply,
        offset=model.labels.offset,
        model_classes=None if labels.from_model else info.num_classes,
    )
    return LoadedModel(client, info, labels, recogniser, tried)


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


def _offset_meaning(offset: int | None) -> str:
    if offset == 1:
        return "class 0 is background, model class i = table row i-1"
    if offset == 0:
        return "model class i = table row i"
    return f"model class i = table row i-{offset}"


def diagnose(model: LoadedModel, images: ImagesConfig, exc: ServingError) -> ServingError:
    """The test picture was refused: say which [serving] input to set, and (for a picture
    input) which input kinds work when tried."""
    info = model.client.model_info()
    message = exc.server_message if isinstance(exc, ServingRejected) else str(exc)
    notes = []
    advice = input_advice(message, info.input.kind)
    if advice:
        notes.append(f"fix: {advice}")
    if info.input.dtype == STRING:
        tried = try_inputs(model.client, images, STRING_KINDS, stop_at_first=False)
        working = [kind for kind, result in tried if result == "works"]
        if working and working[0] != info.input.kind:
            notes.append(f'tried: [serving] input = "{working[0]}" works')
        elif not working:
            kinds = ", ".join(f"{k}: {r}" for k, r in tried)
            notes.append(f"tried every picture input, none works ({kinds})")
        model.client.use_input(info.input.kind)
    text = str(exc) + "".join(f"\n  {note}" for note in notes)
    if isinstance(exc, ServingRejected):
        return ServingRejected(exc.status, exc.server_message, text)
    return BadPrediction(text)


def _names_beside_table(model: LoadedModel) -> str:
    """The model's own names next to the table's, matched by class id (= score position)."""
    prediction = model.client.predict(model.recogniser.prepare(probe_picture()))
    names = prediction.class_names or ()
    pairs = [f"{i} = {names[i]!r} -> {model.labels.names[i]!r}" for i in range(min(2, len(names)))]
    return (
        f"the model also sends names (output {model.client.model_info().names_output!r}); "
        f"replies use the table by class id: {', '.join(pairs)}"
    )


def check_model(config: Config, name: str | None) -> list[tuple[str, str]]:
    """Reach the model, read it, classify a test picture: (topic, finding) lines; raises on the
    first failure, with advice when the model refused the test picture."""
    settings = model_config(config, name)
    model = connect_model(config, name)
    labels, info, client = model.labels, model.client.model_info(), model.client
    lines = []
    if labels.from_model:
        lines.append(("labels", f"the model's own names (output {info.names_output!r})"))
    else:
        lines.append(
            (
                "labels",
                f"{settings.labels.file}: {len(labels)} names from column "
                f"{labels.column!r} (e.g. 0 = {labels.names[0]})",
            )
        )
    how = "auto-detected" if settings.serving.protocol == AUTO else "set in config"
    lines.append(
        (
            "serving",
            f"{client.public_url} ({client.server}, {how}): model {info.name!r} version "
            f"{info.version} AVAILABLE (loaded: {', '.join(info.available_versions)})",
        )
    )
    shrink = f"; pictures shrunk to {config.images.short_side_px} px short side"
    picture = info.input.kind != "tensor"
    text = info.input.describe() + (f" as {config.images.format.upper()}" if picture else "")
    if model.tried:
        text += " (auto: tried " + "; ".join(f"{k} {r}" for k, r in model.tried) + ")"
    lines.append(("input", text + (shrink if picture else "")))
    try:
        recognition = model.recogniser.recognise(probe_picture())
    except (ServingRejected, BadPrediction) as exc:
        raise diagnose(model, config.images, exc) from exc
    classes = info.num_classes or "?"
    lines.append(("output", f"{info.output or 'the only output'!s}: {classes} classes"))
    lines.append(("scores", client.scores.decision))
    if info.names_output is not None and not labels.from_model:
        lines.append(("names", _names_beside_table(model)))
    if not labels.from_model:
        offset = model.recogniser.resolved_offset
        how = "auto" if settings.labels.offset is None else "set in config"
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
