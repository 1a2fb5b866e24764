"""Asking about a photo through WeCom: a ``mixed`` message with a photo and a question is answered
with the vision model's words on the message's callback; with no model, the photo is classified
as before. The real bot process and the real WeCom SDK against the WeCom stand-in."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.botproc import BotProcess, class_photo, wait_for_rows
from tests.e2e.test_wecom import BOT_ID, CAT, SECRET, SECRET_ENV, XIAOMING, content, wecom_config
from tests.fakes.openai_api import OpenAIStandIn
from tests.fakes.tfserving import FakeTFServing
from tests.fakes.wecom import WeComStandIn

pytestmark = pytest.mark.e2e


@pytest.fixture
def wecom() -> Iterator[WeComStandIn]:
    with WeComStandIn(bot_id=BOT_ID, secret=SECRET) as standin:
        yield standin


@pytest.fixture
def vlm() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn("qwen2.5vl") as server:
        server.answer = "这是一只埃及猫, 正看着镜头。"
        yield server


def run_bot(tmp_path: Path, wecom: WeComStandIn, tfs: FakeTFServing, extra: str) -> BotProcess:
    cfg = wecom_config(tmp_path, wecom, tfs.url, extra=extra)
    bot = BotProcess(cfg, env={SECRET_ENV: SECRET})
    bot.wait_logged_in()
    wecom.wait_subscribed(timeout_s=10)
    return bot


def test_a_photo_and_a_question_in_one_message_get_the_models_answer_on_the_callback(
    wecom: WeComStandIn, tfs: FakeTFServing, vlm: OpenAIStandIn, tmp_path: Path
) -> None:
    bot = run_bot(tmp_path, wecom, tfs, f'[ask]\nurl = "{vlm.base_url}"\nmodel = "qwen2.5vl"\n')
    try:
        group = wecom.new_chatid()
        posted = wecom.post_mixed(
            group, XIAOMING, f"@{wecom.bot_name} 这是什么猫?", [class_photo(286)]
        )

        reply = wecom.wait_reply(posted.req_id, timeout_s=20)
        assert content(reply) == f"@{XIAOMING}\u2005这是一只埃及猫, 正看着镜头。"
        [asked] = vlm.chat_requests
        assert (asked.question or "").startswith("这是什么猫?")  # the @ of the bot taken out
        assert max(asked.image_width or 0, asked.image_height or 0) == 1024
    finally:
        bot.kill()


def test_without_a_model_a_photo_with_words_is_classified_as_before(
    wecom: WeComStandIn, tfs: FakeTFServing, tmp_path: Path
) -> None:
    bot = run_bot(tmp_path, wecom, tfs, "")
    try:
        group = wecom.new_chatid()
        posted = wecom.post_mixed(
            group, XIAOMING, f"@{wecom.bot_name} 看看这个", [class_photo(286)]
        )

        assert content(wecom.wait_reply(posted.req_id, timeout_s=20)).endswith(CAT)
        rows = wait_for_rows(
            tmp_path / "audit.sqlite3", lambda r: len(r) == 1 and r[0]["outcome"] != "pending"
        )
        assert rows[0]["outcome"] == "replied"
    finally:
        bot.kill()


def test_the_answer_streams_on_the_callback_as_the_model_writes_it(
    wecom: WeComStandIn, tfs: FakeTFServing, vlm: OpenAIStandIn, tmp_path: Path
) -> None:
    vlm.answer = "这是一只埃及猫。它的耳朵很大, 正看着镜头。"
    vlm.chunk_chars, vlm.chunk_delay_s = 4, 0.4
    bot = run_bot(tmp_path, wecom, tfs, f'[ask]\nurl = "{vlm.base_url}"\nmodel = "qwen2.5vl"\n')
    try:
        group = wecom.new_chatid()
        posted = wecom.post_mixed(
            group, XIAOMING, f"@{wecom.bot_name} 这是什么?", [class_photo(286)]
        )
        final = wecom.wait_reply(posted.req_id, timeout_s=30)

        frames = wecom.replies(posted.req_id)
        drafts = [content(f) for f in frames if not f.finish]
        assert len(drafts) >= 2  # partial answers shown while the model wrote
        assert all(d.startswith(f"@{XIAOMING}\u2005这是") for d in drafts)
        assert all(len(a) < len(b) for a, b in itertools.pairwise(drafts))  # growing
        assert content(final) == f"@{XIAOMING}\u2005{vlm.answer}"
        streams = {f.stream.get("id") for f in frames}
        assert len(streams) == 1  # one stream: the drafts and the answer replace each other
    finally:
        bot.kill()
