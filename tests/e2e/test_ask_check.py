"""``check`` with ``[ask] url``: the models offered, one small question, and plain words for a URL
that is no OpenAI-compatible base, an unknown model name and a refused key (never the key)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.cli import main
from tests.conftest import WriteConfig
from tests.fakes.openai_api import OpenAIStandIn
from tests.fakes.tfserving import FakeTFServing, ModelSpec

pytestmark = pytest.mark.e2e

KEY = "sk-check-7f3a9b2c4d5e6f70"


@pytest.fixture
def tfs() -> Iterator[FakeTFServing]:
    with FakeTFServing(ModelSpec()) as srv:
        yield srv


@pytest.fixture
def vlm() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn("qwen2.5vl", api_key=KEY) as server:
        yield server


def check(write_config: WriteConfig, tfs: FakeTFServing, url: str, model: str = "qwen2.5vl") -> int:
    ask = f'\n[ask]\nurl = "{url}"\nmodel = "{model}"\napi_key_env = "ASK_KEY"\n'
    return main(["check", "--config", str(write_config(ask, serving_url=tfs.url))])


def test_check_lists_the_model_and_answers_a_test_question(
    write_config: WriteConfig,
    tfs: FakeTFServing,
    vlm: OpenAIStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ASK_KEY", KEY)
    vlm.answer = "渐变"
    assert check(write_config, tfs, vlm.base_url) == 0

    out = capsys.readouterr().out
    assert f"ask      {vlm.base_url}: model 'qwen2.5vl' served (1 models); $ASK_KEY is set" in out
    assert "test picture (" in out and "-> '渐变' in " in out
    assert KEY not in out
    [asked] = vlm.chat_requests
    assert max(asked.image_width or 0, asked.image_height or 0) <= 1024


@pytest.mark.parametrize(
    "key,model,expected",
    [
        ("wrong", "qwen2.5vl", "refused the key (HTTP 401): put a valid key in $ASK_KEY"),
        (KEY, "llava", "[ask] model = 'llava' is not served at"),
    ],
)
def test_check_says_plainly_what_is_wrong_with_the_key_or_the_model(
    write_config: WriteConfig,
    tfs: FakeTFServing,
    vlm: OpenAIStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    model: str,
    expected: str,
) -> None:
    monkeypatch.setenv("ASK_KEY", key)
    assert check(write_config, tfs, vlm.base_url, model) == 2

    err = capsys.readouterr().err
    assert expected in err
    if model == "llava":
        assert "it offers: qwen2.5vl" in err
    assert KEY not in err  # never the key itself


def test_check_says_when_the_url_is_no_openai_compatible_base(
    write_config: WriteConfig,
    tfs: FakeTFServing,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert check(write_config, tfs, f"{tfs.url}/v1") == 2
    assert "is not an OpenAI-compatible API base" in capsys.readouterr().err
