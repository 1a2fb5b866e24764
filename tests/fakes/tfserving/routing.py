"""Request routing (URL grammar) and the status, metadata, predict and classify handlers."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from tests.fakes.tfserving.errors import _invalid, _TFError
from tests.fakes.tfserving.faults import _FaultInjection
from tests.fakes.tfserving.model import _ModelRunner
from tests.fakes.tfserving.rjson import _encode, _error_body, _json_value_to_string, _pb_json
from tests.fakes.tfserving.spec import ModelSpec, _signatures
from tests.fakes.tfserving.tensors import (
    _check_example,
    _tensors_from_inputs,
    _tensors_from_instances,
)
from tests.fakes.tfserving.wire import _HTML, _libevent_error_page, _Response, _uri_path_and_query

_V1_RE = re.compile(r"/v1/.*", re.IGNORECASE)
_PREDICT_RE = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_STATUS_RE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)
_INT64_MAX = 2**63 - 1


def _curl_unescape(text: str) -> str:
    return urllib.parse.unquote_to_bytes(text).decode("utf-8", "surrogateescape")


class _Router(_FaultInjection, _ModelRunner):
    """Request processing for :class:`FakeTFServing` (which sets ``_models`` and ``loading``)."""

    _models: dict[str, ModelSpec]
    loading: bool

    def _respond(
        self,
        method: str,
        target: str,
        body: bytes,
        parsed: Any,
        parse_error: _TFError | None,
    ) -> _Response:
        path = _uri_path_and_query(target)
        if path is None:
            return _Response(400, _libevent_error_page(400), _HTML)
        if not _V1_RE.fullmatch(path):
            return _Response(404, _libevent_error_page(404), _HTML)
        m = _PREDICT_RE.fullmatch(path) if method == "POST" else None
        is_predict = m is not None and m.group(4) == "predict"
        fault = self._take_fault(is_predict)
        if fault is not None:
            if fault.status == 0:
                return _Response(0, b"", drop=True)
            return _Response(fault.status, fault.body, fault.content_type)
        if method == "OPTIONS":
            return _Response(200, b"")
        try:
            return _Response(200, _encode(self._process(method, path, parsed, parse_error)))
        except _TFError as exc:
            return _Response(exc.http_status, b"" if exc.empty_body else _error_body(exc.message))
        except Exception as exc:  # a broken custom classify() etc.
            return _Response(500, _error_body(f"{type(exc).__name__}: {exc}"))

    def _process(self, method: str, path: str, parsed: Any, parse_error: _TFError | None) -> str:
        malformed = _invalid(f"Malformed request: {method} {path}")
        if method == "POST":
            m = _PREDICT_RE.fullmatch(path)
        elif method == "GET":
            m = _STATUS_RE.fullmatch(path)
        else:
            raise malformed
        if m is None:
            raise malformed
        raw_name, version_str, raw_label, verb = m.groups()
        name = _curl_unescape(raw_name) if raw_name else ""
        version: int | None = None
        if version_str:
            as_int = int(version_str)
            if as_int > _INT64_MAX:
                # ParseModelInfo() errors are returned before the body is filled in.
                raise _TFError(
                    "INVALID_ARGUMENT",
                    f"Failed to convert version: {version_str} to numeric.",
                    empty_body=True,
                )
            version = as_int
        label = _curl_unescape(raw_label) if raw_label else None

        if method == "POST":
            if verb == "predict":
                return self._predict(name, version, label, parsed, parse_error)
            if verb in ("classify", "regress"):
                return self._classify_regress(verb, name, version, label, parsed, parse_error)
            raise malformed  # e.g. ":PREDICT" matches the regex but no handler
        if verb == "metadata":
            return self._metadata(name, version, label)
        return self._status(name, version)

    def _resolve(self, name: str, version: int | None, label: str | None) -> tuple[ModelSpec, int]:
        """ServerCore::GetServableHandle."""
        with self._lock:
            spec = self._models.get(name)
        if label is not None:
            if spec is None or label not in spec.labels:
                raise _invalid(f"Unrecognized servable version label: {label}")
            version = spec.labels[label]
        available = () if spec is None or self.loading else spec.versions
        if version is None:
            if not available or spec is None:
                raise _TFError("NOT_FOUND", f"Servable not found for request: Latest({name})")
            return spec, max(available)
        if spec is None or version not in available:
            raise _TFError(
                "NOT_FOUND", f"Servable not found for request: Specific({name}, {version})"
            )
        return spec, version

    def _status(self, name: str, version: int | None) -> str:
        if not name:
            raise _invalid("Missing model name in request.")
        with self._lock:
            spec = self._models.get(name)
        known = sorted(spec.versions, reverse=True) if spec is not None else []
        if version is not None:
            if version not in known:
                raise _TFError("NOT_FOUND", f"Could not find version {version} of model {name}")
            known = [version]
        elif not known:
            raise _TFError("NOT_FOUND", f"Could not find any versions of model {name}")
        state = "LOADING" if self.loading else "AVAILABLE"
        doc = {
            "model_version_status": [
                {
                    "version": str(v),
                    "state": state,
                    "status": {"error_code": "OK", "error_message": ""},
                }
                for v in known
            ]
        }
        return _pb_json(doc) + "\n"

    def _metadata(self, name: str, version: int | None, label: str | None) -> str:
        if not name:
            raise _invalid("Missing model name in request.")
        spec, resolved = self._resolve(name, version, label)
        sigs = _signatures(spec)
        model_spec = {"name": spec.name, "signature_name": "", "version": str(resolved)}
        sig_map = {"signature_def": {k: v.to_json() for k, v in sorted(sigs.items())}}
        return (
            '{\n"model_spec":'
            + _pb_json(model_spec)
            + "\n,\n"
            + '"metadata": {"signature_def": '
            + _pb_json(sig_map)
            + "\n}\n}\n"
        )

    def _signature_name(self, doc: Any) -> str:
        if "signature_name" in doc:
            sig = doc["signature_name"]
            if not isinstance(sig, str):
                raise _invalid(
                    f"JSON Value: {_json_value_to_string(doc)} not formatted correctly. "
                    "'signature_name' key must be a string value."
                )
            return sig
        return ""

    @staticmethod
    def _check_document(parsed: Any, parse_error: _TFError | None) -> Any:
        if parse_error is not None:
            raise parse_error
        if not isinstance(parsed, dict):
            raise _invalid(f"JSON Value: {_json_value_to_string(parsed)} Is not object")
        return parsed

    def _predict(
        self,
        name: str,
        version: int | None,
        label: str | None,
        parsed: Any,
        parse_error: _TFError | None,
    ) -> str:
        doc = self._check_document(parsed, parse_error)
        sig_name = self._signature_name(doc)
        spec, _ = self._resolve(name, version, label)
        signame = sig_name or "serving_default"
        signature = _signatures(spec).get(signame)
        if signature is None:
            raise _invalid(f'Serving signature name: "{signame}" not found in signature def')
        inputs = {alias: info.dtype for alias, info in signature.inputs.items()}
        if not inputs:
            raise _invalid(f"Failed to get input map for signature: {sig_name or 'DEFAULT'}")

        if "instances" in doc:
            if "inputs" in doc:
                raise _invalid(
                    f"JSON Value: {_json_value_to_string(doc)} Not formatted correctly expecting "
                    "only one of 'inputs' or 'instances' keys to exist "
                )
            instances = doc["instances"]
            if not isinstance(instances, list):
                raise _invalid(
                    f"JSON Value: {_json_value_to_string(doc)} Excepting 'instances' to be an "
                    "list/array"
                )
            if not instances:
                raise _invalid(
                    f"JSON Value: {_json_value_to_string(doc)} No values in 'instances' array"
                )
            row = True
            tensors = _tensors_from_instances(instances, inputs)
        elif "inputs" in doc:
            row = False
            tensors = _tensors_from_inputs(doc["inputs"], inputs)
        else:
            raise _invalid("Missing 'inputs' or 'instances' key")

        return self._run_model(spec, signature, tensors, row)

    def _classify_regress(
        self,
        verb: str,
        name: str,
        version: int | None,
        label: str | None,
        parsed: Any,
        parse_error: _TFError | None,
    ) -> str:
        doc = self._check_document(parsed, parse_error)
        sig_name = self._signature_name(doc)
        if "context" in doc:
            _check_example(doc["context"])
        if "examples" not in doc:
            raise _invalid(
                f"JSON Value: {_json_value_to_string(doc)} When method is classify, key "
                "'examples' is expected and was not found"
            )
        examples = doc["examples"]
        if not isinstance(examples, list):
            raise _invalid(
                f"JSON Value: {_json_value_to_string(doc)} Expecting 'examples' value to be an "
                "list/array"
            )
        if not examples:
            raise _invalid(
                f"JSON Value: {_json_value_to_string(doc)} 'examples' value is an empty array"
            )
        for example in examples:
            _check_example(example)
        spec, _ = self._resolve(name, version, label)
        signame = sig_name or "serving_default"
        signature = _signatures(spec).get(signame)
        if signature is None:
            raise _invalid(f"No signature was found with the name: {signame}")
        if len(signature.inputs) != 1:
            raise _invalid("Expected one input Tensor.")
        if verb == "classify":
            if len(signature.outputs) not in (1, 2):
                raise _invalid(
                    f"Expected one or two output Tensors, found {len(signature.outputs)}"
                )
            if "inputs" not in signature.inputs:
                raise _invalid(
                    "No classification inputs found in SignatureDef: " + signature.debug_string()
                )
        else:
            if len(signature.outputs) != 1:
                raise _invalid("Expected one output Tensor.")
            if "inputs" not in signature.inputs:
                raise _invalid(
                    "No regression inputs found in SignatureDef: " + signature.debug_string()
                )
        raise _TFError("UNIMPLEMENTED", "tf.Example signatures are not emulated by the fake")
