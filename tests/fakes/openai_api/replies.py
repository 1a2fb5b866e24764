"""The answer's JSON: ``chat.completion``, ``chat.completion.chunk`` events and the model list,
shaped as vLLM and OpenAI send them (and as ``openai.types.chat`` reads them).

Tokens are faked deterministically: each streamed delta is one completion token; a prompt costs
one token per text character plus one per 28x28 pixel patch of each image (Qwen2-VL's rule).
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from tests.fakes.openai_api.protocol import ChatBody

Json = dict[str, object]
DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class Answer:
    """What one request gets: its deltas, why it stopped and the token counts."""

    id: str
    model: str
    created: int
    deltas: list[str]
    finish_reason: str
    prompt_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.deltas)

    @property
    def usage(self) -> Json:
        done = len(self.deltas)
        total = self.prompt_tokens + done
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": done,
            "total_tokens": total,
        }


def plan(body: ChatBody, text: str | None, *, chunk_chars: int, created: int) -> Answer:
    """The answer to ``body``: ``text`` (None: one describing the picture), cut to deltas of
    ``chunk_chars`` characters and to ``max_tokens`` deltas (then ``finish_reason="length"``)."""
    deltas = split(default_answer(body) if text is None else text, chunk_chars)
    finish = "stop"
    if body.max_tokens is not None and len(deltas) > body.max_tokens:
        deltas, finish = deltas[: body.max_tokens], "length"
    return Answer(
        id=f"chatcmpl-{secrets.token_hex(12)}",
        model=str(body.model),
        created=created,
        deltas=deltas,
        finish_reason=finish,
        prompt_tokens=prompt_tokens(body),
    )


def default_answer(body: ChatBody) -> str:
    if not body.images:
        return "我没有看到图片。"
    image = body.images[0]
    return (
        f"这是一张 {image.width}×{image.height} 像素的图片（{len(image.data)} 字节）。"
        "画面中央有一个物体。"
    )


def split(text: str, chunk_chars: int) -> list[str]:
    size = max(1, chunk_chars)
    return [text[i : i + size] for i in range(0, len(text), size)]


def prompt_tokens(body: ChatBody) -> int:
    patches = sum(
        math.ceil((i.width or 0) / 28) * math.ceil((i.height or 0) / 28) for i in body.images
    )
    return body.text_chars + patches


def completion(answer: Answer) -> Json:
    message: Json = {"role": "assistant", "content": answer.text, "refusal": None, "tool_calls": []}
    choice: Json = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": answer.finish_reason,
    }
    return {**_head(answer, "chat.completion"), "choices": [choice], "usage": answer.usage}


def chunk(answer: Answer, delta: Json, finish_reason: str | None, *, with_usage: bool) -> Json:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    doc: Json = {**_head(answer, "chat.completion.chunk"), "choices": [choice]}
    if with_usage:
        doc["usage"] = None  # OpenAI sends "usage": null on every chunk but the last
    return doc


def usage_chunk(answer: Answer) -> Json:
    return {**_head(answer, "chat.completion.chunk"), "choices": [], "usage": answer.usage}


def events(answer: Answer, *, include_usage: bool) -> list[tuple[bytes, bool]]:
    """The SSE events in order, each flagged True when it carries answer text."""
    out = [
        (
            sse(
                chunk(answer, {"role": "assistant", "content": ""}, None, with_usage=include_usage)
            ),
            False,
        )
    ]
    for delta in answer.deltas:
        out.append((sse(chunk(answer, {"content": delta}, None, with_usage=include_usage)), True))
    out.append((sse(chunk(answer, {}, answer.finish_reason, with_usage=include_usage)), False))
    if include_usage:
        out.append((sse(usage_chunk(answer)), False))
    out.append((DONE, False))
    return out


def models_page(models: Sequence[str], *, owned_by: str, created: int) -> Json:
    data = [model_card(m, owned_by=owned_by, created=created) for m in models]
    return {"object": "list", "data": data}


def model_card(model: str, *, owned_by: str, created: int) -> Json:
    return {"id": model, "object": "model", "created": created, "owned_by": owned_by}


def sse(doc: Json) -> bytes:
    return b"data: " + dump(doc) + b"\n\n"


def dump(doc: Json) -> bytes:
    """Compact UTF-8 JSON, the text sent verbatim (a lone surrogate only as ``\\ud800``)."""
    try:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(doc, separators=(",", ":")).encode("ascii")


def _head(answer: Answer, kind: str) -> Json:
    return {
        "id": answer.id,
        "object": kind,
        "created": answer.created,
        "model": answer.model,
        "system_fingerprint": None,
    }
