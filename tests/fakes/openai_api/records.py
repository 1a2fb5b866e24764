"""What the stand-in saw: one :class:`RecordedRequest` per HTTP request."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.fakes.openai_api.protocol import ChatBody

_KEY_HEADERS = ("authorization", "api-key", "x-api-key")


@dataclass
class RecordedRequest:
    """One request. Recorded as soon as its body is read (a hung request is already listed);
    ``status``, ``chunks``, ``chunk_times`` and ``finished_at`` fill in as it is answered.

    ``headers`` has lower-case names; the value of ``authorization`` (and ``api-key`` /
    ``x-api-key``) keeps its scheme only, e.g. ``"Bearer <redacted>"``. Times are
    ``time.monotonic()`` (system-wide on Linux, so comparable with another process's).
    The ``image_*`` fields describe the first picture (``image_count`` says how many came).
    """

    method: str
    path: str
    headers: dict[str, str]
    received_at: float
    key_ok: bool | None = None  # None: the stand-in takes any key
    model: str | None = None
    question: str | None = None
    system: str | None = None
    image_count: int = 0
    image_mime: str | None = None  # from the data URL, e.g. "image/jpeg"
    image_format: str | None = None  # what Pillow read, e.g. "JPEG"
    image_width: int | None = None
    image_height: int | None = None
    image_bytes: int | None = None  # size of the decoded (not base64) picture
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None  # max_tokens, else max_completion_tokens
    status: int | None = None  # None while unanswered (e.g. hanging)
    error: str | None = None  # the error message answered, if any
    chunks: list[str] = field(default_factory=list)  # the deltas written, in order
    chunk_times: list[float] = field(default_factory=list)  # when each delta was written
    finished_at: float | None = None  # the whole answer written (None: cut off or hanging)

    @property
    def is_chat(self) -> bool:
        return self.method == "POST" and self.path.rstrip("/").endswith("/chat/completions")

    @property
    def answer(self) -> str:
        return "".join(self.chunks)

    def take(self, body: ChatBody) -> None:
        self.model = body.model
        self.question = body.question
        self.system = body.system
        self.stream = body.stream
        self.include_usage = body.include_usage
        self.max_tokens = body.max_tokens
        self.image_count = len(body.images)
        if body.images:
            first = body.images[0]
            self.image_mime, self.image_format = first.mime, first.format
            self.image_width, self.image_height = first.width, first.height
            self.image_bytes = len(first.data)


def redacted(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in _KEY_HEADERS:
            scheme, _, rest = value.strip().partition(" ")
            value = f"{scheme} <redacted>" if rest else "<redacted>"
        out[key] = value
    return out
