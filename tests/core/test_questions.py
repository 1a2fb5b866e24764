"""Texts addressed to the bot: the usage hint, once per interval per chat, and where each kind
of neutral event goes."""

from __future__ import annotations

from dataclasses import replace

from bot.adapters.wechat.settings import WeChatConfig
from bot.adapters.wecom.settings import WeComConfig
from bot.core.events import Command, Event, Picture, Question
from bot.core.questions import Dispatch, QuestionDesk
from bot.core.settings import ReplyConfig
from tests.core.fakes import FakeClock, FakeOutbox, Post, picture


def question(
    chat_id: str = "wrGroupA", *, sender: str = "zhangsan", msg_id: str = "q1"
) -> Question:
    return Question(
        msg_id=msg_id,
        chat_id=chat_id,
        chat_name=chat_id,
        sender=sender,
        is_group=True,
        from_self=False,
        created_at=1_000.0,
        text="@bot 这是什么?",
        reply_to=f"callback-{msg_id}",
    )


ANSWERED: list[Picture] = []


def desk(audience: WeComConfig | WeChatConfig, clock: FakeClock) -> tuple[QuestionDesk, FakeOutbox]:
    outbox = FakeOutbox()
    reply = ReplyConfig(apology_interval_s=600.0)
    questions = QuestionDesk(
        audience=audience, reply=reply, outbox=outbox, pictures=ANSWERED.append, clock=clock
    )
    return questions, outbox


def test_a_question_in_a_served_wecom_chat_gets_one_hint_per_interval() -> None:
    clock = FakeClock()
    questions, outbox = desk(WeComConfig(chats=("wrGroupA",)), clock)

    questions.offer(question(msg_id="q1"))
    questions.offer(question(msg_id="q2"))
    clock.advance(600.0)
    questions.offer(question(msg_id="q3"))

    hint = "@zhangsan 发一张图片并 @我, 我来猜猜是什么。"
    assert outbox.posts == [Post("callback-q1", hint), Post("callback-q3", hint)]
    assert outbox.posts[0].lane == "wrGroupA"  # paced and fair like every reply


def test_a_question_in_a_chat_the_bot_does_not_serve_gets_nothing() -> None:
    questions, outbox = desk(WeComConfig(chats=("wrGroupA",)), FakeClock())
    questions.offer(question("wrElsewhere"))
    assert outbox.posts == []


def test_a_wechat_group_question_gets_no_hint_as_before() -> None:
    questions, outbox = desk(WeChatConfig(groups=("*",)), FakeClock())
    questions.offer(question("@@family"))
    assert outbox.posts == []


def test_each_kind_of_event_goes_to_its_own_desk() -> None:
    seen: list[tuple[str, Event]] = []
    route = Dispatch(
        pictures=lambda e: seen.append(("pictures", e)),
        questions=lambda e: seen.append(("questions", e)),
        commands=lambda e: seen.append(("commands", e)),
    )
    pic: Picture = picture("m1")
    asked, command = question(), Command("status")

    for event in (pic, asked, command):
        route(event)

    assert seen == [("pictures", pic), ("questions", asked), ("commands", command)]


def test_pictures_sent_with_a_question_nobody_answers_are_answered_as_pictures() -> None:
    ANSWERED.clear()
    questions, outbox = desk(WeComConfig(chats=("wrGroupA",)), FakeClock())
    pics = (picture("m1#1", chat_id="wrGroupA"), picture("m1#2", chat_id="wrGroupA"))
    questions.offer(replace(question("m1"), pictures=pics))

    assert list(pics) == ANSWERED  # classified, as a photo with an @ always was
    assert outbox.posts == []  # and no usage hint
