"""The ``ServingClient`` port over the Open Inference Protocol (KServe v2 REST): Triton, KServe,
MLServer, OpenVINO Model Server (docs/v2-protocol.md: the spec, and where the servers differ).

* The server is read once: ``GET /v2`` (its name and extensions), the model's metadata
  ``GET /v2/models/NAME[/versions/V]`` and ``.../ready``. Its inputs and outputs become the
  core's ``TensorInfo`` here; a channels-first picture input (``[-1, 3, H, W]``, PyTorch's
  and most ONNX exports) is read as channels-last and transposed when sent.
* A picture goes as the JPEG in a ``BYTES`` input — raw bytes through the binary tensor data
  extension where the server has it (Triton, OpenVINO Model Server), else base64 in JSON with
  ``"content_type": "base64"`` (MLServer's codec; KServe, whose binary extension takes BYTES
  only as UTF-8 text, and whose model decodes the base64) — or as an ``FP32``/``UINT8``
  tensor, binary where the server has the extension, JSON ``data`` otherwise.
* Scores come back binary where possible; with Triton's classification extension only the
  top ``CLASSIFICATION_K`` travel (when the scores are probabilities: top-k logits cannot
  be turned into probabilities). Errors are the protocol's ``{"error": ...}``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np
import requests

from bot.adapters.rest import Probe, Reply, Rest, server_message
from bot.adapters.v2 import wire
from bot.core.detection import DETECTOR_LIMIT, IMAGE_INFO, read_detections
from bot.core.serving import (
    METADATA_LIMIT,
    AnswerLimit,
    JpegPayload,
    ModelInfo,
    ModelInput,
    Prediction,
    TensorInfo,
    answer_limit,
)
from bot.core.settings import ServingConfig
from bot.core.signature import DiscoveredModel, brief, read_signature, unreadable
from bot.errors import (
    BadPrediction,
    ModelMismatch,
    ServingError,
    ServingRejected,
    ServingUnavailable,
)

SERVER = "Open Inference Protocol server"
# GET /v2's "name" of the servers this bot was tried with, and their display names.
NAMES = {
    "triton": "Triton",
    "mlserver": "MLServer",
    "kserve": "KServe",
    "openvino model server": "OpenVINO Model Server",
}
BINARY_EXTENSION = "binary_tensor_data"
CLASSIFICATION_EXTENSION = "classification"
# Servers that take the binary tensor data extension without listing it in GET /v2.
BINARY_WITHOUT_LISTING = frozenset({"openvino model server", "kserve"})
# Servers whose binary extension turns BYTES elements into UTF-8 text (KServe 0.21's
# InferRequest.from_bytes: a JPEG fails with "Failed to encode"): pictures go as base64 there.
BYTES_AS_TEXT = frozenset({"kserve"})
CLASSIFICATION_K = 5  # the top scores asked for with the classification extension
PROBABILITY_HINTS = ("prob", "softmax")
# What each server says of a model it knows but has not loaded yet (docs/v2-protocol.md):
# Triton "has no available versions" / "is not at ready state", OVMS "not loaded yet",
# MLServer "Model M is not ready yet.", KServe "Model with name M is not ready."
LOADING_SIGNS = ("no available versions", "not at ready state", "not loaded yet", "not ready")


def start_hint(url: str) -> str:
    """How to start an Open Inference Protocol server where [serving] url points."""
    port = urlsplit(url).port or 8000
    return f"tritonserver --http-port={port} --model-repository=... (or MLServer, KServe)"


def still_loading(message: str) -> bool:
    """Whether a server's error text says the model is known but not loaded (yet)."""
    lowered = message.lower()
    return any(sign in lowered for sign in LOADING_SIGNS)


def looks_like(probe: Probe) -> bool:
    """``[serving] protocol = "auto"``: its ``GET /v2`` is the server metadata."""
    reply = probe.get("/v2")
    body = reply.json_or_none()
    return (
        reply.status_code == 200
        and isinstance(body, dict)
        and isinstance(body.get("name"), str)
        and "version" in body
    )


@dataclass(frozen=True)
class ServerFacts:
    """What ``GET /v2`` said: the server's name and version, and how it takes tensors."""

    name: str
    version: str
    binary: bool
    classification: bool
    binary_bytes: bool = True  # raw BYTES elements survive the binary extension

    @property
    def raw_pictures(self) -> bool:
        return self.binary and self.binary_bytes

    @property
    def shown(self) -> str:
        known = NAMES.get(self.name.lower())
        return f"{known or self.name} {self.version}".strip()


