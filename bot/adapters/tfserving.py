"""TF Serving REST adapter (requests): status, metadata, predict, and error mapping.

Follows TF Serving 2.x's REST API as the server implements it: metadata nests
``signature_def`` twice and gives dims as strings; ``{"b64": ...}`` takes standard
base64; error bodies are ``{"error": ...}`` but may not be JSON at all.
Retries: connection errors, 429, 503 and 504 (overload, loading, deadline) with
exponential backoff; 400/404/5xx others are final.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from bot.core.pipeline import (
    InputSpec,
    JpegPayload,
    ModelInput,
    Prediction,
    check_probabilities,
)
from bot.core.settings import ServingConfig
from bot.errors import BadPrediction, ServingRejected, ServingUnavailable

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 503, 504})
TENSOR_DTYPES = frozenset({"DT_FLOAT", "DT_DOUBLE", "DT_UINT8"})
SKIP_SIGNATURES = frozenset({"__saved_model_init_op"})


@dataclass(frozen=True)
class ModelInfo:
    """What ``check`` reports and what the pipeline is wired from."""

    name: str
    version: str
    available_versions: tuple[str, ...]
    input: InputSpec
    output: str | None  # alias of the probability output; None = the signature's only output
    num_classes: int | None


def redact_url(url: str) -> str:
    """Drop user:password@ from a URL before it goes into any message."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def _size(dim: Mapping[str, Any]) -> int:
    return int(dim.get("size", -1))


def _shape(info: Mapping[str, Any]) -> list[int] | None:
    shape = info.get("tensor_shape", info.get("tensorShape")) or {}
    if shape.get("unknown_rank", shape.get("unknownRank", False)):
        return None
    return [_size(d) for d in shape.get("dim", [])]


