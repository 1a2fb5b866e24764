"""A stand-in for an OpenAI-compatible Chat Completions server with a vision model (what vLLM,
Ollama, llama.cpp's server and ``transformers serve`` answer), on 127.0.0.1.

Written from the ``openai`` SDK's own source (what it sends and parses): ``GET /v1/models``;
``POST /v1/chat/completions`` answered whole (``choices[0].message.content`` and ``usage``) or as
server-sent events (``chat.completion.chunk`` objects with ``delta.content``, a last chunk with
``finish_reason`` and, when asked with ``stream_options.include_usage``, ``usage``, then
``data: [DONE]``); errors as ``{"error": {"message", "type", "code"}}`` with the real status.

The photo in the ``image_url`` part must be a ``data:image/...;base64,`` URL that Pillow opens:
its size is recorded, so a test can check what the bot sent. Faults are scripted on the object.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

# What vLLM answers a text-only model sent an image (its chat template finds no image token).
NO_IMAGES = "Model does not support multimodal inputs: image input is not supported"


@dataclass(frozen=True)
class Asked:
    """One recorded chat completion request."""

    model: str
    question: str
    system: str
    stream: bool
    max_tokens: int | None
    image_width: int
    image_height: int
    image_bytes: int
    authorization: bool


@dataclass
class Script:
    """What the stand-in answers; a test changes these between requests."""

    answer: str = "这是一只狗。"
    status: int | None = None
    retry_after: str | None = None
    fail_count: int = 0
    text_only: bool = False
    hang_s: float = 0.0
    first_token_delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    chunks: int = 4
    chunk_times: list[float] = field(default_factory=list)


class VisionModelServer:
    """``with VisionModelServer(model="qwen2.5vl") as vlm: vlm.url`` (the base ends in /v1)."""

    def __init__(self, *, model: str = "qwen2.5vl", key: str | None = None, port: int = 0):
        self.model = model
        self.key = key
        self.script = Script()
        self.asked: list[Asked] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        handler = type("Handler", (_Handler,), {"owner": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> VisionModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> VisionModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, asked: Asked) -> None:
        with self._lock:
            self.asked.append(asked)

    def failure(self) -> tuple[int, str] | None:
        """The scripted failure for this request, if any (``fail_count`` are used up first)."""
        with self._lock:
            s = self.script
            if s.fail_count > 0:
                s.fail_count -= 1
                return s.status or 503, "the model is overloaded"
            if s.status is not None:
                return s.status, f"scripted status {s.status}"
        return None

    def wait(self, seconds: float) -> None:
        self._stop.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    owner: VisionModelServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _json(self, status: int, doc: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(doc, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        kind = "invalid_request_error" if status < 500 else "server_error"
        self._json(status, {"error": {"message": message, "type": kind, "code": code}}, headers)

    def _authorised(self) -> bool:
        key = self.owner.key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._error(401, "Incorrect API key provided.", "invalid_api_key")
        return False

    def do_GET(self) -> None:
        if not self._authorised():
            return
        if self.path.rstrip("/") != "/v1/models":
            self._error(404, f"no route {self.path}", "not_found")
            return
        model = {"id": self.owner.model, "object": "model", "created": 0, "owned_by": "standin"}
        self._json(200, {"object": "list", "data": [model]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self._authorised():
            return
        if self.path != "/v1/chat/completions":
            self._error(404, f"no route {self.path}", "not_found")
            return
        try:
            body = json.loads(raw)
            asked = self._read(body)
        except (ValueError, KeyError, TypeError, OSError) as exc:
            self._error(400, f"bad request: {exc}", "invalid_request")
            return
        if asked.model != self.owner.model:
            self._error(404, f"The model `{asked.model}` does not exist.", "model_not_found")
            return
        self.owner.record(asked)
        script = self.owner.script
        if script.text_only:
            self._error(400, NO_IMAGES, "invalid_request")
            return
        failed = self.owner.failure()
        if failed is not None:
            status, message = failed
            extra = {"Retry-After": script.retry_after} if script.retry_after else None
            self._error(status, message, "scripted", extra)
            return
        if script.hang_s:
            self.owner.wait(script.hang_s)
        if asked.stream:
            self._stream(body, script)
        else:
            self._whole(script)

    def _read(self, body: dict[str, Any]) -> Asked:
        system, question, image = "", "", b""
        for message in body["messages"]:
            content = message["content"]
            if message["role"] == "system":
                system = str(content)
                continue
            for part in content if isinstance(content, list) else [content]:
                if isinstance(part, str):
                    question += part
                elif part["type"] == "text":
                    question += part["text"]
                elif part["type"] == "image_url":
                    head, _, data = part["image_url"]["url"].partition(",")
                    if not head.startswith("data:image/") or not head.endswith(";base64"):
                        raise ValueError("image_url must be a data:image/...;base64 URL")
                    image = base64.b64decode(data, validate=True)
        with Image.open(io.BytesIO(image)) as img:
            width, height = img.size
        return Asked(
            model=str(body["model"]),
            question=question,
            system=system,
            stream=bool(body.get("stream")),
            max_tokens=body.get("max_tokens"),
            image_width=width,
            image_height=height,
            image_bytes=len(image),
            authorization="Authorization" in self.headers,
        )

    def _whole(self, script: Script) -> None:
        self._json(
            200,
            {
                "id": "chatcmpl-standin",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.owner.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": script.answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": _usage(script.answer),
            },
        )

    def _stream(self, body: dict[str, Any], script: Script) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        text, n = script.answer, max(1, script.chunks)
        step = max(1, -(-len(text) // n))
        pieces = [text[i : i + step] for i in range(0, len(text), step)] or [""]
        self.owner.wait(script.first_token_delay_s)
        for i, piece in enumerate(pieces):
            if i:
                self.owner.wait(script.chunk_delay_s)
            self._event(_chunk(self.owner.model, {"content": piece}, None))
            script.chunk_times.append(time.monotonic())
        self._event(_chunk(self.owner.model, {}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {**_chunk(self.owner.model, {}, None), "choices": [], "usage": _usage(text)}
            self._event(usage)
        self._write(b"data: [DONE]\n\n")
        self._write(b"")

    def _event(self, doc: dict[str, Any]) -> None:
        self._write(b"data: " + json.dumps(doc, ensure_ascii=False).encode() + b"\n\n")

    def _write(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _chunk(model: str, delta: dict[str, str], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _usage(answer: str) -> dict[str, int]:
    completion = max(1, len(answer) // 2)
    return {"prompt_tokens": 300, "completion_tokens": completion, "total_tokens": 300 + completion}
