"""TF status emulation: a non-OK ``tensorflow::Status`` and its HTTP status code."""

from __future__ import annotations

_CODE_TO_HTTP = {
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class _TFError(Exception):
    """A non-OK tensorflow::Status."""

    def __init__(self, code: str, message: str, *, empty_body: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.empty_body = empty_body

    @property
    def http_status(self) -> int:
        return _CODE_TO_HTTP.get(self.code, 500)

    def to_string(self) -> str:
        """absl::Status::ToString()."""
        return f"{self.code}: {self.message}"


def _invalid(message: str) -> _TFError:
    return _TFError("INVALID_ARGUMENT", message)
