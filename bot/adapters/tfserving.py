"""TF Serving REST adapter (requests): status, metadata, predict, and error mapping.

Follows TF Serving 2.x's REST API as the server implements it: metadata nests
``signature_def`` twice and gives dims as strings; ``{"b64": ...}`` takes standard
base64; error bodies are ``{"error": ...}`` but may not be JSON at all. A picture input of
unknown rank (seed 000's ``tf.placeholder(tf.string)``) takes one scalar string, which only the
columnar form (``inputs``) can carry; everything else goes in the row form (``instances``).
TensorFlow's dtype names become the core's (``DT_FLOAT`` -> ``float32``) here, at the border;
odd metadata becomes a ``BadPrediction`` saying what was odd. HTTP, credentials, retries and the
bounds on answers: ``bot.adapters.rest``; the registry entry: ``bot.app.protocols``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from bot.adapters.rest import Probe, Reply, Rest, redact_url, server_message
from bot.core.detection import DETECTOR_LIMIT, read_detections
from bot.core.serving import (
    METADATA_LIMIT,
    AnswerLimit,
    DType,
    JpegPayload,
    ModelInfo,
    ModelInput,
    Prediction,
    TensorInfo,
    answer_limit,
)
from bot.core.settings import ServingConfig
from bot.core.signature import (
    DiscoveredModel,
    brief,
    dim_size,
    read_signature,
    unreadable,
)
from bot.errors import BadPrediction, ModelMismatch, ServingRejected, ServingUnavailable

__all__ = ["SERVER", "ModelInfo", "TFServingClient", "looks_like", "redact_url", "start_hint"]

SERVER = "TF Serving"
SKIP_SIGNATURES = frozenset({"__saved_model_init_op"})
# TensorFlow's DataType enum names (tensorflow/core/framework/types.proto) in the core's words.
DTYPES: dict[str, DType] = {
    "DT_STRING": "string",
    "DT_BOOL": "bool",
    "DT_INT8": "int8",
    "DT_INT16": "int16",
    "DT_INT32": "int32",
    "DT_INT64": "int64",
    "DT_UINT8": "uint8",
    "DT_UINT16": "uint16",
    "DT_UINT32": "uint32",
    "DT_UINT64": "uint64",
    "DT_HALF": "float16",
    "DT_BFLOAT16": "bfloat16",
    "DT_FLOAT": "float32",
    "DT_DOUBLE": "float64",
}


def start_hint(url: str) -> str:
    """How to start TF Serving where [serving] url points (the container listens on 8501)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"docker run -p {port}:8501 tensorflow/serving ..."


def model_path(settings: ServingConfig) -> str:
    return f"/v1/models/{quote(settings.model, safe='')}"


def looks_like(probe: Probe) -> bool:
    """``[serving] protocol = "auto"``: is this TF Serving (or a server answering like it)?
    Its model status has ``model_version_status``; its errors are JSON ``{"error": ...}``."""
    reply = probe.get(model_path(probe.settings))
    body = reply.json_or_none()
    if isinstance(body, dict) and "model_version_status" in body:
        return True
    # a JSON error (404 unknown model, 400 ...); a 401/403 may be any server's or a proxy's
    return (
        isinstance(body, dict)
        and isinstance(body.get("error"), str)
        and reply.status_code not in (401, 403)
    )


def _shape(info: Mapping[str, Any], where: str, what: str) -> tuple[int, ...] | None:
    shape = info.get("tensor_shape", info.get("tensorShape", {}))
    if not isinstance(shape, Mapping):
        raise unreadable(where, f"{what} has the tensor_shape {brief(shape)}, not an object")
    if shape.get("unknown_rank", shape.get("unknownRank", False)) is True:
        return None
    dims = shape.get("dim", [])
    if not isinstance(dims, list):
        raise unreadable(where, f"{what} has the dim {brief(dims)}, not a list")
    sizes = []
    for dim in dims:
        if not isinstance(dim, Mapping):
            raise unreadable(where, f"{what} has the dim {brief(dim)}, not an object")
        sizes.append(dim_size(dim.get("size", -1), where, what))
    return tuple(sizes)