def _signatures(meta: Any) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(model_spec, {signature name: signature}) from a metadata answer; {} if malformed.

    TF Serving writes snake_case and nests ``signature_def`` twice; OpenVINO writes camelCase.
    """
    if not isinstance(meta, dict):
        return {}, {}
    spec = meta.get("model_spec", meta.get("modelSpec", {}))
    node: Any = meta.get("metadata", {})
    for _ in range(2):
        node = (
            node.get("signature_def", node.get("signatureDef")) if isinstance(node, dict) else None
        )
    spec = spec if isinstance(spec, dict) else {}
    return spec, node if isinstance(node, dict) else {}


class TFServingClient:
    """The ``Classifier`` port over TF Serving's REST API. One keep-alive session."""

    def __init__(
        self,
        settings: ServingConfig,
        *,
        session: requests.Session,
        sleep: Callable[[float], None],
    ) -> None:
        self.settings = settings
        self._session = session
        self._sleep = sleep
        if settings.token:
            session.headers["Authorization"] = f"Bearer {settings.token}"
        elif settings.username and settings.password:
            session.auth = (settings.username, settings.password)
        self.public_url = redact_url(settings.url)
        self._info: ModelInfo | None = None

    # -- URLs -----------------------------------------------------------------------------
    def _model_path(self, *, pinned: bool = True) -> str:
        path = f"{self.settings.url}/v1/models/{quote(self.settings.model, safe='')}"
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

    # -- HTTP with retries and error mapping --------------------------------------------
    def _call(self, method: str, url: str, body: bytes | None = None) -> Any:
        attempts = self.settings.retries + 1
        last = ""
        for attempt in range(attempts):
            if attempt:
                self._sleep(self.settings.retry_backoff_s * (2 ** (attempt - 1)))
            try:
                resp = self._session.request(
                    method,
                    url,
                    data=body,
                    timeout=self.settings.timeout_s,
                    headers={"Content-Type": "application/json"} if body is not None else None,
                )
            except requests.Timeout as exc:
                raise ServingUnavailable(
                    f"TF Serving at {self.public_url} did not answer within "
                    f"{self.settings.timeout_s:g} s; check its load, or raise [serving] timeout_s"
                ) from exc
            except requests.ConnectionError as exc:
                last = f"cannot connect ({type(exc).__name__})"
                log.info(
                    "TF Serving %s: %s (attempt %d/%d)",
                    self.public_url,
                    last,
                    attempt + 1,
                    attempts,
                )
                continue
            if resp.status_code in RETRY_STATUSES:
                last = f"HTTP {resp.status_code}: {self._server_message(resp)}"
                log.info(
                    "TF Serving %s answered %s (attempt %d/%d)",
                    self.public_url,
                    last,
                    attempt + 1,
                    attempts,
                )
                continue
            if resp.status_code != 200:
                raise self._rejected(resp)
            try:
                return json.loads(resp.content)
            except ValueError as exc:
                raise BadPrediction(
                    f"TF Serving at {self.public_url} answered 200 with a body that is not JSON; "
                    "is [serving] url really a TF Serving REST port (8501)?"
                ) from exc
        raise ServingUnavailable(
            f"TF Serving at {self.public_url} is unavailable ({last}) after {attempts} "
            "attempts; start it (docker run -p 8501:8501 tensorflow/serving ...) or fix "
            "[serving] url"
        )

    @staticmethod
    def _server_message(resp: requests.Response) -> str:
        try:
            body = json.loads(resp.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            message = body["error"]
        else:
            message = resp.text.strip()
        message = " ".join(message.split())
        return message[:300] or resp.reason or "no message"

    def _rejected(self, resp: requests.Response) -> ServingRejected:
        message = self._server_message(resp)
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
    def model_info(self) -> ModelInfo:
        """Read status and metadata; decide input mode and output. Cached."""
        if self._info is None:
            self._info = self._discover()
        return self._info

    def _discover(self) -> ModelInfo:
        status = self._call("GET", self._model_path(pinned=self.settings.version is not None))
        entries = status.get("model_version_status") if isinstance(status, dict) else None
        if not isinstance(entries, list):
            raise BadPrediction(
                f"TF Serving at {self.public_url} sent a status without "
                "model_version_status; is this a TF Serving REST port?"
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
        spec, signatures = _signatures(meta)
        signature = signatures.get(self.settings.signature)
        if not isinstance(signature, dict):
            names = [n for n in signatures if n not in SKIP_SIGNATURES]
            raise BadPrediction(
                f"{self._where()} has no signature {self.settings.signature!r}"
                + (f"; set [serving] signature to one of: {', '.join(names)}" if names else "")
            )
        outputs = signature.get("outputs", {})
        output = self._output_alias(outputs)
        return ModelInfo(
            name=self.settings.model,
            version=str(spec.get("version", available[-1])),
            available_versions=available,
            input=self._input_spec(signature.get("inputs", {})),
            output=output,
            num_classes=self._num_classes(outputs, output),
        )

    def _input_spec(self, inputs: Mapping[str, Any]) -> InputSpec:
        if len(inputs) != 1:
            raise BadPrediction(
                f"{self._where()} takes {len(inputs)} inputs "
                f"({', '.join(inputs)}); this bot needs a single image input"
            )
        alias, info = next(iter(inputs.items()))
        dtype = str(info.get("dtype", ""))
        shape = _shape(info)
        mode = self.settings.input
        if dtype == "DT_STRING" and mode in ("auto", "jpeg"):
            return InputSpec("jpeg", alias, dtype)
        if dtype in TENSOR_DTYPES and mode in ("auto", "tensor"):
            if shape is None or len(shape) != 4 or shape[3] != 3 or min(shape[1:3]) <= 0:
                raise BadPrediction(
                    f"{self._where()} input {alias!r} has shape {shape}; this bot needs "
                    "(-1, height, width, 3)"
                )
            return InputSpec("tensor", alias, dtype, shape[1], shape[2], self.settings.value_range)
        raise BadPrediction(
            f"{self._where()} input {alias!r} is {dtype}, which does not fit "
            f"[serving] input = {mode!r}; use a DT_STRING (JPEG) or "
            "DT_FLOAT/DT_UINT8 image input"
        )

    def _output_alias(self, outputs: Mapping[str, Any]) -> str | None:
        wanted = self.settings.output
        if wanted != "auto":
            if wanted not in outputs:
                raise BadPrediction(
                    f"{self._where()} has no output {wanted!r}; set "
                    f"[serving] output to one of: {', '.join(outputs)}"
                )
            return wanted if len(outputs) > 1 else None
        if len(outputs) == 1:
            return None
        for name in ("probabilities", "scores", "predictions", "prediction", "probs"):
            if name in outputs:
                return name
        raise BadPrediction(
            f"{self._where()} has outputs {', '.join(outputs)}; set "
            "[serving] output to the one holding class probabilities"
        )

    @staticmethod
    def _num_classes(outputs: Mapping[str, Any], output: str | None) -> int | None:
        alias = output or next(iter(outputs), None)
        info = outputs.get(alias) if alias else None
        shape = _shape(info) if isinstance(info, Mapping) else None
        if shape and len(shape) == 2 and shape[1] > 0:
            return shape[1]
        return None

    def ping(self) -> None:
        """Ask for the model's status; raises ServingError when it does not answer."""
        self._call("GET", self._model_path(pinned=self.settings.version is not None))

    # -- predict ------------------------------------------------------------------------
    def encode(self, payload: ModelInput) -> bytes:
        info = self.model_info()
        if isinstance(payload, JpegPayload):
            value: Any = {"b64": base64.b64encode(payload.data).decode("ascii")}
        else:
            value = payload.pixels
        body = {"signature_name": self.settings.signature, "instances": [{info.input.alias: value}]}
        return json.dumps(body, separators=(",", ":")).encode("ascii")

    def predict(self, payload: ModelInput) -> Prediction:
        info = self.model_info()
        body = self.encode(payload)
        answer = self._call("POST", self._model_path() + ":predict", body)
        probs = self._probabilities(answer, info)
        return Prediction(check_probabilities(probs), info.name, info.version, len(body))

    def _probabilities(self, answer: Any, info: ModelInfo) -> list[float]:
        try:
            row = answer["predictions"][0]
            vector = row[info.output] if info.output is not None else row
            if isinstance(vector, list) and len(vector) == 1 and isinstance(vector[0], list):
                vector = vector[0]
            probs = [float(v) for v in vector]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise BadPrediction(
                f"{self._where()} answered without a probability vector"
                + (f" in output {info.output!r}" if info.output else "")
                + "; check [serving] output"
            ) from exc
        if info.num_classes is not None and len(probs) != info.num_classes:
            raise BadPrediction(
                f"{self._where()} answered {len(probs)} probabilities but its "
                f"signature declares {info.num_classes}"
            )
        return probs
