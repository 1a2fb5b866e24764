"""The stand-in object: :class:`OpenAIStandIn` (lifecycle, knobs, records)."""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from types import TracebackType

from tests.fakes.openai_api import errors
from tests.fakes.openai_api.errors import ApiError
from tests.fakes.openai_api.records import RecordedRequest
from tests.fakes.openai_api.wire import HTTPServer, Stopped


class OpenAIStandIn:
    """An OpenAI-compatible Chat Completions server on 127.0.0.1 (port 0: any free one).
    Starts on construction (``autostart``); use ``with``. The SDK's ``base_url`` is
    :attr:`base_url` (``url + "/v1"``).

    Knobs are plain attributes, read when a request arrives:

    * ``answer``: the text answered, sent verbatim (None: one naming the picture's size);
      ``chunk_chars`` characters per streamed delta; ``first_token_delay_s`` before the first
      delta and ``chunk_delay_s`` between deltas (a non-streamed answer waits their sum).
    * ``text_only``: the model refuses pictures, 400 ``"<model> is not a multimodal model"``
      (vLLM's words; ``errors.not_multimodal``).
    * ``status`` (e.g. 429, 500, 503) with ``retry_after`` / ``retry_after_ms`` header values
      and ``error_message`` (None: OpenAI's wording): chat requests fail with it; with
      ``fail_count = N`` only the next N do (``status`` None: 500), then answers come again.
    * ``hang``: chat requests get nothing until it is False again or the stand-in stops.
    * ``drip_s``: every body is written one byte at a time, this long apart.
    * ``owned_by`` and ``created`` for ``GET /v1/models``.

    Faults, hangs and the key apply to ``/v1/chat/completions``; the key to ``/v1/models`` too.
    """

    def __init__(
        self,
        models: str | Sequence[str] = "qwen2-vl",
        *,
        api_key: str | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        autostart: bool = True,
    ) -> None:
        self.models: list[str] = [models] if isinstance(models, str) else list(models)
        self.api_key = api_key
        self.answer: str | None = None
        self.chunk_chars = 4
        self.chunk_delay_s = 0.0
        self.first_token_delay_s = 0.0
        self.text_only = False
        self.status: int | None = None
        self.retry_after: str | None = None
        self.retry_after_ms: str | None = None
        self.error_message: str | None = None
        self.fail_count: int | None = None
        self.hang = False
        self.drip_s: float | None = None
        self.owned_by = "vllm"
        self.created = 1_700_000_000
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        if autostart:
            self.start()

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Listen (again, on the same port after :meth:`stop`)."""
        if self._httpd is not None:
            return
        self._stopping.clear()
        self._httpd = HTTPServer((self._host, self._port), self)
        self._port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"openai-standin-{self._port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening, end hangs and drips, and reset every open connection."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    close = stop

    def __enter__(self) -> OpenAIStandIn:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    # ---- records ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (a copy of the list; the records are live)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.is_chat]

    def reset_records(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_for_requests(self, count: int = 1, timeout_s: float = 5.0) -> list[RecordedRequest]:
        """The chat requests once ``count`` have arrived; AssertionError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while len(chats := self.chat_requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(chats)} chat requests arrived, not {count}")
            time.sleep(0.01)
        return chats

    # ---- for the handler -------------------------------------------------------------------

    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(rec)

    def _key_ok(self, authorization: str | None) -> bool | None:
        if self.api_key is None:
            return None
        scheme, _, token = (authorization or "").strip().partition(" ")
        sent = token.strip() if scheme.lower() == "bearer" else ""
        return secrets.compare_digest(sent.encode(), self.api_key.encode())

    def _take_fault(self) -> ApiError | None:
        with self._lock:
            if self.fail_count is not None:
                if self.fail_count <= 0:
                    return None
                self.fail_count -= 1
            elif self.status is None:
                return None
            status = self.status or 500
        return errors.fault(
            status,
            self.error_message,
            retry_after=self.retry_after,
            retry_after_ms=self.retry_after_ms,
        )

    def _pause(self, seconds: float) -> None:
        if seconds > 0 and self._stopping.wait(seconds):
            raise Stopped

    def _track(self, conn: socket.socket, *, opened: bool) -> None:
        with self._lock:
            if opened:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)