def _tensors(entries: Any, where: str, which: str) -> dict[str, TensorInfo]:
    """A signature's ``inputs`` or ``outputs`` in the core's vocabulary."""
    if not isinstance(entries, Mapping):
        raise unreadable(where, f"its signature's {which} are {brief(entries)}, not an object")
    found = {}
    for alias, info in entries.items():
        what = f"{which[:-1]} {str(alias)!r}"
        if not isinstance(info, Mapping) or not isinstance(info.get("dtype"), str):
            raise unreadable(where, f"{what} is {brief(info)}, without a dtype name")
        native = info["dtype"]
        found[str(alias)] = TensorInfo(
            DTYPES.get(native, "other"), _shape(info, where, what), native
        )
    return found


def _signatures(meta: Any, where: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(model_spec, {signature name: signature}) from a metadata answer.

    TF Serving writes snake_case and nests ``signature_def`` twice; OpenVINO writes camelCase.
    """
    if not isinstance(meta, dict):
        raise unreadable(where, "its metadata is not a JSON object")
    spec = meta.get("model_spec", meta.get("modelSpec", {}))
    node: Any = meta.get("metadata", {})
    for _ in range(2):
        node = (
            node.get("signature_def", node.get("signatureDef")) if isinstance(node, dict) else None
        )
    if not isinstance(node, dict):
        raise unreadable(where, "its metadata has no signature_def object")
    return (spec if isinstance(spec, dict) else {}), node


def picture_value(payload: JpegPayload, kind: str) -> Any:
    """``{"b64": standard base64}`` for picture bytes; plain web-safe text for base64_text."""
    if kind == "base64_text":
        return base64.urlsafe_b64encode(payload.data).decode("ascii")
    return {"b64": base64.b64encode(payload.data).decode("ascii")}


class TFServingClient(DiscoveredModel):
    """The ``Classifier`` port over TF Serving's REST API. One keep-alive session."""

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

    # -- URLs -----------------------------------------------------------------------------
    def _model_path(self, *, pinned: bool = True) -> str:
        path = model_path(self.settings)
        if pinned and self.settings.version is not None:
            path += f"/versions/{self.settings.version}"
        elif pinned and self.settings.version_label is not None:
            path += f"/labels/{quote(self.settings.version_label, safe='')}"
        return path

    def _where(self) -> str:
        pin = ""
        if self.settings.version is not None:
            pin = f" version {self.settings.version}"
        elif self.settings.version_label is not None:
            pin = f" label {self.settings.version_label!r}"
        return f"model {self.settings.model!r}{pin} at {self.public_url}"

    # -- HTTP and error mapping ---------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        limit: AnswerLimit = METADATA_LIMIT,
    ) -> Any:
        resp = self._rest.send(method, path, body, limit=limit)
        if resp.status_code != 200:
            raise self._rejected(resp)
        return self._rest.json(resp, "TF Serving's REST port")

    def _rejected(self, resp: Reply) -> ServingRejected:
        message = server_message(resp)
        if resp.status_code == 404:
            fix = "check [serving] model, version and version_label against the server"
            text = f"TF Serving has no {self._where()} (404: {message}); {fix}"
        elif resp.status_code in (401, 403):
            text = (
                f"TF Serving at {self.public_url} refused the credentials "
                f"({resp.status_code}: {message}); check the token or password variables"
            )
        elif resp.status_code == 400:
            text = (
                f"TF Serving rejected the request for {self._where()} (400: {message}); run "
                "`wechat-vision-bot check` to see whether [serving] input, signature and output "
                "fit the model"
            )
        else:
            text = (
                f"TF Serving failed for {self._where()} ({resp.status_code}: {message}); the "
                "server's own log says why"
            )
        return ServingRejected(resp.status_code, message, text)

    # -- model discovery ------------------------------------------------------------------
    def _discover(self) -> ModelInfo:
        status = self._call("GET", self._model_path(pinned=self.settings.version is not None))
        entries = status.get("model_version_status") if isinstance(status, dict) else None
        if not isinstance(entries, list):
            raise BadPrediction(
                f"TF Serving at {self.public_url} sent a status without model_version_status; "
                "is this a TF Serving REST port? (for another server set [serving] protocol "
                'to its name, or to "auto")'
            )
        available = tuple(
            str(e.get("version"))
            for e in entries
            if isinstance(e, dict) and e.get("state") == "AVAILABLE"
        )
        if not available:
            states = ", ".join(
                f"{e.get('version')}={e.get('state')}" for e in entries if isinstance(e, dict)
            )
            raise ServingUnavailable(
                f"{self._where()} has no AVAILABLE version ({states}); "
                "wait for it to load, or check the server's log"
            )
        meta = self._call("GET", self._model_path() + "/metadata")
        where = self._where()
        spec, signatures = _signatures(meta, where)
        signature = signatures.get(self.settings.signature)
        if signature is None:
            names = [str(n) for n in signatures if n not in SKIP_SIGNATURES]
            raise ModelMismatch(
                f"{where} has no signature {self.settings.signature!r}; set [serving] signature "
                f"to one of: {', '.join(names) or '(none: re-export the model with one)'}"
            )
        if not isinstance(signature, dict):
            raise unreadable(where, f"signature {self.settings.signature!r} is not an object")
        read = read_signature(
            _tensors(signature.get("inputs"), where, "inputs"),
            _tensors(signature.get("outputs"), where, "outputs"),
            self.settings,
            where,
        )
        version = spec.get("version")
        shown = str(version) if isinstance(version, str | int) else available[-1]
        return read.model_info(self.settings.model, shown, available)

    def ping(self) -> None:
        """Ask for the model's status; raises ServingError when it does not answer."""
        self._call("GET", self._model_path(pinned=self.settings.version is not None))

    # -- predict ------------------------------------------------------------------------
    def encode(self, payload: ModelInput) -> bytes:
        spec = self.model_info().input
        if isinstance(payload, JpegPayload):
            value = picture_value(payload, spec.kind)
        else:
            value = payload.pixels
        body: dict[str, Any] = {"signature_name": self.settings.signature}
        if spec.batched:
            body["instances"] = [{spec.alias: value}]
        else:  # a scalar: only the columnar form leaves out the batch dimension
            body["inputs"] = {spec.alias: value}
        return json.dumps(body, separators=(",", ":")).encode("ascii")

    def predict(self, payload: ModelInput) -> Prediction:
        info = self.model_info()
        body = self.encode(payload)
        limit = DETECTOR_LIMIT if info.detector else answer_limit(info.num_classes)
        answer = self._call("POST", self._model_path() + ":predict", body, limit=limit)
        if info.detector is not None:
            found = read_detections(
                self._one_row(answer, info),
                info.detector,
                size=(payload.width, payload.height),
                where=self._where(),
            )
            return Prediction((), info.name, info.version, len(body), detections=found)
        scores, names = self._read_answer(answer, info)
        probs = self.scores.probabilities(scores)
        return Prediction(probs, info.name, info.version, len(body), names)

    def _one_row(self, answer: Any, info: ModelInfo) -> Mapping[str, Any]:
        """A multi-output answer for the one picture sent: {output: value}."""
        row = None
        if isinstance(answer, dict):
            row = answer.get("predictions") if info.input.batched else answer.get("outputs")
        if info.input.batched and isinstance(row, list) and len(row) == 1:
            row = row[0]
        if not isinstance(row, dict):
            raise BadPrediction(
                f"{self._where()} answered without its named outputs; is [serving] signature "
                "the detector's?"
            )
        return row

    def _read_answer(
        self, answer: Any, info: ModelInfo
    ) -> tuple[list[float], tuple[str, ...] | None]:
        try:
            # columnar answers: {"outputs": value or {alias: value}}, with the batch dimension
            row = answer["predictions"][0] if info.input.batched else answer["outputs"]
            vector = _unbatch(row[info.output] if info.output is not None else row)
            scores = [float(v) for v in vector]
            names = None
            if info.names_output is not None:
                names = tuple(str(n) for n in _unbatch(row[info.names_output]))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise BadPrediction(
                f"{self._where()} answered without a probability vector"
                + (f" in output {info.output!r}" if info.output else "")
                + "; check [serving] output"
            ) from exc
        if info.num_classes is not None and len(scores) != info.num_classes:
            raise BadPrediction(
                f"{self._where()} answered {len(scores)} probabilities but its "
                f"signature declares {info.num_classes}"
            )
        return scores, names


def _unbatch(vector: Any) -> Any:
    if isinstance(vector, list) and len(vector) == 1 and isinstance(vector[0], list):
        return vector[0]
    if not isinstance(vector, list):
        raise TypeError("not a list")
    return vector
