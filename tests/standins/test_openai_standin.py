"""The OpenAI-compatible stand-in answers the real ``openai`` SDK as a vision-model server does
(see tests/fakes/openai_api)."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from PIL import Image

from tests.fakes.openai_api import OpenAIStandIn

KEY = "sk-test-4f1c0ffee"
MODEL = "qwen2-vl"


def jpeg(size: tuple[int, int] = (320, 240)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (180, 120, 60)).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def messages(photo: bytes, question: str = "这是什么狗?", mime: str = "image/jpeg") -> Any:
    url = f"data:{mime};base64," + base64.b64encode(photo).decode("ascii")
    return [
        {"role": "system", "content": "简短回答。"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": question},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        },
    ]


@pytest.fixture
def standin() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn(MODEL, api_key=KEY) as server:
        yield server


def client(standin: OpenAIStandIn, key: str = KEY, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=standin.url + "/v1", api_key=key, max_retries=retries)


def ask(standin: OpenAIStandIn, **kw: Any) -> Any:
    kw.setdefault("model", MODEL)
    kw.setdefault("messages", messages(jpeg()))
    return client(standin).chat.completions.create(**kw)


def test_models_list(standin: OpenAIStandIn) -> None:
    page = client(standin).models.list()
    assert [(m.id, m.object, m.owned_by) for m in page.data] == [(MODEL, "model", "vllm")]
    assert page.object == "list"
    assert client(standin).models.retrieve(MODEL).id == MODEL


def test_non_streamed_answer_usage_and_record(standin: OpenAIStandIn) -> None:
    standin.answer = "这是一只柯基。"
    photo = jpeg((320, 240))
    done = ask(standin, messages=messages(photo, "这是什么狗?"), max_tokens=600, timeout=10)
    assert done.object == "chat.completion"
    assert done.choices[0].message.content == "这是一只柯基。"
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None
    assert done.usage.completion_tokens == 2  # two deltas of 4 characters
    assert done.usage.total_tokens == done.usage.prompt_tokens + 2
    (rec,) = standin.chat_requests
    assert (rec.image_width, rec.image_height, rec.image_bytes) == (320, 240, len(photo))
    assert (rec.image_mime, rec.image_format, rec.image_count) == ("image/jpeg", "JPEG", 1)
    assert (rec.model, rec.question, rec.system) == (MODEL, "这是什么狗?", "简短回答。")
    assert (rec.stream, rec.max_tokens, rec.status, rec.key_ok) == (False, 600, 200, True)
    assert rec.headers["authorization"] == "Bearer <redacted>"
    assert KEY not in repr(rec)


def test_default_answer_names_the_picture_size(standin: OpenAIStandIn) -> None:
    done = ask(standin, messages=messages(jpeg((64, 48))))
    assert "64×48" in str(done.choices[0].message.content)


def test_streamed_answer_in_deltas_with_usage_and_times(standin: OpenAIStandIn) -> None:
    standin.answer = "这是一只柯基, 正在草地上奔跑。"
    standin.first_token_delay_s, standin.chunk_delay_s = 0.2, 0.05
    start = time.monotonic()
    stream = ask(standin, stream=True, stream_options={"include_usage": True})
    deltas, finish, usage = [], None, None
    with stream:
        for chunk in stream:
            assert chunk.object == "chat.completion.chunk"
            usage = chunk.usage or usage
            if chunk.choices:
                deltas.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
    assert "".join(deltas) == standin.answer
    assert len([d for d in deltas if d]) >= 3
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == len([d for d in deltas if d])
    (rec,) = standin.chat_requests
    assert rec.stream and rec.include_usage and rec.answer == standin.answer
    assert rec.chunk_times[0] - start >= 0.2
    gaps = [b - a for a, b in zip(rec.chunk_times, rec.chunk_times[1:], strict=False)]
    assert len(gaps) == len(rec.chunks) - 1 and min(gaps) >= 0.045
    assert rec.finished_at is not None and rec.finished_at >= rec.chunk_times[-1]


def test_hostile_answer_is_sent_verbatim(standin: OpenAIStandIn) -> None:
    standin.answer = "柯基\x07\x1b[31m\u202e@所有人 \ufffd\u200b\n\t"
    stream = ask(standin, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == standin.answer
    assert ask(standin).choices[0].message.content == standin.answer


def test_max_tokens_cuts_the_answer(standin: OpenAIStandIn) -> None:
    standin.answer, standin.chunk_chars = "一二三四五六七八九十", 2
    done = ask(standin, max_tokens=3)
    assert done.choices[0].message.content == "一二三四五六"
    assert done.choices[0].finish_reason == "length"


def test_wrong_key_is_401(standin: OpenAIStandIn) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client(standin, key="sk-wrong").chat.completions.create(
            model=MODEL, messages=messages(jpeg())
        )
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        client(standin, key="sk-wrong").models.list()
    assert [r.key_ok for r in standin.requests] == [False, False]


def test_missing_key_is_401_with_openai_body(standin: OpenAIStandIn) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(standin.url + "/v1/models", timeout=5)
    assert caught.value.code == 401
    body = json.loads(caught.value.read())
    assert body["error"]["type"] == "invalid_request_error"
    assert "Authorization: Bearer" in body["error"]["message"]


def test_unknown_model_is_404(standin: OpenAIStandIn) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        ask(standin, model="llava")
    assert caught.value.code == "model_not_found"
    assert "llava" in caught.value.message


def test_text_only_model_refuses_pictures(standin: OpenAIStandIn) -> None:
    standin.text_only = True
    with pytest.raises(openai.BadRequestError) as caught:
        ask(standin, messages=messages(jpeg((100, 80))))
    assert caught.value.body == {
        "message": f"{MODEL} is not a multimodal model",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    (rec,) = standin.chat_requests
    assert (rec.status, rec.image_width, rec.image_height) == (400, 100, 80)
    text = ask(standin, messages=[{"role": "user", "content": "你好"}])
    assert text.choices[0].message.content


@pytest.mark.parametrize(
    "url",
    [
        "data:image/jpeg;base64,not base64!",
        "data:image/jpeg;base64," + base64.b64encode(b"not a picture").decode(),
        "https://example.com/dog.jpg",
    ],
)
def test_bad_picture_is_400(standin: OpenAIStandIn, url: str) -> None:
    parts = [{"type": "text", "text": "?"}, {"type": "image_url", "image_url": {"url": url}}]
    with pytest.raises(openai.BadRequestError):
        ask(standin, messages=[{"role": "user", "content": parts}])


def test_rate_limited_with_retry_after(standin: OpenAIStandIn) -> None:
    standin.status, standin.retry_after = 429, "7"
    with pytest.raises(openai.RateLimitError) as caught:
        ask(standin)
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.code == "rate_limit_exceeded"


def test_overloaded_is_503(standin: OpenAIStandIn) -> None:
    standin.status = 503
    with pytest.raises(openai.InternalServerError) as caught:
        ask(standin, stream=True)
    assert caught.value.status_code == 503


def test_fail_count_then_answer_with_the_sdks_retry(standin: OpenAIStandIn) -> None:
    standin.status, standin.fail_count, standin.retry_after_ms = 503, 1, "20"
    standin.answer = "好了。"
    sdk = client(standin, retries=1)
    done = sdk.chat.completions.create(model=MODEL, messages=messages(jpeg()))
    assert done.choices[0].message.content == "好了。"
    first, second = standin.chat_requests
    assert (first.status, second.status) == (503, 200)
    assert second.headers["x-stainless-retry-count"] == "1"
    assert second.received_at - first.received_at >= 0.02


def test_hang_times_out_the_client(standin: OpenAIStandIn) -> None:
    standin.hang = True
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask(standin, timeout=0.5)
    assert 0.4 < time.monotonic() - start < 5
    (rec,) = standin.wait_for_requests(1)
    assert rec.status is None
    standin.hang = False
    assert ask(standin, timeout=5).choices[0].message.content


def test_drip_sends_one_byte_at_a_time(standin: OpenAIStandIn) -> None:
    standin.answer, standin.drip_s = "滴。", 0.002
    done = ask(standin, timeout=30)
    assert done.choices[0].message.content == "滴。"
    (rec,) = standin.chat_requests
    assert rec.finished_at is not None
    assert rec.finished_at - rec.received_at >= 300 * 0.002  # the body is > 300 bytes


def test_stop_ends_a_hang_and_restarts_on_the_same_port(standin: OpenAIStandIn) -> None:
    standin.hang = True
    port = standin.port
    stopper = threading.Timer(0.3, standin.stop)
    stopper.start()
    start = time.monotonic()
    with pytest.raises(openai.APIConnectionError):  # the connection is reset, no timeout
        ask(standin, timeout=10)
    stopper.join()
    assert time.monotonic() - start < 5
    standin.hang = False
    standin.start()
    assert standin.port == port
    assert client(standin).models.list().data[0].id == MODEL
