"""Photo memory (bounds, eviction, which photo a question means), the limits on asking, and the
model's answer made safe for a chat."""

from __future__ import annotations

import pytest

from bot.core.asking import AskLimits, cut, sanitise_answer
from bot.core.photos import Photo, PhotoMemory
from tests.core.fakes import FakeClock

JPEG = b"\xff\xd8" + b"x" * 998  # 1,000 bytes


def photo(msg_id: str, chat: str = "g1", sender: str = "u1", at: float = 1_000.0) -> Photo:
    return Photo(chat, (msg_id, f"new-{msg_id}"), sender, at, JPEG)


def memory(clock: FakeClock, *, per_chat: int = 5, max_bytes: int = 10_000) -> PhotoMemory:
    return PhotoMemory(remember_s=600.0, max_per_chat=per_chat, max_bytes=max_bytes, clock=clock)


def test_a_question_means_the_askers_own_latest_photo_in_that_chat() -> None:
    clock = FakeClock(1_000.0)
    kept = memory(clock)
    for p in (photo("a", sender="u1"), photo("b", sender="u2"), photo("c", chat="g2")):
        kept.remember(p)

    found = kept.find(chat_id="g1", sender_id="u1", quotes=None)
    assert found is not None and found.msg_ids[0] == "a"  # not u2's newer one


def test_without_a_photo_of_their_own_the_chats_latest_is_meant() -> None:
    kept = memory(FakeClock(1_000.0))
    kept.remember(photo("a", sender="u1"))
    kept.remember(photo("b", sender="u2"))

    found = kept.find(chat_id="g1", sender_id="u3", quotes=None)
    assert found is not None and found.msg_ids[0] == "b"
    assert kept.find(chat_id="g9", sender_id="u1", quotes=None) is None


def test_a_quote_means_the_quoted_photo_even_when_newer_ones_came() -> None:
    kept = memory(FakeClock(1_000.0))
    for msg_id in ("old", "newer", "newest"):
        kept.remember(photo(msg_id))

    found = kept.find(chat_id="g1", sender_id="u1", quotes="new-old")  # WeChat's svrid
    assert found is not None and found.msg_ids[0] == "old"


def test_photos_are_forgotten_after_remember_s() -> None:
    clock = FakeClock(1_000.0)
    kept = memory(clock)
    kept.remember(photo("a", at=1_000.0))
    clock.advance(599.0)
    assert kept.find(chat_id="g1", sender_id="u1", quotes=None) is not None
    clock.advance(2.0)
    assert kept.find(chat_id="g1", sender_id="u1", quotes=None) is None
    assert kept.usage() == (0, 0)


def test_memory_is_bounded_per_chat_and_in_bytes_oldest_first() -> None:
    kept = memory(FakeClock(1_000.0), per_chat=3, max_bytes=4_000)
    for n in range(5):
        kept.remember(photo(f"g1-{n}", chat="g1"))
    assert kept.usage() == (3, 3_000)
    kept.remember(photo("g2-0", chat="g2"))
    kept.remember(photo("g2-1", chat="g2"))

    assert kept.usage() == (4, 4_000)
    kept_ids = [
        found.msg_ids[0]
        for q in ("g1-1", "g1-2", "g1-3", "g1-4")
        if (found := kept.find(chat_id="g1", sender_id="", quotes=q)) is not None
        and found.msg_ids[0] == q
    ]
    assert kept_ids == ["g1-3", "g1-4"]  # g1-2 went for the byte bound, g1-1 for the count


def test_the_same_photo_remembered_again_replaces_the_first() -> None:
    kept = memory(FakeClock(1_000.0))
    kept.remember(photo("a"))
    kept.remember(Photo("g1", ("a", "new-a"), "u1", 1_000.0, JPEG, label="柯基"))

    assert kept.usage() == (1, 1_000)
    found = kept.find(chat_id="g1", sender_id="u1", quotes=None)
    assert found is not None and found.label == "柯基"


def test_limits_count_a_person_across_chats_and_each_chat() -> None:
    clock = FakeClock(1_000.0)
    limits = AskLimits(sender_per_minute=2, sender_per_day=3, chat_per_minute=10, clock=clock)

    assert limits.admit(sender="u1", chat="g1") is None
    assert limits.admit(sender="u1", chat="g2") is None
    assert limits.admit(sender="u1", chat="g3") == "over 2 questions a minute for this sender"
    assert limits.admit(sender="u2", chat="g1") is None
    clock.advance(60.0)
    assert limits.admit(sender="u1", chat="g1") is None
    clock.advance(60.0)
    assert limits.admit(sender="u1", chat="g1") == "over 3 questions a day for this sender"


def test_a_busy_chat_is_limited_whoever_asks() -> None:
    limits = AskLimits(sender_per_minute=5, sender_per_day=50, chat_per_minute=2, clock=FakeClock())
    assert [limits.admit(sender=f"u{n}", chat="g1") for n in range(3)] == [
        None,
        None,
        "over 2 questions a minute for this chat",
    ]


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("这是一只\u202e柯基\x1b[31m。", "这是一只柯基[31m。"),
        ("@所有人 快来看", "＠所有人 快来看"),
        ("好的 @小明\u2005你好", "好的 ＠小明 你好"),
        ("乱码\ufffd\ufffd没了\u200b", "乱码没了"),
        ("  多余的   空白\n\n\n\n第二段 ", "多余的 空白\n\n第二段"),
    ],
)
def test_an_answer_loses_control_characters_bidi_and_mentions(raw: str, expected: str) -> None:
    assert sanitise_answer(raw, max_chars=200) == expected


def test_a_long_answer_is_cut_at_a_sentence_end() -> None:
    text = "第一句话说完了。第二句话也说完了。第三句话很长很长很长很长很长很长"
    assert cut(text, 20) == "第一句话说完了。第二句话也说完了。…"
    assert cut("没有句号的一段很长很长很长很长很长的话", 10) == "没有句号的一段很长…"
    assert cut("短", 10) == "短"
