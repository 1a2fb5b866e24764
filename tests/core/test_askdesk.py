"""Questions about photos, through the core's ports with in-memory fakes: which photo, the
answer @ the asker, hints, limits, failure words, quiet chats and the audit rows."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from bot.adapters.wechat.settings import WeChatConfig
from bot.core.askdesk import AskDesk, QuestionRow
from bot.core.asking import Asked, AskLimits
from bot.core.events import Question
from bot.core.keeper import PhotoKeeper
from bot.core.photos import PhotoMemory
from bot.core.settings import AskConfig, ReplyConfig
from bot.errors import AskRefused, AskUnavailable, BotError
from tests.core.fakes import WAIT_S, FakeClock, FakeOutbox, picture

FAMILY = "@@家庭群"
ASK = AskConfig(url="http://127.0.0.1:9/v1", model="qwen-vl")


@dataclass
class FakeAsker:
    """The ``Asker`` port: answers ``answer`` or raises ``error``; records every question."""

    answer: str = "这是一只柯基。"
    error: BotError | None = None
    asked: list[tuple[bytes, str, str | None]] = field(default_factory=list)

    def ask(
        self,
        *,
        photo: bytes,
        question: str,
        hint: str | None,
        on_text: Callable[[str], None] | None = None,
    ) -> Asked:
        self.asked.append((photo, question, hint))
        if self.error is not None:
            raise self.error
        return Asked(self.answer, "qwen-vl", 12.0, prompt_tokens=300, completion_tokens=9)


class FakeQuestionLog:
    """``QuestionLog`` and ``QuestionEvents`` at once: every row, waited on."""

    def __init__(self) -> None:
        self.rows: list[QuestionRow] = []
        self.events: list[str] = []
        self._cond = threading.Condition()

    def question(self, row: QuestionRow) -> None:
        with self._cond:
            self.rows.append(row)
            self._cond.notify_all()

    def wait_rows(self, n: int) -> list[QuestionRow]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.rows) >= n, WAIT_S), self.rows
            return list(self.rows)


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, float | None]] = []

    def question(self, outcome: str, latency_ms: float | None) -> None:
        self.seen.append((outcome, latency_ms))


@dataclass
class Desk:
    desk: AskDesk
    keeper: PhotoKeeper
    asker: FakeAsker
    outbox: FakeOutbox
    log: FakeQuestionLog
    clock: FakeClock
    otherwise: list[Question]


def make_desk(ask: AskConfig = ASK, *, asker: FakeAsker | None = None) -> Desk:
    clock = FakeClock(1_700_000_000.0)
    keeper = PhotoKeeper(
        settings=ask,
        memory=PhotoMemory(remember_s=600.0, max_per_chat=5, max_bytes=10**6, clock=clock),
        shrink=lambda data, side: b"small:" + data,
    )
    asker = asker or FakeAsker()
    outbox, log = FakeOutbox(), FakeQuestionLog()
    others: list[Question] = []
    desk = AskDesk(
        keeper=keeper,
        asker=asker,
        audience=WeChatConfig(groups=("家庭群",)),
        reply=ReplyConfig(apology_interval_s=600.0),
        limits=AskLimits(sender_per_minute=2, sender_per_day=50, chat_per_minute=20, clock=clock),
        outbox=outbox,
        log_to=log,
        events=Events(),
        otherwise=others.append,
        owner_chat="filehelper",
        drafts=None,
        clock=clock,
    )
    return Desk(desk, keeper, asker, outbox, log, clock, others)


def question(msg_id: str = "q1", *, sender: str = "小明", quotes: str | None = None) -> Question:
    return Question(
        msg_id=msg_id,
        chat_id=FAMILY,
        chat_name="家庭群",
        sender=sender,
        is_group=True,
        from_self=False,
        created_at=1_700_000_000.0,
        text="这是什么品种?",
        quotes=quotes,
        sender_id=f"@{sender}",
    )


def seen_photo(d: Desk, msg_id: str, *, sender: str = "小明", label: str | None = "狗") -> None:
    pic = picture(msg_id, sender=sender, created_at=1_700_000_000.0)
    pic = replace(pic, sender_id=f"@{sender}")
    d.keeper.remember(pic, b"jpeg of " + msg_id.encode(), label)


def test_a_question_after_a_photo_is_answered_at_the_asker_with_the_model_words() -> None:
    d = make_desk()
    seen_photo(d, "p1")
    d.desk.offer(question())

    [row] = d.log.wait_rows(1)
    assert d.outbox.texts_to(FAMILY) == ["@小明\u2005这是一只柯基。"]
    assert d.asker.asked == [(b"jpeg of p1", "这是什么品种?", "狗")]
    assert (row.outcome, row.photo, row.model, row.prompt_tokens) == (
        "answered",
        "p1",
        "qwen-vl",
        300,
    )
    assert (row.question, row.answer) == (None, None)  # text kept only with keep_text
    assert d.outbox.wait_until(lambda: len(d.outbox.texts_to("filehelper")) == 1)
    assert d.outbox.texts_to("filehelper")[0].endswith(
        "家庭群 @小明: 提问 「这是什么品种?」 → 这是一只柯基。"
    )


def test_a_quote_asks_about_the_quoted_photo_not_the_newest() -> None:
    d = make_desk()
    seen_photo(d, "old")
    seen_photo(d, "new")
    d.desk.offer(question(quotes="old"))

    d.log.wait_rows(1)
    assert d.asker.asked[0][0] == b"jpeg of old"


def test_a_question_with_no_photo_gets_one_hint_per_interval_and_calls_no_model() -> None:
    d = make_desk()
    d.desk.offer(question("q1"))
    d.desk.offer(question("q2"))

    rows = d.log.wait_rows(2)
    assert [r.outcome for r in rows] == ["hint", "hint"]
    assert d.outbox.texts_to(FAMILY) == ["@小明 先发一张图片, 再 @我 提问 (或引用那张图片提问)。"]
    assert d.asker.asked == []


def test_over_the_limit_a_person_is_told_once_to_ask_later() -> None:
    d = make_desk()
    seen_photo(d, "p1")
    for n in range(4):
        d.desk.offer(question(f"q{n}"))

    rows = d.log.wait_rows(4)
    assert sorted(r.outcome for r in rows) == ["answered", "answered", "limited", "limited"]
    assert d.outbox.wait_until(lambda: len(d.outbox.texts_to(FAMILY)) == 3)
    assert d.outbox.texts_to(FAMILY).count("@小明 提问太频繁了, 请稍后再问。") == 1


def test_a_model_that_cannot_be_reached_gets_one_apology_and_a_failed_row() -> None:
    down = AskUnavailable("the [ask] model 'qwen-vl' at http://127.0.0.1:9/v1 cannot be reached")
    d = make_desk(asker=FakeAsker(error=down))
    seen_photo(d, "p1")
    d.desk.offer(question("q1"))
    d.desk.offer(question("q2"))

    rows = d.log.wait_rows(2)
    assert [r.outcome for r in rows] == ["failed", "failed"]
    assert d.outbox.texts_to(FAMILY) == ["@小明 抱歉, 问答服务暂时不可用, 请稍后再试。"]
    assert "http" not in d.outbox.texts_to(FAMILY)[0]


def test_a_refused_key_is_logged_naming_the_variable(caplog: pytest.LogCaptureFixture) -> None:
    refused = AskRefused(
        "key", "refused the key (HTTP 401); put a valid key in WECHAT_VISION_BOT_ASK_KEY"
    )
    d = make_desk(asker=FakeAsker(error=refused))
    seen_photo(d, "p1")
    with caplog.at_level(logging.ERROR):
        d.desk.offer(question())
        d.log.wait_rows(1)

    assert any("WECHAT_VISION_BOT_ASK_KEY" in r.getMessage() for r in caplog.records)


def test_where_asking_is_off_a_question_goes_to_the_usage_hint() -> None:
    d = make_desk(AskConfig(url="http://127.0.0.1:9/v1", model="m", chats=("别的群",)))
    d.desk.offer(question())

    assert [q.msg_id for q in d.otherwise] == ["q1"]
    assert d.log.rows == []


def test_the_answer_is_sanitised_and_cut() -> None:
    d = make_desk(asker=FakeAsker(answer="@所有人 这是\u202e柯基。" + "很" * 400))
    seen_photo(d, "p1")
    d.desk.offer(question())

    d.log.wait_rows(1)
    [text] = d.outbox.texts_to(FAMILY)
    assert text.startswith("@小明\u2005＠所有人 这是柯基。")
    assert "\u202e" not in text and len(text) <= len("@小明\u2005") + ASK.max_answer_chars
