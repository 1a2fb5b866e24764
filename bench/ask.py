"""``python -m bench --only ask``: what one question about a 12 MP photo costs the bot.

- bytes sent per question (the chat-completions body: the photo shrunk to ``[ask]
  max_side_px`` as base64, the question, the system prompt) against the original file as
  base64 (target: at most 5%);
- the bot's own time per question outside the model, p50/p95 (target p95 <= 30 ms): finding
  the photo among 200 remembered, building and serialising the request body (base64 included),
  making the model's answer safe and rendering the reply. The shrink itself happens once per
  photo when it arrives (shown apart, with the classifier's own shrink beside it);
- memory with 200 photos remembered in 20 chats, against ``max_memory_bytes``;
- WeCom: the first streamed words after the model's first token, through the real bot process
  (both stand-ins stamp their frames with ``time.monotonic``, the same clock across processes).
"""

from __future__ import annotations

import json
import time
import tracemalloc
from functools import partial
from typing import Any

from bench.common import Row, Section, kb, one_core, summary_ms, time_calls
from bench.photos import LARGE, photo_jpeg
from bot.adapters.ask import OpenAIAsker, client_for
from bot.adapters.imaging import shrink_longer_side
from bot.core.asking import sanitise_answer
from bot.core.photos import Photo, PhotoMemory
from bot.core.settings import AskConfig, ImagesConfig

ASK = AskConfig(url="http://127.0.0.1:9/v1", model="qwen2.5vl")
ANSWER = ("这是一只柯基犬, 短腿、立耳, 正趴在草地上晒太阳。" * 12)[:600] + "\u202e@所有人"
QUESTION = "这是什么品种? 它多大了?"


def one_question(
    memory: PhotoMemory, asker: OpenAIAsker, *, chat: str, sender: str
) -> tuple[int, str]:
    """The bot's work for one question, model excluded: (body bytes, reply text)."""
    photo = memory.find(chat_id=chat, sender_id=sender, quotes=None)
    assert photo is not None
    body = json.dumps(
        {
            "model": ASK.model,
            "messages": asker.messages(photo.jpeg, QUESTION, photo.label),
            "stream": True,
        },
        ensure_ascii=False,
    ).encode()
    text = sanitise_answer(ANSWER, max_chars=ASK.max_answer_chars)
    return len(body), f"@小明\u2005{text}"


def remembered(jpeg: bytes, chats: int = 20, per_chat: int = 10) -> PhotoMemory:
    memory = PhotoMemory(
        remember_s=ASK.remember_s,
        max_per_chat=ASK.max_photos_per_chat,
        max_bytes=ASK.max_memory_bytes,
        clock=lambda: 1_000.0,
    )
    for c in range(chats):
        for n in range(per_chat):
            # Each its own bytes object, as each photo would be.
            memory.remember(
                Photo(f"chat{c}", (f"m{c}-{n}",), f"u{n}", 1_000.0, bytes(bytearray(jpeg)), "柯基")
            )
    return memory