@dataclass(frozen=True)
class Wiring:
    """How one model's tensors travel: the picture input's datatype, request shape and
    layout, and the output names to ask for."""

    input_name: str
    datatype: str
    shape: tuple[int, ...]  # as sent; the picture's sizes are put in at predict time
    channels_first: bool
    outputs: tuple[str, ...]
    classification: bool


class V2Client(DiscoveredModel):
    """One model on an Open Inference Protocol server. One keep-alive session."""

    def __init__(
        self,
        settings: ServingConfig,
        *,
        session: requests.Session,
        sleep: Callable[[float], None],
    ) -> None:
        super().__init__(settings, server=SERVER)
        self._rest = Rest(
            settings,
            session=session,
            sleep=sleep,
            server=SERVER,
            start_hint=start_hint(settings.url),
        )
        self.public_url = self._rest.public_url
        self.facts: ServerFacts | None = None
        self._wiring: Wiring | None = None

    # -- URLs and errors ------------------------------------------------------------------
    def _model_path(self) -> str:
        path = f"/v2/models/{quote(self.settings.model, safe='')}"
        if self.settings.version is not None:
            path += f"/versions/{self.settings.version}"
        return path

    def _where(self) -> str:
        pin = f" version {self.settings.version}" if self.settings.version is not None else ""
        return f"model {self.settings.model!r}{pin} at {self.public_url}"

    def _call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        limit: AnswerLimit = METADATA_LIMIT,
        headers: Mapping[str, str] | None = None,
        any_status: bool = False,
    ) -> Reply:
        """The server's answer (an error status raised, unless ``any_status``); a 503 through
        every retry that says the model is loading (KServe) is said so."""
        try:
            reply = self._rest.send(method, path, body, limit=limit, headers=headers)
        except ServingUnavailable as exc:
            if exc.status is not None and still_loading(exc.server_message):
                raise self._loading(exc.status, exc.server_message) from exc
            raise
        if reply.status_code != 200 and not any_status:
            raise self._rejected(reply)
        return reply

    def _loading(self, status: int, message: str) -> ServingUnavailable:
        return ServingUnavailable(
            f"{self.server} is still loading {self._where()} ({status}: {message}); wait for "
            "it (the server's log shows the progress), or see that log if it never ends",
            status,
            message,
        )

    def _rejected(self, reply: Reply) -> ServingError:
        message, status = server_message(reply), reply.status_code
        if status in (400, 404, 503) and still_loading(message):
            return self._loading(status, message)
        if status == 404 or (status == 400 and "unknown model" in message.lower()):
            text = (
                f"{self.server} has no {self._where()} ({status}: {message}); check [serving] "
                "model and version against the server's model repository"
            )
        elif status in (401, 403):
            text = (
                f"{self.server} at {self.public_url} refused the credentials ({status}: "
                f"{message}); check the token, password or headers variables"
            )
        elif status in (400, 422):
            text = (
                f"{self.server} rejected the request for {self._where()} ({status}: {message}); "
                "run `wechat-vision-bot check` to see whether [serving] input and output fit "
                "the model"
            )
        else:
            text = (
                f"{self.server} failed for {self._where()} ({status}: {message}); the "
                "server's own log says why"
            )
        return ServingRejected(status, message, text)

    def _json(self, reply: Reply) -> Any:
        return self._rest.json(reply, "an Open Inference Protocol (v2) REST port")

    # -- discovery ------------------------------------------------------------------------
    def _server_facts(self) -> ServerFacts:
        reply = self._call("GET", "/v2", any_status=True)
        body = reply.json_or_none() if reply.status_code == 200 else None
        if not isinstance(body, dict):
            return ServerFacts("", "", binary=False, classification=False)
        name = str(body.get("name", ""))[:60]
        extensions = body.get("extensions")
        listed = {str(e) for e in extensions} if isinstance(extensions, list) else set()
        binary = BINARY_EXTENSION in listed or name.lower() in BINARY_WITHOUT_LISTING
        return ServerFacts(
            name,
            str(body.get("version", ""))[:40],
            binary,
            CLASSIFICATION_EXTENSION in listed,
            name.lower() not in BYTES_AS_TEXT,
        )

    def _discover(self) -> ModelInfo:
        self.facts = facts = self._server_facts()
        if facts.name:
            self.server = self._rest.server = NAMES.get(facts.name.lower(), facts.name)
        where = self._where()
        meta = self._json(self._call("GET", self._model_path()))
        if not isinstance(meta, dict):
            raise unreadable(where, "its metadata is not a JSON object")
        self.ping()
        inputs = wire.tensor_infos(meta.get("inputs"), where, "inputs")
        outputs = wire.tensor_infos(meta.get("outputs"), where, "outputs")
        picture = _picture_input(inputs, where)
        core_in = {picture[0]: _as_channels_last(picture[2])}
        core_out = {name: _scores_shape(info) for name, (_, info) in outputs.items()}
        read = read_signature(core_in, core_out, self.settings, where)
        versions = meta.get("versions")
        available = tuple(str(v) for v in versions) if isinstance(versions, list) else ()
        shown = str(self.settings.version or (available[-1] if available else "(unversioned)"))
        info = read.model_info(self.settings.model, shown, available or (shown,))
        self._wiring = self._wire(info, picture, tuple(outputs))
        return info

    def _wire(
        self, info: ModelInfo, picture: tuple[str, str, TensorInfo], outputs: tuple[str, ...]
    ) -> Wiring:
        name, datatype, tensor = picture
        shape = tensor.shape or (1,)
        if info.detector is not None:
            d = info.detector
            wanted = (d.boxes, d.classes, d.scores, d.count, IMAGE_INFO)
            asked = tuple(o for o in wanted if o is not None and o in outputs)
        else:
            score = info.output or outputs[0]
            asked = (score,) + ((info.names_output,) if info.names_output else ())
        probabilities = self.settings.scores == "probabilities" or (
            self.settings.scores == "auto"
            and any(h in (info.output or outputs[0]).lower() for h in PROBABILITY_HINTS)
        )
        assert self.facts is not None
        classify = (
            self.facts.classification
            and info.detector is None
            and probabilities
            and info.names_output is None
            and info.num_classes is not None
        )
        channels_first = tensor.dtype != "string" and _channels_first(tensor.shape)
        return Wiring(name, datatype, shape, channels_first, asked, classify)

    def wire_notes(self) -> list[str]:
        """How tensors travel to and from this server (``check`` prints them)."""
        info, wiring, facts = self.model_info(), self._wiring, self.facts
        assert wiring is not None and facts is not None
        binary = "binary tensor data extension" if facts.binary else "JSON"
        if info.input.kind == "tensor":
            layout = "NCHW (transposed from the photo)" if wiring.channels_first else "NHWC"
            sent = f"{wiring.datatype} tensor {layout} via {binary}"
        elif facts.raw_pictures:
            sent = f"{wiring.datatype} JPEG bytes via the binary tensor data extension"
        else:
            sent = f'{wiring.datatype} JPEG as base64 in JSON ("content_type": "base64")'
        back = (
            f"top {CLASSIFICATION_K} by the classification extension"
            if wiring.classification
            else f"{', '.join(wiring.outputs)} via {binary}"
        )
        return [
            f"server {facts.shown or 'unnamed'} (Open Inference Protocol v2)",
            f"sends {sent}; answers {back}",
        ]

    def ping(self) -> None:
        """Ask whether the model is ready; raises ServingError when it is not."""
        reply = self._call("GET", self._model_path() + "/ready", any_status=True)
        if reply.status_code == 200:
            body = reply.json_or_none()
            if not (isinstance(body, dict) and body.get("ready") is False):
                return
        elif reply.status_code in (401, 403, 404):
            raise self._rejected(reply)  # a 404 "still loading" is said so there
        raise self._loading(reply.status_code, server_message(reply))

    # -- predict --------------------------------------------------------------------------
    def encode(self, payload: ModelInput) -> tuple[bytes, dict[str, str]]:
        """The infer request for one picture: body and headers."""
        self.model_info()
        wiring, facts = self._wiring, self.facts
        assert wiring is not None and facts is not None
        entry: dict[str, Any] = {"name": wiring.input_name, "datatype": wiring.datatype}
        data: bytes | None = None
        if isinstance(payload, JpegPayload):
            entry["shape"] = [1 if d < 0 else d for d in wiring.shape]
            if facts.raw_pictures:
                data = wire.bytes_elements([payload.data])
            else:
                entry["data"] = [base64.b64encode(payload.data).decode("ascii")]
                entry["parameters"] = {"content_type": "base64"}
        else:
            array = np.asarray(payload.pixels)
            if wiring.channels_first:
                array = array.transpose(2, 0, 1)
            if len(wiring.shape) == 4:
                array = array[np.newaxis]
            entry["shape"] = list(array.shape)
            if facts.binary:
                data = wire.numbers(array, wiring.datatype)
            else:
                entry["data"] = array.reshape(-1).tolist()
        outputs = []
        for name in wiring.outputs:
            params: dict[str, Any] = {"binary_data": facts.binary}
            if wiring.classification:
                params["classification"] = CLASSIFICATION_K
            outputs.append({"name": name, "parameters": params})
        return wire.request_body([entry], outputs, [data])

    def predict(self, payload: ModelInput) -> Prediction:
        info = self.model_info()
        body, headers = self.encode(payload)
        limit = DETECTOR_LIMIT if info.detector else answer_limit(info.num_classes)
        reply = self._call(
            "POST", self._model_path() + "/infer", body, limit=limit, headers=headers
        )
        where = self._where()
        answer = wire.read_answer(reply.content, reply.headers, where)
        if info.detector is not None:
            values = {name: tensor.values for name, tensor in answer.items()}
            found = read_detections(
                values, info.detector, size=(payload.width, payload.height), where=where
            )
            return Prediction((), info.name, info.version, len(body), detections=found)
        wiring = self._wiring
        assert wiring is not None
        score = answer.get(wiring.outputs[0])
        if score is None:
            raise BadPrediction(f"{where} answered without the output {wiring.outputs[0]!r}")
        if wiring.classification:
            probs = _classified(score, info.num_classes or 0, where)
            return Prediction(probs, info.name, info.version, len(body))
        scores = _vector(score, where)
        if info.num_classes is not None and len(scores) != info.num_classes:
            raise BadPrediction(
                f"{where} answered {len(scores)} scores but its metadata declares "
                f"{info.num_classes}"
            )
        names = None
        if info.names_output is not None and info.names_output in answer:
            names = tuple(str(n) for n in _vector(answer[info.names_output], where, numbers=False))
        return Prediction(
            self.scores.probabilities(scores), info.name, info.version, len(body), names
        )


