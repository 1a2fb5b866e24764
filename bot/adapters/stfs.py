"""Simple TensorFlow Serving 0.8.2 adapter (requests): model detail, predict, error mapping.

Written from STFS's source (server.py, tensorflow_inference_service.py, base64_util.py):

* predict is ``POST /`` with ``{"model_name", "model_version", "signature_name", "data":
  {alias: value}}``; ``data`` values reach ``sess.run`` as they are (no batch dimension added),
  so seed 000's input gets one plain web-safe base64 string. ``{"b64": ...}`` is decoded only
  when STFS runs with ``--enable_b64_autoconvert`` (off by default).
* the answer is flat, ``{output alias: value with its batch dimension}``;
* ``GET /v1/models/NAME`` is the model detail (``json.dumps`` served as text/html): inputs and
  outputs with DataType enum numbers and ``"shape": []`` for unknown rank; an unknown name is a
  200 whose body is ``Model not found: NAME``;
* every error inside inference is Flask's HTML 500 page: the cause is only in STFS's log;
  string outputs cannot be written at all (an HTML 500 on every request);
* ``--enable_auth``: HTTP basic auth, 401 ``Need basic auth ...``; ``/health`` needs none.

DataType numbers become the core's dtype names here (7 -> ``string``); an unknown model or
version (a 200 from STFS) and string outputs are a ``ModelMismatch``, odd detail a
``BadPrediction``. HTTP and bounds: ``bot.adapters.rest``; registry: ``bot.app.protocols``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from bot.adapters.rest import Probe, Reply, Rest, server_message
from bot.core.detection import DETECTOR_LIMIT, read_detections
from bot.core.serving import (
    METADATA_LIMIT,
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
from bot.errors import BadPrediction, ModelMismatch, ServingRejected

SERVER = "STFS"
AUTH_BODY = "Need basic auth"  # STFS 0.8.2 server.py: the body of its 401
NOT_FOUND = "Model not found:"  # GET /v1/models/<unknown> is a 200 with this text
# TensorFlow's DataType enum numbers (types.proto), as STFS writes them: (TF's name, the core's)
DTYPES: dict[int, tuple[str, DType]] = {
    1: ("DT_FLOAT", "float32"),
    2: ("DT_DOUBLE", "float64"),
    3: ("DT_INT32", "int32"),
    4: ("DT_UINT8", "uint8"),
    5: ("DT_INT16", "int16"),
    6: ("DT_INT8", "int8"),
    7: ("DT_STRING", "string"),
    9: ("DT_INT64", "int64"),
    10: ("DT_BOOL", "bool"),
    14: ("DT_BFLOAT16", "bfloat16"),
    17: ("DT_UINT16", "uint16"),
    19: ("DT_HALF", "float16"),
    22: ("DT_UINT32", "uint32"),
    23: ("DT_UINT64", "uint64"),
}


def start_hint(url: str) -> str:
    """How to start STFS where [serving] url points."""
    port = urlsplit(url).port or 8500
    return f"simple_tensorflow_serving --model_base_path=... --port={port}"


def model_path(settings: ServingConfig) -> str:
    return f"/v1/models/{quote(settings.model, safe='')}"


def looks_like(probe: Probe) -> bool:
    """``[serving] protocol = "auto"``: is this STFS? Its model detail has ``model_signature``;
    an unknown model is a 200 ``Model not found:``, no auth its own 401 text, a model it failed
    to load Flask's HTML 500; else its ``/health`` says ``healthy``."""
    reply = probe.get(model_path(probe.settings))
    body = reply.json_or_none()
    if isinstance(body, dict) and "model_signature" in body:
        return True
    text = reply.text.lstrip()
    if text.startswith(NOT_FOUND) or (reply.status_code == 401 and AUTH_BODY in text):
        return True
    if reply.status_code == 500 and text.lower().startswith("<!doctype html"):
        return True  # Flask's error page; TF Serving writes JSON
    if reply.status_code in (401, 403):  # not STFS's page: a proxy or another server said no
        return False
    health = probe.get("/health")
    return health.status_code == 200 and health.text.strip() == "healthy"


