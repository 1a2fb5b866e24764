"""A stand-in for an OpenAI-compatible Chat Completions server with a vision model (vLLM,
Ollama, llama.cpp's server, LMDeploy, SGLang, ``transformers serve``, DashScope's compatible
mode), checked against the official ``openai`` SDK (tests/standins/test_openai_standin.py).

Routes: ``GET /v1/models`` (and ``/v1/models/{id}``), ``POST /v1/chat/completions`` streamed
(server-sent events: a role delta, content deltas, a ``finish_reason`` chunk, with
``stream_options.include_usage`` a ``usage`` chunk, then ``data: [DONE]``) or not
(``chat.completion`` with ``usage``), ``GET /health``. Requests are checked as a server does
(:mod:`~tests.fakes.openai_api.protocol`); errors use OpenAI's envelope
(:mod:`~tests.fakes.openai_api.errors`). Knobs and records: :class:`OpenAIStandIn`,
:class:`RecordedRequest`.

Known differences from real servers
-----------------------------------
* Pictures must be ``data:image/...;base64,`` URLs (real servers also fetch http(s) URLs).
* The model is fake: the answer is scripted, tokens are counted by a fixed rule
  (:mod:`~tests.fakes.openai_api.replies`), and no sampling parameter is looked at.
* Only the first choice (``n`` is ignored); no tools, logprobs, or errors mid-stream.
"""

from tests.fakes.openai_api.cli import main
from tests.fakes.openai_api.errors import ApiError, not_multimodal
from tests.fakes.openai_api.protocol import ChatBody, SentImage
from tests.fakes.openai_api.records import RecordedRequest
from tests.fakes.openai_api.standin import OpenAIStandIn

__all__ = [
    "ApiError",
    "ChatBody",
    "OpenAIStandIn",
    "RecordedRequest",
    "SentImage",
    "main",
    "not_multimodal",
]
