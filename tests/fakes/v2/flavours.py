"""What each server flavour answers: server metadata, health, model lookup, and error bodies.

Sources (docs/v2-protocol.md has the list): Triton ``src/http_server.cc`` and core
``src/server.cc``, ``src/model_repository_manager/*``, ``src/infer_request.cc``; MLServer
``mlserver/errors.py``, ``rest/app.py``, ``handlers/dataplane.py``; KServe
``python/kserve/kserve/errors.py``, ``protocol/rest/v2_endpoints.py``,
``protocol/dataplane.py``; OpenVINO Model Server ``src/status.cpp``, ``src/http_server.cpp``,
``src/http_rest_api_handler.cpp``.
FastAPI (MLServer, KServe) answers its own errors as ``{"detail": ...}``, not ``{"error"}``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from tests.fakes.v2.model import V2Model

Flavour = Literal["triton", "mlserver", "kserve", "ovms"]
FLAVOURS: tuple[Flavour, ...] = ("triton", "mlserver", "kserve", "ovms")
FASTAPI: frozenset[str] = frozenset({"mlserver", "kserve"})
DEFAULT_VERSION = {"triton": "2.51.0", "mlserver": "1.6.1", "kserve": "0.21.0", "ovms": "2024.4"}
# core src/server.cc InferenceServer(): statistics, trace and logging are on in NGC builds.
TRITON_EXTENSIONS = (
    "classification",
    "sequence",
    "model_repository",
    "model_repository(unload_dependents)",
    "schedule_policy",
    "model_configuration",
    "system_shared_memory",
    "cuda_shared_memory",
    "binary_tensor_data",
    "parameters",
    "statistics",
    "trace",
    "logging",
)
PLATFORM = {"triton": "onnxruntime_onnx", "mlserver": "", "kserve": "", "ovms": "OpenVINO"}


class V2Error(Exception):
    """An answer other than 200: status, JSON body (None: empty), or plain text."""

    def __init__(self, status: int, doc: Any = None, *, text: str | None = None) -> None:
        super().__init__(text if text is not None else json.dumps(doc))
        self.status = status
        self.doc = doc
        self.text = text


def error(status: int, message: str) -> V2Error:
    return V2Error(status, {"error": message})


def detail(status: int, items: Any) -> V2Error:
    """FastAPI's own error body (routing, validation)."""
    return V2Error(status, {"detail": items})


def internal_error() -> V2Error:
    """Starlette's answer to an exception nobody handled."""
    return V2Error(500, text="Internal Server Error")


# -- server ----------------------------------------------------------------------------------
def server_metadata(flavour: Flavour, version: str) -> dict[str, Any]:
    if flavour == "triton":
        return {"name": "triton", "version": version, "extensions": list(TRITON_EXTENSIONS)}
    if flavour == "mlserver":
        return {"name": "mlserver", "version": version, "extensions": []}
    if flavour == "kserve":
        return {"name": "kserve", "version": version, "extensions": ["model_repository_extension"]}
    # OVMS prints its protobuf ServerMetadataResponse: an empty list is left out.
    return {"name": "OpenVINO Model Server", "version": version}


def live(flavour: Flavour, is_live: bool) -> Any:
    if is_live:
        return {"live": True} if flavour == "kserve" else None
    if flavour == "kserve":
        raise error(503, "Server is not live.")
    if flavour == "ovms":
        raise error(500, "Internal server error")
    raise V2Error(400)  # Triton: ready ? 200 : 400, empty body (MLServer is always live)


def server_ready(flavour: Flavour, ready: bool) -> Any:
    if ready:
        return {"ready": True} if flavour == "kserve" else None
    if flavour == "kserve":
        raise error(503, "Server is not ready.")
    if flavour == "ovms":
        raise error(503, "Server is not ready")
    raise V2Error(400)  # Triton, MLServer: 400, empty body


def default_server_ready(flavour: Flavour, models: list[V2Model]) -> bool:
    """Triton (strict readiness) and MLServer: every model ready; KServe, OVMS: up is ready."""
    if flavour in ("triton", "mlserver"):
        return all(m.ready and not m.loading for m in models)
    return True


# -- routes and lookups ----------------------------------------------------------------------
def no_route(flavour: Flavour) -> V2Error:
    if flavour in FASTAPI:
        return detail(404, "Not Found")
    if flavour == "ovms":
        return error(400, "Invalid request URL")
    return error(404, "Not Found")