def run(*, quick: bool) -> Section:
    runs = 20 if quick else 100
    original = photo_jpeg(LARGE, seed=0)
    images = ImagesConfig()
    asker = OpenAIAsker(ASK, client=client_for(ASK), sleep=time.sleep)
    with one_core():
        shrink_t = time_calls(partial(shrink_longer_side, original, ASK.max_side_px, images), 5)
        small = shrink_longer_side(original, ASK.max_side_px, images)
        memory = remembered(small)
        body_bytes, reply = one_question(memory, asker, chat="chat19", sender="u3")
        question_t = time_calls(
            partial(one_question, memory, asker, chat="chat19", sender="u3"), runs
        )
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held = remembered(small)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    photos, held_bytes = held.usage()
    original_b64 = len(original) * 4 // 3
    share = body_bytes / original_b64
    per_q, shrink = summary_ms(question_t), summary_ms(shrink_t)
    detail: dict[str, Any] = {
        "original_bytes": len(original),
        "shrunk_bytes": len(small),
        "body_bytes": body_bytes,
        "original_b64_bytes": original_b64,
        "per_question": per_q,
        "shrink_once_per_photo": shrink,
        "memory": {"photos": photos, "bytes": held_bytes, "traced": after - before},
        "reply_chars": len(reply),
    }
    rows = [
        Row(
            "ask",
            "bytes per question, 12 MP photo (body vs original as base64)",
            f"{kb(body_bytes)} vs {kb(original_b64)} = {share:.1%}",
            "<= 5%",
            share <= 0.05,
            share,
        ),
        Row(
            "ask",
            "bot time per question outside the model, p50 / p95",
            f"{per_q['median_ms']:.2f} / {per_q['p95_ms']:.2f} ms",
            "p95 <= 30 ms",
            per_q["p95_ms"] <= 30.0,
            per_q["p95_ms"],
        ),
        Row(
            "ask",
            "shrink to 1024 px once per photo (12 MP), median",
            f"{shrink['median_ms']:.0f} ms",
        ),
        Row(
            "ask",
            "memory: 200 photos sent in 20 chats",
            f"{photos} kept, {kb(held_bytes)} (traced {kb(after - before)})",
            f"<= {kb(ASK.max_memory_bytes)}",
            after - before <= ASK.max_memory_bytes * 1.05,
            float(after - before),
        ),
    ]
    gaps = first_words(3 if quick else 10)
    words = summary_ms(gaps)
    detail["wecom_first_words_after_first_token"] = words
    rows.append(
        Row(
            "ask",
            "WeCom: first streamed words after the model's first token, p50 / max",
            f"{words['median_ms']:.0f} / {max(gaps) * 1000:.0f} ms",
            "<= 300 ms",
            max(gaps) <= 0.3,
            max(gaps),
        )
    )
    return Section("ask", rows, detail)


def first_words(runs: int) -> list[float]:
    """Seconds from the model's first token (the stand-in writing its first chunk) to the first
    partial answer WeCom receives on the callback's stream, through the real bot process."""
    import tempfile
    from pathlib import Path

    from tests.botproc import BotProcess, class_photo
    from tests.e2e.test_wecom import BOT_ID, SECRET, SECRET_ENV, XIAOMING, wecom_config
    from tests.fakes.openai_api import OpenAIStandIn
    from tests.fakes.tfserving import FakeTFServing, ModelSpec
    from tests.fakes.wecom import WeComStandIn

    gaps: list[float] = []
    with (
        tempfile.TemporaryDirectory() as folder,
        FakeTFServing(ModelSpec()) as tfs,
        OpenAIStandIn(ASK.model or "qwen2.5vl") as vlm,
        WeComStandIn(bot_id=BOT_ID, secret=SECRET) as wecom,
    ):
        vlm.answer, vlm.chunk_chars, vlm.chunk_delay_s = "这是一只埃及猫, 正看着镜头。", 3, 0.3
        ask = f'[ask]\nurl = "{vlm.base_url}"\nmodel = "{ASK.model}"\n'
        bot = BotProcess(
            wecom_config(Path(folder), wecom, tfs.url, extra=ask), env={SECRET_ENV: SECRET}
        )
        try:
            bot.wait_logged_in()
            wecom.wait_subscribed(timeout_s=10)
            group = wecom.new_chatid()
            for _ in range(runs):
                posted = wecom.post_mixed(
                    group, XIAOMING, f"@{wecom.bot_name} 这是什么?", [class_photo(286)]
                )
                wecom.wait_reply(posted.req_id, timeout_s=30)
                first_draft = min(f.at for f in wecom.replies(posted.req_id) if not f.finish)
                first_token = vlm.chat_requests[-1].chunk_times[0]
                gaps.append(first_draft - first_token)
        finally:
            bot.kill()
    return gaps