def _picture_input(
    inputs: Mapping[str, tuple[str, TensorInfo]], where: str
) -> tuple[str, str, TensorInfo]:
    if len(inputs) != 1:
        raise ModelMismatch(
            f"{where} takes {len(inputs)} inputs ({', '.join(inputs) or 'none'}); this bot "
            "needs a model with a single picture input"
        )
    name, (datatype, info) = next(iter(inputs.items()))
    return name, datatype, info


def _channels_first(shape: tuple[int, ...] | None) -> bool:
    """``[-1, 3, H, W]`` or ``[3, H, W]``: channels before height and width."""
    if shape is None or len(shape) not in (3, 4):
        return False
    image = shape[-3:]
    return image[0] == 3 and image[2] != 3


def _as_channels_last(info: TensorInfo) -> TensorInfo:
    """The picture input as the core reads it: batched, channels last (``[-1, H, W, 3]``)."""
    shape = info.shape
    if info.dtype == "string" or shape is None or len(shape) not in (3, 4):
        if info.dtype == "string" and shape == ():
            return TensorInfo(info.dtype, (1,), info.native)  # one picture, one element
        return info
    h, w, c = (shape[-2], shape[-1], shape[-3]) if _channels_first(shape) else shape[-3:]
    return TensorInfo(info.dtype, (-1, h, w, c), info.native)


