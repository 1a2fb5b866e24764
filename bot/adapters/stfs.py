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
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import requests

from bot.adapters.rest import STFS_NOT_FOUND, Rest, server_message
from bot.core.serving import (
    DiscoveredModel,
    JpegPayload,
    ModelInfo,
    ModelInput,
    Prediction,
    TensorInfo,
    read_input,
    read_outputs,
)
from bot.core.settings import ServingConfig
from bot.errors import BadPrediction, ServingRejected

START_HINT = "simple_tensorflow_serving --model_base_path=... --port=8500"
DTYPES = {1: "DT_FLOAT", 2: "DT_DOUBLE", 4: "DT_UINT8", 7: "DT_STRING", 9: "DT_INT64"}
DTYPES[19] = "DT_HALF"


def _tensors(entries: Any) -> dict[str, TensorInfo]:
    """STFS's ``[{"name", "dtype": enum, "shape": [...]}]``; ``[]`` = unknown rank (or scalar,
    which STFS cannot tell apart)."""
    if not isinstance(entries, list):
        return {}
    found = {}
    for entry in entries:
        if isinstance(entry, dict) and "name" in entry:
            shape = entry.get("shape") or []
            dtype = DTYPES.get(entry.get("dtype"), f"DataType {entry.get('dtype')}")  # type: ignore[arg-type]
            found[str(entry["name"])] = TensorInfo(dtype, tuple(int(d) for d in shape) or None)
    return found


class STFSClient(DiscoveredModel):
    """The ``Classifier`` port over Simple TensorFlow Serving. One session."""

    protocol = "stfs"

    def __init__(
        self,
        settings: ServingConfig,
        *,
        session: requests.Session,
        sleep: Callable[[float], None],
    ) -> None:
        super().__init__(settings)
        self._rest = Rest(
            settings, session=session, sleep=sleep, server="STFS", start_hint=START_HINT
        )
        self.public_url = self._rest.public_url

    def _where(self) -> str:
        pin = f" version {self.settings.version}" if self.settings.version is not None else ""
        return f"model {self.settings.model!r}{pin} on STFS at {self.public_url}"

    def _rejected(self, resp: requests.Response) -> ServingRejected:
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
        resp = self._rest.send("GET", self._rest.model_url())
        if resp.status_code != 200:
            if resp.status_code == 500:
                raise ServingRejected(
                    500,
                    "HTML 500 page",
                    f"STFS at {self.public_url} fails even to describe its models (HTML 500): "
                    "the model did not load. A TF2 SavedModel can break STFS 0.8.2 through its "
                    "__saved_model_init_op signature: export with tf.compat.v1.saved_model "
                    "(simple_save), or see STFS's log",
                )
            raise self._rejected(resp)
        if resp.text.startswith(STFS_NOT_FOUND):
            raise ServingRejected(
                404,
                resp.text.strip(),
                f"STFS at {self.public_url} has no model {self.settings.model!r}; set [serving] "
                'model to STFS\'s --model_name ("default" unless it was started with another)',
            )
        detail = self._rest.json(resp, "an STFS port (8500)")
        if not isinstance(detail, dict) or not isinstance(detail.get("model_signature"), dict):
            raise BadPrediction(
                f"{self.public_url}/v1/models/{self.settings.model} answered without "
                "model_signature; is this Simple TensorFlow Serving? (for TF Serving set "
                '[serving] protocol = "tfserving" or "auto")'
            )
        return detail

    # -- model discovery ------------------------------------------------------------------
    def _discover(self) -> ModelInfo:
        if self.settings.version_label is not None:
            raise BadPrediction(
                "STFS has no version labels: use [serving] version instead of version_label"
            )
        detail = self._detail()
        versions = tuple(str(v) for v in detail.get("model_version_list") or ())
        pinned = self.settings.version
        if pinned is not None and str(pinned) not in versions:
            raise ServingRejected(
                404,
                f"versions {', '.join(versions)}",
                f"STFS has no {self._where()} (it has versions {', '.join(versions) or 'none'}); "
                "check [serving] version",
            )
        # Without model_version STFS picks whatever os.listdir returned last: always send one.
        newest = sorted(versions, key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0))
        version = str(pinned) if pinned is not None else (newest[-1] if newest else "1")
        signature = detail["model_signature"]
        where = self._where()
        outputs = _tensors(signature.get("outputs"))
        strings = [a for a, i in outputs.items() if i.dtype == "DT_STRING"]
        if strings:
            raise BadPrediction(
                f"{where} has the string output {strings[0]!r}: STFS 0.8.2 cannot write string "
                "outputs (every answer is an HTML 500); serve this model with TF Serving, or "
                "export it without string outputs"
            )
        spec_in, guessed = read_input(_tensors(signature.get("inputs")), self.settings, where)
        chosen = read_outputs(outputs, self.settings, where)
        return ModelInfo(
            name=self.settings.model,
            version=version,
            available_versions=versions,
            input=spec_in,
            output=chosen.alias,
            num_classes=chosen.num_classes,
            score_hint=chosen.hint,
            input_guessed=guessed,
        )

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
        resp = self._rest.send("POST", self.settings.url + "/", body)
        if resp.status_code != 200:
            raise self._rejected(resp)
        answer = self._rest.json(resp, "an STFS port (8500)")
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
