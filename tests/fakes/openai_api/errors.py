"""Error answers, worded as the servers word them; the ``openai`` SDK maps the status to its
exception (400 BadRequestError, 401 AuthenticationError, 403 PermissionDeniedError, 404
NotFoundError, 429 RateLimitError, >= 500 InternalServerError) and keeps ``body["error"]`` as
``exc.body``.

OpenAI's own envelope is ``{"error": {"message", "type", "param", "code"}}`` with a string (or
null) ``code``; vLLM uses the same envelope with ``type`` the exception name and ``code`` the
HTTP status (``vllm/entrypoints/openai/protocol.py``: ``ErrorInfo``/``ErrorResponse``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class ApiError:
    """One error answer: status, JSON body and extra headers (e.g. ``Retry-After``)."""

    status: int
    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def message(self) -> str:
        inner = self.body.get("error")
        if isinstance(inner, dict):
            return str(inner.get("message", ""))
        return str(self.body.get("detail", ""))

    def encode(self) -> bytes:
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


def openai_error(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | int | None = None,
    headers: dict[str, str] | None = None,
) -> ApiError:
    inner: dict[str, object] = {"message": message, "type": type_, "param": param, "code": code}
    return ApiError(status, {"error": inner}, dict(headers or {}))


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return openai_error(400, message, param=param, code=code)


def invalid_key(*, missing: bool) -> ApiError:
    """OpenAI's two 401s (the key itself is never echoed back)."""
    if missing:
        message = (
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
        return openai_error(401, message, code=None)
    return openai_error(401, "Incorrect API key provided.", code="invalid_api_key")


def model_not_found(model: str) -> ApiError:
    """OpenAI's wording for an unknown model."""
    message = f"The model `{model}` does not exist or you do not have access to it."
    return openai_error(404, message, code="model_not_found")


def not_multimodal(model: str) -> ApiError:
    """vLLM's answer when a text-only model is sent an image: ``vllm/multimodal/registry.py``
    raises ``ValueError(f"{model_name} is not a multimodal model")`` and the API server turns
    it into a 400 ``BadRequestError`` (seen verbatim in vllm-project/vllm#19144 and #23402)."""
    message = f"{model} is not a multimodal model"
    return openai_error(400, message, type_="BadRequestError", code=400)


def fault(
    status: int,
    message: str | None = None,
    *,
    retry_after: str | None = None,
    retry_after_ms: str | None = None,
) -> ApiError:
    """A scripted failure with OpenAI's usual wording for the status."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    if status == 429:
        wait = f" Please try again in {retry_after}s." if retry_after else ""
        text = message or f"Rate limit reached for requests.{wait}"
        return openai_error(
            429, text, type_="requests", code="rate_limit_exceeded", headers=headers
        )
    if status == 503:
        text = message or "The engine is currently overloaded, please try again later."
        return openai_error(503, text, type_="server_error", headers=headers)
    if status >= 500:
        text = message or "The server had an error while processing your request. Sorry about that!"
        return openai_error(status, text, type_="server_error", headers=headers)
    return openai_error(status, message or reason(status), headers=headers)


def route_not_found(status: int = 404) -> ApiError:
    """FastAPI's answer (vLLM, SGLang, LMDeploy) for a path or method it does not route."""
    return ApiError(status, {"detail": reason(status)})


def reason(status: int) -> str:
    return _REASONS.get(status, "Error")