def _scores_shape(info: TensorInfo) -> TensorInfo:
    """A one-dimensional output (an unbatched model's ``[C]``) as the core reads scores."""
    if info.shape is not None and len(info.shape) == 1 and info.shape[0] > 1:
        return TensorInfo(info.dtype, (-1, info.shape[0]), info.native)
    return info


def _vector(tensor: wire.Tensor, where: str, *, numbers: bool = True) -> list[Any]:
    """The one picture's row of an output (``[1, C]`` or ``[C]``)."""
    values = tensor.values
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], list):
        values = values[0]
    if not isinstance(values, list) or any(isinstance(v, list) for v in values):
        raise BadPrediction(f"{where} answered scores of the shape {list(tensor.shape)}")
    if numbers and not all(isinstance(v, int | float) for v in values):
        raise BadPrediction(f"{where} answered scores that are not numbers: {brief(values)}")
    return values


def _classified(tensor: wire.Tensor, num_classes: int, where: str) -> tuple[float, ...]:
    """Triton's classification answer (``"score:index[:label]"`` each) as a probability
    vector with the top-k filled in and zero elsewhere."""
    probs = [0.0] * num_classes
    for item in _vector(tensor, where, numbers=False):
        parts = str(item).split(":", 2)
        try:
            score, index = float(parts[0]), int(parts[1])
        except (ValueError, IndexError) as exc:
            raise BadPrediction(
                f"{where} answered the classification {brief(item)}, not score:index:label"
            ) from exc
        if not 0 <= index < num_classes or not 0.0 <= score <= 1.0:
            raise BadPrediction(f"{where} answered the classification {brief(item)}")
        probs[index] = score
    return tuple(probs)
