"""``check`` for one model: reach it, read it, answer a test picture, and say what was found
(a classifier's output, scores and label offset; a detector's outputs, box format and font).

Part of the wiring (``bot.app``); the models themselves are built by ``bot.app.models``.
"""

from __future__ import annotations

from bot.app.models import LoadedModel, connect_model, model_config, probe_picture, try_inputs
from bot.core.detector import Detector
from bot.core.pipeline import Recogniser
from bot.core.serving import STRING
from bot.core.settings import Config, ImagesConfig, ModelConfig
from bot.core.signature import STRING_KINDS, input_advice
from bot.errors import BadPrediction, ServingError, ServingRejected
from bot.registry import AUTO


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


def _names_beside_table(model: LoadedModel, recogniser: Recogniser) -> str:
    """The model's own names next to the table's, matched by class id (= score position)."""
    prediction = model.client.predict(recogniser.prepare(probe_picture()))
    names = prediction.class_names or ()
    pairs = [f"{i} = {names[i]!r} -> {model.labels.names[i]!r}" for i in range(min(2, len(names)))]
    return (
        f"the model also sends names (output {model.client.model_info().names_output!r}); "
        f"replies use the table by class id: {', '.join(pairs)}"
    )


def check_model(config: Config, name: str | None) -> list[tuple[str, str]]:
    """Reach the model, read it, answer a test picture: (topic, finding) lines; raises on the
    first failure, with advice when the model refused the test picture."""
    settings = model_config(config, name)
    model = connect_model(config, name)
    labels, info, client = model.labels, model.client.model_info(), model.client
    lines = []
    if labels.from_model:
        lines.append(("labels", f"the model's own names (output {info.names_output!r})"))
    else:
        first = labels.ids[0] if labels.ids is not None else 0
        extra = ", measure words" if labels.measures else ""
        lines.append(
            (
                "labels",
                f"{settings.labels.file}: {len(labels)} names from column "
                f"{labels.column!r}{extra} (e.g. {first} = {labels.names[0]})",
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
    lines += [("wire", note) for note in client.wire_notes()]
    detector = model.answerer if isinstance(model.answerer, Detector) else None
    if detector is not None:
        shrink = f"; pictures shrunk to {config.detect.max_side_px} px longer side"
    else:
        shrink = f"; pictures shrunk to {config.images.short_side_px} px short side"
    picture = info.input.kind != "tensor"
    text = info.input.describe() + (f" as {config.images.format.upper()}" if picture else "")
    if model.tried:
        text += " (auto: tried " + "; ".join(f"{k} {r}" for k, r in model.tried) + ")"
    lines.append(("input", text + (shrink if picture or detector else "")))
    if detector is not None:
        return lines + _check_detector(config, settings, model, detector)
    assert isinstance(model.answerer, Recogniser)
    return lines + _check_classifier(config, settings, model, model.answerer)


def _check_classifier(
    config: Config, settings: ModelConfig, model: LoadedModel, recogniser: Recogniser
) -> list[tuple[str, str]]:
    labels, info, client = model.labels, model.client.model_info(), model.client
    lines = []
    try:
        recognition = recogniser.recognise(probe_picture())
    except (ServingRejected, BadPrediction) as exc:
        raise diagnose(model, config.images, exc) from exc
    lines.append(("task", "classify (one label for the photo)"))
    classes = info.num_classes or "?"
    lines.append(("output", f"{info.output or 'the only output'!s}: {classes} classes"))
    lines.append(("scores", client.scores.decision))
    if info.names_output is not None and not labels.from_model:
        lines.append(("names", _names_beside_table(model, recogniser)))
    if not labels.from_model:
        offset = recogniser.resolved_offset
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


def _check_detector(
    config: Config, settings: ModelConfig, model: LoadedModel, detector: Detector
) -> list[tuple[str, str]]:
    info = model.client.model_info()
    assert info.detector is not None
    try:
        seen = detector.detect(probe_picture())
    except (ServingRejected, BadPrediction) as exc:
        raise diagnose(model, config.images, exc) from exc
    how = "set in config" if settings.serving.task == "detect" else "auto"
    lines = [
        ("task", f"detect ({how}): objects counted and drawn"),
        ("output", info.detector.describe()),
    ]
    ids = "the table's id column" if model.labels.ids is not None else "row r = class r + 1"
    if detector.offset and model.labels.ids is None:
        ids = f"row r = class r + {detector.offset}"
    lines.append(("classes", f"{ids}; counted at score >= {config.detect.min_score}"))
    if not config.detect.draw:
        lines.append(("draw", "off ([detect] draw = false): text replies only"))
    else:
        font = getattr(detector.sight, "font_path", None)
        lines.append(
            (
                "draw",
                f"boxes drawn on the photo (at most {config.detect.draw_side_px} px), labels in "
                + (f"Chinese with {font}" if font else "English: no Chinese font found"),
            )
        )
    sure = sum(c.count for c in seen.findings.counted)
    below = len(seen.detections) - sum(
        1 for d in seen.detections if d.score >= detector.settings.min_score
    )
    lines.append(
        (
            "predict",
            f"test picture -> {sure} objects counted, {below} below the threshold, in "
            f"{seen.latency_ms:.0f} ms, {seen.sent_bytes:,} bytes sent",
        )
    )
    return lines
