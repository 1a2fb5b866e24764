"""The ``Asker`` port over an OpenAI-compatible Chat Completions API, with the official ``openai``
SDK (what vLLM, Ollama, llama.cpp's server, LMDeploy, SGLang, ``transformers serve`` and hosted
compatible modes document).

One user message holds the question and the photo as a ``data:image/jpeg;base64`` URL. The
answer is always read as a stream, so the whole of it must arrive within ``[ask] timeout_s``
(a server that drips one token a minute cannot hold a worker) and a transport that can show
partial answers gets them as they come. The SDK's own retries are off: a 429 is waited out once,
as its ``Retry-After`` says (bounded), then it is a failure. The API key is sent as a bearer
token and appears in no message.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai

from bot.core.asking import Asked
from bot.core.settings import AskConfig
from bot.errors import AskRefused, AskUnavailable

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 30.0
NO_IMAGES = ("image", "vision", "multimodal", "multi-modal")
"""Words of a 400 that says the model takes no images (vLLM, Ollama, llama.cpp word it so)."""


def client_for(ask: AskConfig) -> openai.OpenAI:
    assert ask.url is not None, "asking is on only with a url"
    return openai.OpenAI(
        base_url=ask.url,
        api_key=ask.api_key or "not-set",  # local servers take any; the SDK wants one
        timeout=ask.timeout_s,
        max_retries=0,
    )


class OpenAIAsker:
    def __init__(
        self, ask: AskConfig, *, client: openai.OpenAI, sleep: Callable[[float], None]
    ) -> None:
        assert ask.model is not None, "bot.config requires [ask] model with url"
        self._ask = ask
        self._model = ask.model
        self._client = client
        self._sleep = sleep

    def ask(
        self,
        *,
        photo: bytes,
        question: str,
        hint: str | None,
        on_text: Callable[[str], None] | None = None,
    ) -> Asked:
        start = time.monotonic()
        try:
            return self._ask_once(photo, question, hint, on_text, start)
        except openai.RateLimitError as exc:
            wait = _retry_after(exc)
            if wait is None or time.monotonic() - start + wait > self._ask.timeout_s:
                raise AskUnavailable(self._where("answered 429 (too many requests)")) from exc
            self._sleep(wait)
        try:
            return self._ask_once(photo, question, hint, on_text, time.monotonic())
        except openai.RateLimitError as exc:
            raise AskUnavailable(self._where("answered 429 again after waiting")) from exc

    def _ask_once(
        self,
        photo: bytes,
        question: str,
        hint: str | None,
        on_text: Callable[[str], None] | None,
        start: float,
    ) -> Asked:
        try:
            stream = self._client.chat.completions.create(
                model=self._model,
                messages=self.messages(photo, question, hint),
                stream=True,
                stream_options={"include_usage": True},
                # The answer is cut to max_answer_chars anyway: no need to wait for more.
                max_tokens=2 * self._ask.max_answer_chars,
            )
            parts: list[str] = []
            usage: Any = None
            with stream:
                for chunk in _until(stream, start + self._ask.timeout_s):
                    usage = chunk.usage or usage
                    delta = chunk.choices[0].delta.content if chunk.choices else None
                    if delta:
                        parts.append(delta)
                        if on_text is not None:
                            on_text("".join(parts))
        except openai.RateLimitError:
            raise
        except openai.APIStatusError as exc:
            raise self._refusal(exc) from exc
        except openai.APITimeoutError as exc:
            raise AskUnavailable(self._where(f"did not answer within {self._timeout}")) from exc
        except openai.APIConnectionError as exc:
            raise AskUnavailable(self._where("cannot be reached; is it running?")) from exc
        except openai.OpenAIError as exc:
            raise AskUnavailable(self._where(f"answered nonsense ({type(exc).__name__})")) from exc
        return Asked(
            text="".join(parts),
            model=self._model,
            latency_ms=round((time.monotonic() - start) * 1000.0, 1),
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
        )

    def messages(self, photo: bytes, question: str, hint: str | None) -> list[Any]:
        text = question.strip() or "这张图片里是什么?"
        if hint:
            text += f"\n(提示: 一个图像分类模型认为这是「{hint}」, 仅供参考。)"
        url = "data:image/jpeg;base64," + base64.b64encode(photo).decode("ascii")
        return [
            {"role": "system", "content": self._ask.system_prompt},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": text},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            },
        ]

    @property
    def _timeout(self) -> str:
        return f"[ask] timeout_s = {self._ask.timeout_s:g} s"

    def _where(self, what: str) -> str:
        return f"the [ask] model {self._model!r} at {self._ask.url} {what}"

    def _refusal(self, exc: openai.APIStatusError) -> AskRefused | AskUnavailable:
        status = exc.status_code
        message = _message(exc)
        if status in (401, 403):
            return AskRefused(
                "key",
                self._where(
                    f"refused the key (HTTP {status}); put a valid key in the environment "
                    f"variable {self._ask.api_key_env}"
                ),
            )
        if status == 404:
            return AskRefused(
                "model",
                self._where(f"is unknown there (HTTP 404: {message}); `check` lists the models"),
            )
        if status == 400 and any(word in message.lower() for word in NO_IMAGES):
            return AskRefused(
                "images",
                self._where(f"does not take images ({message}); set [ask] model to a vision model"),
            )
        if 400 <= status < 500:
            return AskRefused(
                "request", self._where(f"refused the question (HTTP {status}: {message})")
            )
        return AskUnavailable(self._where(f"failed (HTTP {status}: {message})"))


def _until(stream: Any, deadline: float) -> Iterator[Any]:
    """The stream's chunks, ended with a timeout once the whole answer takes too long."""
    for chunk in stream:
        if time.monotonic() > deadline:
            raise openai.APITimeoutError(request=stream.response.request)
        yield chunk


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        text = inner.get("message") if isinstance(inner, dict) else inner
        if isinstance(text, str):
            return " ".join(text.split())[:200]
    return " ".join(str(exc.message).split())[:200]


def _retry_after(exc: openai.RateLimitError) -> float | None:
    value = exc.response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def served_models(client: openai.OpenAI, ask: AskConfig) -> list[str]:
    """What ``GET /models`` offers; AskRefused when the URL is no OpenAI-compatible base."""
    where = f"[ask] url = {ask.url}"
    try:
        page = client.models.list()
        return sorted(str(m.id) for m in page.data)
    except openai.AuthenticationError as exc:
        raise AskRefused(
            "key", f"{where} refused the key (HTTP 401): put a valid key in ${ask.api_key_env}"
        ) from exc
    except openai.APIConnectionError as exc:
        raise AskUnavailable(f"{where} cannot be reached; is the server running?") from exc
    except (openai.APIStatusError, openai.APIResponseValidationError, ValueError) as exc:
        raise AskRefused(
            "url",
            f"{where} is not an OpenAI-compatible API base: GET {ask.url}/models did not list "
            'models; the base ends in /v1, e.g. "http://127.0.0.1:11434/v1" for Ollama',
        ) from exc