def wrong_method(flavour: Flavour) -> V2Error:
    if flavour in FASTAPI:
        return detail(405, "Method Not Allowed")
    if flavour == "ovms":
        return error(406, "Unsupported method")
    return error(405, "Method Not Allowed")


def version_ok(flavour: Flavour, version: str) -> bool:
    """Triton's route regex takes ``/versions/([0-9]+)``; OVMS parses an integer."""
    return flavour in FASTAPI or version.isdigit()


def bad_version(flavour: Flavour) -> V2Error:
    return (
        error(400, "Could not parse model version in request")
        if flavour == "ovms"
        else no_route(flavour)
    )


def find(flavour: Flavour, models: list[V2Model], name: str, version: str | None) -> V2Model:
    """The model a URL names, or the flavour's error for an unknown model or version."""
    if flavour == "kserve" and version:  # v2_endpoints.py: before any lookup
        raise error(501, "Model versioning not supported yet.")
    model = next((m for m in models if m.name == name), None)
    if model is None:
        if flavour == "triton":
            raise error(400, f"Request for unknown model: '{name}' is not found")
        if flavour == "mlserver":
            suffix = f" with version {version}" if version else ""
            raise error(404, f"Model {name}{suffix} not found")
        if flavour == "kserve":
            raise error(404, f"Model with name {name} does not exist.")
        raise error(404, "Model with requested name is not found")
    if version is not None and version not in model.versions:
        if flavour == "triton":
            raise error(404, f"Request for unknown model: '{name}' version {version} is not found")
        if flavour == "mlserver":
            raise error(404, f"Model {name} with version {version} not found")
        raise error(404, "Model with requested version is not found")
    return model


def unavailable(
    flavour: Flavour, model: V2Model, version: str | None, where: str
) -> V2Error | None:
    """The error for a model that is loading or not ready, at ``where`` (``metadata``,
    ``ready``, ``infer``); None when it answers there anyway."""
    if model.ready and not model.loading:
        return None
    name = model.name
    if flavour == "triton":
        if model.loading:  # core model_lifecycle.cc GetModel: no READY version
            if version is None:
                return error(404, f"Request for unknown model: '{name}' has no available versions")
            return error(
                503, f"Request for unknown model: '{name}' version {version} is not at ready state"
            )
        # loaded, but Model::IsReady() is false: HandleModelReady's own answer
        return None if where == "metadata" else error(400, "Model version not ready")
    if flavour == "ovms":
        return error(404, "Model with requested version is not loaded yet")
    if where == "metadata":
        return None  # MLServer and KServe read metadata from the registry, ready or not
    if flavour == "kserve":
        return error(503, f"Model with name {name} is not ready.")
    if where == "ready":
        return V2Error(400)  # MLServer: to_status_code(False), empty body
    suffix = f" with version {version}" if version else ""
    return error(400, f"Model {name}{suffix} is not ready yet.")


def model_ready(flavour: Flavour, model: V2Model) -> Any:
    return {"name": model.name, "ready": True} if flavour == "kserve" else None


def model_metadata(flavour: Flavour, model: V2Model, version: str | None) -> dict[str, Any]:
    if flavour == "kserve":  # dataplane.model_metadata: no versions -> null
        versions: list[str] | None = None
    elif flavour == "triton" and version is not None:
        versions = [version]
    else:  # MLServer: model-settings.json "versions" (free-form, default [])
        versions = list(model.versions)
    doc: dict[str, Any] = {"name": model.name, "versions": versions}
    doc["platform"] = model.platform if model.platform is not None else PLATFORM[flavour]
    doc["inputs"] = [model.input_meta()]
    doc["outputs"] = model.output_metas()
    return doc


# -- infer answers ---------------------------------------------------------------------------
def response_envelope(
    flavour: Flavour, model: V2Model, version: str | None, request_id: Any
) -> dict[str, Any]:
    """The infer answer's fields before ``outputs``."""
    served = version or (model.versions[-1] if model.versions else None)
    if flavour == "triton":
        doc: dict[str, Any] = {"id": request_id} if request_id else {}
        return {**doc, "model_name": model.name, "model_version": served or "1"}
    if flavour == "ovms":
        doc = {"model_name": model.name, "model_version": served or "1"}
        return {**doc, "id": request_id} if request_id else doc
    rid = request_id if isinstance(request_id, str) and request_id else str(uuid.uuid4())
    if flavour == "mlserver":  # None fields are left out; an id is made up when missing
        doc = {"model_name": model.name, "id": rid}
        return {**doc, "model_version": version} if version else doc
    return {"model_name": model.name, "model_version": None, "id": rid, "parameters": None}
