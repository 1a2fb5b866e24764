"""Asking about a photo (``[ask]``) end to end: the real bot process and real itchat against the
WeChat simulator, the TF Serving stand-in and an OpenAI-compatible vision-model stand-in, which
the bot reaches through the real ``openai`` SDK."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.botproc import (
    FAMILY,
    BotProcess,
    class_photo,
    wait_for_rows,
    wait_until,
    write_bot_config,
)
from tests.fakes.openai_api import OpenAIStandIn
from tests.fakes.tfserving import FakeTFServing
from tests.fakes.wechat_sim import SentMessage, WeChatSimulator

pytestmark = pytest.mark.e2e

MENTION = "\u2005"
CAT_REPLY = f"@小明{MENTION}让我猜猜,你发的这张图片有 90.0% 的概率是: Egyptian cat"
Start = Callable[..., BotProcess]


@pytest.fixture
def sim() -> Iterator[WeChatSimulator]:
    with WeChatSimulator(auto_scan_after_s=0.05, synccheck_hold_s=0.5) as s:
        s.add_group(FAMILY, ["小明", "小红"])
        s.add_friend("小明")
        yield s


@pytest.fixture
def vlm() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn("qwen2.5vl", api_key="sk-test-ask-key") as server:
        server.answer = "这是一只狗。"
        yield server


@pytest.fixture
def start(
    sim: WeChatSimulator, tfs: FakeTFServing, vlm: OpenAIStandIn, tmp_path: Path
) -> Iterator[Start]:
    procs: list[BotProcess] = []

    def start_bot(*, ask: str = "", url: str | None = None, wechat: str = "") -> BotProcess:
        cfg = write_bot_config(
            tmp_path,
            wechat_url=sim.url,
            serving_url=tfs.url,
            wechat=wechat,
            extra=f'[ask]\nurl = "{url or vlm.base_url}"\nmodel = "qwen2.5vl"\n'
            f'api_key_env = "ASK_KEY"\ntimeout_s = 5\n{ask}\n',
        )
        bot = BotProcess(cfg, env={"ASK_KEY": "sk-test-ask-key"})
        procs.append(bot)
        bot.wait_logged_in()
        return bot

    yield start_bot
    for bot in procs:
        bot.kill()


def to(nickname: str) -> Callable[[SentMessage], bool]:
    return lambda m: m.to_nickname == nickname


def ask(sim: WeChatSimulator, sender: str, text: str) -> str:
    return sim.post_text(FAMILY, sender, f"@{sim.me}{MENTION}{text}")


def questions(db: Path, count: int) -> list[sqlite3.Row]:
    """The questions table once it has ``count`` rows (written once each answer is sent)."""
    found: list[sqlite3.Row] = []

    def read() -> bool:
        nonlocal found
        conn = sqlite3.connect(db)
        conn.row_factory = sqlite3.Row
        try:
            found = list(conn.execute("SELECT * FROM questions ORDER BY seen_at"))
        except sqlite3.OperationalError:
            return False
        finally:
            conn.close()
        return len(found) >= count

    wait_until(read)
    return found


def test_a_photo_then_a_question_gets_the_models_answer_at_the_asker(
    sim: WeChatSimulator, start: Start, vlm: OpenAIStandIn, tmp_path: Path
) -> None:
    bot = start()
    photo_id = sim.post_picture(FAMILY, "小明", class_photo(286))
    sim.wait_for_sent(lambda m: m.content == CAT_REPLY)
    vlm.answer = "这是一只\u202e埃及猫。@所有人"
    question_id = ask(sim, "小明", "这是什么?")

    answers = sim.wait_for_sent(lambda m: m.content.startswith(f"@小明{MENTION}这是"))
    assert [m.content for m in answers] == [f"@小明{MENTION}这是一只埃及猫。＠所有人"]
    [asked] = vlm.chat_requests
    assert (asked.question or "").startswith("这是什么?")  # the bot's own @ taken out
    assert "Egyptian cat" in (asked.question or "")  # the classifier's label as a hint
    assert max(asked.image_width or 0, asked.image_height or 0) == 1024  # shrunk, not the original
    assert asked.key_ok and asked.stream and asked.max_tokens == 600
    rows = wait_for_rows(tmp_path / "audit.sqlite3", lambda r: len(r) == 1)
    assert rows[0]["outcome"] == "replied"
    [row] = questions(tmp_path / "audit.sqlite3", 1)
    assert (row["msg_id"], row["outcome"], row["photo"], row["question"]) == (
        question_id,
        "answered",
        photo_id,
        None,  # the text is kept only with keep_text
    )
    assert "sk-test-ask-key" not in bot.stdout + bot.stderr
    assert bot.stop() == 0


def test_a_quote_of_an_older_photo_asks_about_that_photo(
    sim: WeChatSimulator, start: Start, vlm: OpenAIStandIn
) -> None:
    start()
    old = sim.post_picture(FAMILY, "小红", class_photo(286, size=(1200, 900)))
    sim.post_picture(FAMILY, "小红", class_photo(10, size=(900, 1200)))
    sim.wait_for_sent(to(FAMILY), count=2)
    sim.post_quote(FAMILY, "小明", f"@{sim.me}{MENTION}这只是什么?", old)

    sim.wait_for_sent(lambda m: m.content.startswith(f"@小明{MENTION}这是一只狗"))
    [asked] = vlm.chat_requests
    assert (asked.image_width, asked.image_height) == (1024, 768)  # the older, landscape one


def test_a_question_with_no_photo_gets_one_hint_and_calls_no_model(
    sim: WeChatSimulator, start: Start, vlm: OpenAIStandIn, tmp_path: Path
) -> None:
    bot = start()
    ask(sim, "小明", "这是什么?")
    ask(sim, "小红", "那这个呢?")

    [hint] = sim.wait_for_sent(lambda m: "先发一张图片" in m.content)
    assert hint.content.startswith("@小明 ")
    bot.stop_drained()
    rows = questions(tmp_path / "audit.sqlite3", 2)
    assert [r["outcome"] for r in rows] == ["hint", "hint"]
    assert len([m for m in sim.sent if "先发一张图片" in m.content]) == 1  # one per interval
    assert vlm.chat_requests == []


def test_the_model_down_gets_one_apology_and_pictures_are_still_answered(
    sim: WeChatSimulator, start: Start, tmp_path: Path
) -> None:
    start(url="http://127.0.0.1:9/v1")
    sim.post_picture(FAMILY, "小明", class_photo(286))
    sim.wait_for_sent(lambda m: m.content == CAT_REPLY)
    ask(sim, "小明", "这是什么?")

    [apology] = sim.wait_for_sent(lambda m: "问答服务暂时不可用" in m.content)
    assert "http" not in apology.content and "127.0.0.1" not in apology.content
    sim.post_picture(FAMILY, "小红", class_photo(286))
    sim.wait_for_sent(lambda m: m.content.startswith(f"@小红{MENTION}让我猜猜"))


def test_in_a_quiet_chat_a_photo_gets_no_answer_until_asked(
    sim: WeChatSimulator, start: Start, vlm: OpenAIStandIn, tmp_path: Path
) -> None:
    bot = start(ask=f'quiet_chats = ["{FAMILY}"]')
    sim.post_picture(FAMILY, "小明", class_photo(286))
    rows = wait_for_rows(tmp_path / "audit.sqlite3", lambda r: r and r[0]["outcome"] == "quiet")
    assert rows[0]["label"] is None
    ask(sim, "小明", "这是什么?")

    sim.wait_for_sent(lambda m: m.content.startswith(f"@小明{MENTION}这是一只狗"))
    bot.stop_drained()
    assert [m.content for m in sim.sent if m.to_nickname == FAMILY] == [
        f"@小明{MENTION}这是一只狗。"
    ]
    assert (vlm.chat_requests[0].question or "").startswith("这是什么?")


def test_in_a_private_chat_every_text_is_a_question_when_private_chats_are_on(
    sim: WeChatSimulator, start: Start, vlm: OpenAIStandIn
) -> None:
    start(wechat="private_chats = true")
    sim.post_picture(None, "小明", class_photo(286))
    sim.wait_for_sent(lambda m: m.content.endswith("Egyptian cat"))
    sim.post_text(None, "小明", "这是什么?")

    sim.wait_for_sent(lambda m: m.content == "这是一只狗。")  # no @ in a private chat
    assert (vlm.chat_requests[0].question or "").startswith("这是什么?")