def _tensors(entries: Any, where: str, which: str) -> dict[str, TensorInfo]:
    """STFS's ``[{"name", "dtype": enum, "shape": [...]}]``; ``[]`` = unknown rank (or scalar,
    which STFS cannot tell apart)."""
    if not isinstance(entries, list):
        raise unreadable(where, f"its signature's {which} are {brief(entries)}, not a list")
    found = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise unreadable(where, f"one of its {which} is {brief(entry)}, without a name")
        what = f"{which[:-1]} {entry['name']!r}"
        number = entry.get("dtype")
        if not isinstance(number, int) or isinstance(number, bool):
            raise unreadable(where, f"{what} has the dtype {brief(number)}, not a DataType number")
        native, dtype = DTYPES.get(number, (f"DataType {number}", "other"))
        shape = entry.get("shape") or []
        if not isinstance(shape, list):
            raise unreadable(where, f"{what} has the shape {brief(shape)}, not a list")
        dims = tuple(dim_size(d, where, what) for d in shape)
        found[entry["name"]] = TensorInfo(dtype, dims or None, native)
    return found


class STFSClient(DiscoveredModel):
    """The ``Classifier`` port over Simple TensorFlow Serving. One session."""

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

    def _where(self) -> str:
        pin = f" version {self.settings.version}" if self.settings.version is not None else ""
        return f"model {self.settings.model!r}{pin} on STFS at {self.public_url}"

    def _rejected(self, resp: Reply) -> ServingRejected:
        message = server_message(resp)
        if resp.status_code == 401:
            text = (
                f"STFS at {self.public_url} wants basic auth (401: {message}); set [serving] "
                "username and the password variable ([serving] password_env) to STFS's "
                "--auth_username / --auth_password"
            )
        elif resp.status_code == 500 and "<html" in resp.text[:200].lower():
            message = "HTML 500 page"
            text = (
                f"STFS failed for {self._where()} (HTML 500: STFS 0.8.2 answers every inference "
                "error this way and writes the cause only to its own log); run "
                "`wechat-vision-bot check`, which tries the other [serving] input kinds"
            )
            if self._info is not None and self._info.input.kind == "jpeg":
                text += "; picture bytes need STFS started with --enable_b64_autoconvert"
        else:
            text = f"STFS rejected the request for {self._where()} ({resp.status_code}: {message})"
            if "Invalid model name" in message:
                text += '; set [serving] model to STFS\'s --model_name (default "default")'
        return ServingRejected(resp.status_code, message, text)

    def _detail(self) -> dict[str, Any]:
        resp = self._rest.send("GET", model_path(self.settings), limit=METADATA_LIMIT)
        if resp.status_code != 200:
            if resp.status_code == 500:
                raise ServingRejected(
                    500,
                    "HTML 500 page",
                    f"STFS at {self.public_url} fails even to describe its models (HTML 500): "
                    "the model did not load. STFS 0.8.2 reads a TF2 SavedModel's signatures in "
                    "an order that changes from one start to the next and fails when "
                    "__saved_model_init_op comes first: restart STFS (about half the starts "
                    "load), re-export without variables (tf.compat.v1.saved_model.simple_save), "
                    "or see STFS's log",
                )
            raise self._rejected(resp)
        if resp.text.startswith(NOT_FOUND):  # a 200: no status code to report
            raise ModelMismatch(
                f"STFS at {self.public_url} has no model {self.settings.model!r}; set [serving] "
                'model to STFS\'s --model_name ("default" unless it was started with another)',
            )
        detail = self._rest.json(resp, "an STFS port (8500)")
        if not isinstance(detail, dict) or not isinstance(detail.get("model_signature"), dict):
            raise BadPrediction(
                f"{self.public_url}/v1/models/{self.settings.model} answered without "
                "model_signature; is this Simple TensorFlow Serving? (for another server set "
                '[serving] protocol to its name, or to "auto")'
            )
        return detail

    # -- model discovery ------------------------------------------------------------------
    def _discover(self) -> ModelInfo:
        if self.settings.version_label is not None:
            raise ModelMismatch(
                "STFS has no version labels: use [serving] version instead of version_label"
            )
        detail = self._detail()
        where = self._where()
        listed = detail.get("model_version_list") or []
        if not isinstance(listed, list) or not all(isinstance(v, str | int) for v in listed):
            raise unreadable(
                where, f"its model_version_list is {brief(listed)}, not a list of versions"
            )
        versions = tuple(str(v) for v in listed)
        pinned = self.settings.version
        if pinned is not None and str(pinned) not in versions:  # a 200: no status to report
            raise ModelMismatch(
                f"STFS has no {self._where()} (it has versions {', '.join(versions) or 'none'}); "
                "check [serving] version",
            )
        # Without model_version STFS picks whatever os.listdir returned last: always send one.
        newest = sorted(versions, key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0))
        version = str(pinned) if pinned is not None else (newest[-1] if newest else "1")
        signature = detail["model_signature"]
        outputs = _tensors(signature.get("outputs"), where, "outputs")
        strings = [a for a, i in outputs.items() if i.dtype == "string"]
        if strings:
            raise ModelMismatch(
                f"{where} has the string output {strings[0]!r}: STFS 0.8.2 cannot write string "
                "outputs (every answer is an HTML 500); serve this model with TF Serving, or "
                "export it without string outputs"
            )
        inputs = _tensors(signature.get("inputs"), where, "inputs")
        read = read_signature(inputs, outputs, self.settings, where)
        return read.model_info(self.settings.model, version, versions)

    def ping(self) -> None:
        """Ask for the model's detail; raises ServingError when it does not answer."""
        self._detail()

    # -- predict ------------------------------------------------------------------------
    def encode(self, payload: ModelInput) -> bytes:
        info = self.model_info()
        spec = info.input
        value: Any
        if not isinstance(payload, JpegPayload):
            value = payload.pixels
        elif spec.kind == "base64_text":  # plain text: the graph decodes it
            value = base64.urlsafe_b64encode(payload.data).decode("ascii")
        else:  # raw bytes only reach the graph with --enable_b64_autoconvert
            value = {"b64": base64.b64encode(payload.data).decode("ascii")}
        if spec.batched:
            value = [value]
        body = {
            "model_name": self.settings.model,
            "model_version": int(info.version) if info.version.isdigit() else info.version,
            "signature_name": self.settings.signature,
            "data": {spec.alias: value},
        }
        return json.dumps(body, separators=(",", ":")).encode("ascii")

    def predict(self, payload: ModelInput) -> Prediction:
        info = self.model_info()
        body = self.encode(payload)
        limit = DETECTOR_LIMIT if info.detector else answer_limit(info.num_classes)
        resp = self._rest.send("POST", "/", body, limit=limit)
        if resp.status_code != 200:
            raise self._rejected(resp)
        answer = self._rest.json(resp, "an STFS port (8500)")
        if info.detector is not None:
            if not isinstance(answer, dict):
                raise BadPrediction(f"{self._where()} answered without its named outputs")
            found = read_detections(
                answer, info.detector, size=(payload.width, payload.height), where=self._where()
            )
            return Prediction((), info.name, info.version, len(body), detections=found)
        try:
            key = info.output if info.output is not None else next(iter(answer))
            vector = answer[key]
            while isinstance(vector, list) and len(vector) == 1 and isinstance(vector[0], list):
                vector = vector[0]
            scores = [float(v) for v in vector]
        except (KeyError, IndexError, TypeError, ValueError, StopIteration) as exc:
            raise BadPrediction(
                f"{self._where()} answered without a score vector"
                + (f" in output {info.output!r}" if info.output else "")
                + "; check [serving] output"
            ) from exc
        if info.num_classes is not None and len(scores) != info.num_classes:
            raise BadPrediction(
                f"{self._where()} answered {len(scores)} scores but its signature declares "
                f"{info.num_classes}"
            )
        probs = self.scores.probabilities(scores)
        return Prediction(probs, info.name, info.version, len(body))
