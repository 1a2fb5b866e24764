"""PictureService through its ports: screening, dedup, shedding, apologies, pause, audit lines.

Every port is an in-memory fake (tests/core/fakes.py). Tests wait for the workers by a
condition (``service.close`` returning True, an Event, or ``Bench.settle``), never a sleep.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest

from bot.adapters.wechat.settings import WeChatConfig
from bot.adapters.wecom.settings import WeComConfig
from bot.core.answers import Answer, AnswerSource
from bot.core.audience import Audience
from bot.core.detector import Detector
from bot.core.events import Picture
from bot.core.keeper import PhotoKeeper
from bot.core.live import LiveRecogniser, ModelSet
from bot.core.photos import PhotoMemory
from bot.core.pictures import PictureService
from bot.core.pipeline import LabelTable, Recogniser
from bot.core.settings import DEFAULT_APOLOGY, AskConfig, ReplyConfig
from bot.core.sharing import model_share
from bot.errors import DownloadFailed, ServingUnavailable
from tests.core.fakes import (
    WAIT_S,
    AuditRow,
    FakeAuditStore,
    FakeClock,
    FakeConnect,
    FakeEvents,
    FakeModel,
    FakeOutbox,
    FakeRecogniserSource,
    Post,
    fake_recogniser,
    picture,
)
from tests.core.test_detection import DOG_A, DOG_B, PERSON, detector

STARTED = 1_700_000_000.0
WHEN = datetime.fromtimestamp(STARTED).strftime("%Y-%m-%d %H:%M:%S")
OWNER = "filehelper"
FAMILY = "@@家庭群"
CAT_REPLY = "@小明\u2005让我猜猜,你发的这张图片有 90.0% 的概率是: 猫"
CAT_LINE = f"[{WHEN}] 家庭群 @小明: 一张图片 → 猫 90.0%"
DOWN = ServingUnavailable("TF Serving at http://127.0.0.1:8501 refused the connection")


@dataclass
class Bench:
    """A PictureService wired to fakes, and the fakes to look at."""

    service: PictureService
    outbox: FakeOutbox
    audit: FakeAuditStore
    events: FakeEvents
    clock: FakeClock
    pause: threading.Event
    _settled: int = 0

    def close(self) -> None:
        """Wait until every picture in hand is finished."""
        assert self.service.close(WAIT_S) is True

    def settle(self, chat_name: str = "家庭群") -> None:
        """Wait until the (single) worker has finished every picture offered so far: it takes
        pictures in order, so once it fetches this one, the earlier ones are done."""
        self._settled += 1
        reached = threading.Event()

        def fetch() -> bytes:
            reached.set()
            raise DownloadFailed("the settle picture is never downloaded")

        self.service.offer(picture(f"settle-{self._settled}", chat_name=chat_name, fetch=fetch))
        assert reached.wait(WAIT_S)


MakeBench = Callable[..., Bench]


@pytest.fixture
def make_bench() -> Iterator[MakeBench]:
    built: list[PictureService] = []

    def make(
        *,
        audience: Audience | None = None,
        reply: ReplyConfig | None = None,
        source: AnswerSource | None = None,
        outbox: FakeOutbox | None = None,
        owner_chat: str | None = OWNER,
        workers: int = 1,
        queue_size: int = 10,
        startup_grace_s: float = 60.0,
        clock: FakeClock | None = None,
        audit: FakeAuditStore | None = None,
        per_model_workers: int | None = None,
        keeper: PhotoKeeper | None = None,
    ) -> Bench:
        outbox = outbox or FakeOutbox()
        audit = audit or FakeAuditStore()
        events, pause = FakeEvents(), threading.Event()
        clock = clock or FakeClock(start=5_000.0)
        service = PictureService(
            reply=reply or ReplyConfig(),
            audience=audience or WeChatConfig(groups=("家庭群",)),
            workers=workers,
            per_model_workers=per_model_workers or workers,
            queue_size=queue_size,
            startup_grace_s=startup_grace_s,
            source=source or FakeRecogniserSource(),
            outbox=outbox,
            audit=audit,
            events=events,
            pause=pause,
            owner_chat=owner_chat,
            started_at=STARTED,
            clock=clock,
            keeper=keeper,
        )
        built.append(service)
        return Bench(service, outbox, audit, events, clock, pause)

    yield make
    for service in built:
        service.close(WAIT_S)


def ignored(reason: str, *, chat: str = "家庭群", sender: str = "小明") -> AuditRow:
    return AuditRow(chat, sender, "ignored", reason, outcomes=["ignored"])


def never_fetched() -> bytes:
    raise AssertionError("a screened-out picture must not be downloaded")


def failing_download() -> bytes:
    raise DownloadFailed("WeChat did not deliver the picture")


def offer_one(bench: Bench, pic: Picture) -> None:
    bench.service.offer(pic)
    bench.close()


# -- answered ---------------------------------------------------------------------------------
def test_picture_in_whitelisted_group_is_answered_and_audited_as_replied(
    make_bench: MakeBench,
) -> None:
    bench = make_bench()
    offer_one(bench, picture("m1", data=b"a cat"))

    assert bench.outbox.posts == [Post(FAMILY, CAT_REPLY), Post(OWNER, CAT_LINE)]
    row = bench.audit.rows["m1"]
    assert (row.outcome, row.reason, row.sent) == ("replied", "", True)
    assert (row.label, row.probability, row.model, row.version) == ("猫", 0.9, "resnet", "1")
    assert (row.size_bytes, row.sha256) == (5, hashlib.sha256(b"a cat").hexdigest())
    assert row.outcomes == ["pending", "pending", "replied"]  # classified, then sent
    assert bench.events.pictures == [("家庭群", "replied")]


def test_unsure_picture_gets_the_unsure_reply_and_a_low_confidence_row(
    make_bench: MakeBench,
) -> None:
    unsure = fake_recogniser(default=(0.15, 0.45, 0.4))
    bench = make_bench(
        source=FakeRecogniserSource({None: unsure}), reply=ReplyConfig(min_confidence=0.5)
    )
    offer_one(bench, picture("m1"))

    assert bench.outbox.texts_to(FAMILY) == [
        "@小明\u2005这张图片我不太有把握,可能是: 狗 45.0%, 鸟 40.0%, 猫 15.0%"
    ]
    row = bench.audit.rows["m1"]
    assert (row.outcome, row.reason, row.label) == (
        "low_confidence",
        "below [reply] min_confidence",
        "狗",
    )


# -- screening --------------------------------------------------------------------------------
def test_own_picture_in_whitelisted_group_gets_no_reply(make_bench: MakeBench) -> None:
    bench = make_bench()
    offer_one(bench, picture("m1", from_self=True, fetch=never_fetched))

    assert bench.outbox.posts == []
    assert bench.audit.rows == {"m1": ignored("sent by the bot's own account")}
    assert bench.events.pictures == [("家庭群", "ignored")]


def test_sticker_in_whitelisted_group_gets_no_reply(make_bench: MakeBench) -> None:
    bench = make_bench()
    offer_one(bench, picture("m1", is_sticker=True, fetch=never_fetched))

    assert bench.outbox.posts == []
    assert bench.audit.rows == {"m1": ignored('sticker ([wechat] stickers = "ignore")')}


def test_sticker_is_answered_when_stickers_are_classified(make_bench: MakeBench) -> None:
    bench = make_bench(audience=WeChatConfig(groups=("家庭群",), stickers="classify"))
    offer_one(bench, picture("m1", is_sticker=True))

    assert bench.outbox.posts == [Post(FAMILY, CAT_REPLY), Post(OWNER, CAT_LINE)]


def test_private_picture_gets_no_reply_by_default(make_bench: MakeBench) -> None:
    bench = make_bench()
    offer_one(bench, picture("m1", is_group=False, chat_name="小明", fetch=never_fetched))

    assert bench.outbox.posts == []
    assert bench.audit.rows == {
        "m1": ignored("private chat ([wechat] private_chats = false)", chat="小明")
    }


def test_private_picture_is_answered_when_private_chats_are_on(make_bench: MakeBench) -> None:
    bench = make_bench(audience=WeChatConfig(private_chats=True))
    offer_one(bench, picture("m1", is_group=False, chat_name="小明", chat_id="@friend"))

    assert bench.outbox.posts == [
        Post("@friend", CAT_REPLY),
        Post(OWNER, f"[{WHEN}] 私聊 @小明: 一张图片 → 猫 90.0%"),
    ]


def test_picture_in_group_not_in_the_whitelist_gets_no_reply(make_bench: MakeBench) -> None:
    bench = make_bench()
    offer_one(bench, picture("m1", chat_name="工作群", fetch=never_fetched))

    assert bench.outbox.posts == []
    assert bench.audit.rows == {"m1": ignored("group not in [wechat] groups", chat="工作群")}


@pytest.mark.parametrize(
    ("configured", "actual"),
    [
        ("家庭 群", "家庭  群"),  # runs of spaces
        ("家庭 群", "家庭\u3000群"),  # an ideographic space
        ("ABC群", "ＡＢＣ群"),  # fullwidth letters
        (" 家庭群 ", "家庭群"),  # spaces around
    ],
)
def test_group_names_match_as_people_see_them(
    make_bench: MakeBench, configured: str, actual: str
) -> None:
    bench = make_bench(audience=WeChatConfig(groups=(configured,)))
    offer_one(bench, picture("m1", chat_name=actual, chat_id="@@g"))

    assert bench.audit.rows["m1"].outcome == "replied"
    assert bench.outbox.texts_to("@@g") == [CAT_REPLY]


def test_star_answers_every_group(make_bench: MakeBench) -> None:
    bench = make_bench(audience=WeChatConfig(groups=("*",)))
    bench.service.offer(picture("m1", chat_name="工作群"))
    bench.service.offer(picture("m2", chat_name="随便什么群"))
    bench.close()

    assert bench.outbox.texts_to("@@工作群") == [CAT_REPLY]
    assert bench.outbox.texts_to("@@随便什么群") == [CAT_REPLY]


def test_star_still_leaves_private_chats_out(make_bench: MakeBench) -> None:
    bench = make_bench(audience=WeChatConfig(groups=("*",)))
    offer_one(bench, picture("m1", is_group=False, fetch=never_fetched))

    assert bench.audit.rows["m1"].reason == "private chat ([wechat] private_chats = false)"


def test_replayed_picture_older_than_the_startup_grace_gets_no_reply(
    make_bench: MakeBench,
) -> None:
    bench = make_bench(startup_grace_s=60.0)
    offer_one(bench, picture("m1", created_at=STARTED - 60.001, fetch=never_fetched))

    assert bench.outbox.posts == []
    assert bench.audit.rows == {"m1": ignored("sent before the bot started (replayed message)")}


def test_picture_sent_within_the_startup_grace_is_answered(make_bench: MakeBench) -> None:
    bench = make_bench(startup_grace_s=60.0)
    offer_one(bench, picture("m1", created_at=STARTED - 60.0))

    assert bench.outbox.texts_to(FAMILY) == [CAT_REPLY]


def test_wecom_chat_in_chats_is_answered_through_its_reply_to(make_bench: MakeBench) -> None:
    bench = make_bench(audience=WeComConfig(chats=("wrGroupA",)), owner_chat=None)
    offer_one(
        bench, picture("m1", chat_name="项目群", chat_id="wrGroupA", reply_to="callback-req-1")
    )

    assert bench.outbox.posts == [Post("callback-req-1", CAT_REPLY)]
    assert bench.outbox.posts[0].lane == "wrGroupA"  # takes turns as its chat, not the callback


def test_wecom_chat_not_in_chats_gets_no_reply(make_bench: MakeBench) -> None:
    bench = make_bench(audience=WeComConfig(chats=("wrGroupA",)))
    offer_one(bench, picture("m1", chat_name="项目群", chat_id="wrGroupB", fetch=never_fetched))

    assert bench.outbox.posts == []
    assert bench.audit.rows == {"m1": ignored("chat wrGroupB not in [wecom] chats", chat="项目群")}


def test_wecom_star_answers_every_chat(make_bench: MakeBench) -> None:
    bench = make_bench(audience=WeComConfig(chats=("*",)), owner_chat=None)
    offer_one(bench, picture("m1", chat_id="wrAnyone", is_group=False))

    assert bench.outbox.posts == [Post("wrAnyone", CAT_REPLY)]


# -- dedup ------------------------------------------------------------------------------------
def test_same_message_twice_gets_one_reply_and_one_row(make_bench: MakeBench) -> None:
    bench = make_bench()
    bench.service.offer(picture("m1"))
    bench.service.offer(picture("m1"))
    bench.close()

    assert bench.outbox.posts == [Post(FAMILY, CAT_REPLY), Post(OWNER, CAT_LINE)]
    assert list(bench.audit.rows) == ["m1"]
    assert bench.events.pictures == [("家庭群", "replied")]


def test_ignored_message_seen_twice_is_counted_once(make_bench: MakeBench) -> None:
    bench = make_bench()
    bench.service.offer(picture("m1", is_sticker=True, fetch=never_fetched))
    bench.service.offer(picture("m1", is_sticker=True, fetch=never_fetched))
    bench.close()

    assert bench.events.pictures == [("家庭群", "ignored")]


# -- shedding ---------------------------------------------------------------------------------
def test_picture_beyond_a_full_pool_is_shed_and_told_to_the_owner(make_bench: MakeBench) -> None:
    bench = make_bench(workers=1, queue_size=1)
    gate, entered = threading.Event(), threading.Event()

    def slow_fetch() -> bytes:
        entered.set()
        assert gate.wait(WAIT_S)
        return b"a cat"

    try:
        bench.service.offer(picture("m1", fetch=slow_fetch))  # at the worker
        assert entered.wait(WAIT_S)
        bench.service.offer(picture("m2"))  # waits in the queue
        bench.service.offer(picture("m3", sender="小红"))  # one too many
        shed_line = f"[{WHEN}] 家庭群 @小红: 一张图片 → 未处理 (忙)"
        assert bench.outbox.posts == [Post(OWNER, shed_line)]  # told at once, not afterwards
    finally:
        gate.set()
    bench.close()

    assert {k: (r.outcome, r.reason) for k, r in bench.audit.rows.items()} == {
        "m1": ("replied", ""),
        "m2": ("replied", ""),
        "m3": ("shed", "too many pictures at once"),
    }
    assert bench.outbox.texts_to(FAMILY) == [CAT_REPLY, CAT_REPLY]


def test_picture_offered_after_close_is_shed_as_shutting_down(make_bench: MakeBench) -> None:
    bench = make_bench()
    bench.close()
    bench.service.offer(picture("m1"))

    assert (bench.audit.rows["m1"].outcome, bench.audit.rows["m1"].reason) == (
        "shed",
        "the bot is shutting down",
    )
    assert bench.outbox.posts == [Post(OWNER, f"[{WHEN}] 家庭群 @小明: 一张图片 → 未处理 (忙)")]


# -- apologies --------------------------------------------------------------------------------
def test_serving_down_apologises_once_per_interval_in_each_chat(make_bench: MakeBench) -> None:
    groups = ("家庭群", "A群", "B群")
    bench = make_bench(
        audience=WeChatConfig(groups=groups),
        reply=ReplyConfig(apology_interval_s=600.0),
        source=FakeRecogniserSource(unreachable=DOWN),
        owner_chat=None,
    )
    bench.service.offer(picture("a1", chat_name="A群"))
    bench.settle()
    assert bench.outbox.texts_to("@@A群") == [DEFAULT_APOLOGY]  # the first failure apologises

    bench.clock.advance(599.0)
    bench.service.offer(picture("a2", chat_name="A群"))
    bench.service.offer(picture("b1", chat_name="B群"))
    bench.settle()
    assert bench.outbox.texts_to("@@A群") == [DEFAULT_APOLOGY]  # within the interval: quiet
    assert bench.outbox.texts_to("@@B群") == [DEFAULT_APOLOGY]  # another chat: its own interval

    bench.clock.advance(1.0)
    bench.service.offer(picture("a3", chat_name="A群"))
    bench.close()
    assert bench.outbox.texts_to("@@A群") == [DEFAULT_APOLOGY, DEFAULT_APOLOGY]

    row = bench.audit.rows["a1"]
    assert (row.outcome, row.reason) == ("failed", str(DOWN))
    assert len(bench.events.serving_failures) == 4


def test_apology_interval_zero_never_apologises(make_bench: MakeBench) -> None:
    bench = make_bench(
        reply=ReplyConfig(apology_interval_s=0.0),
        source=FakeRecogniserSource(unreachable=DOWN),
        owner_chat=None,
    )
    bench.service.offer(picture("m1"))
    bench.clock.advance(10_000.0)
    bench.service.offer(picture("m2"))
    bench.close()

    assert bench.outbox.posts == []
    assert [r.outcome for r in bench.audit.rows.values()] == ["failed", "failed"]


def test_serving_down_is_told_to_the_owner(make_bench: MakeBench) -> None:
    bench = make_bench(source=FakeRecogniserSource(unreachable=DOWN))
    offer_one(bench, picture("m1"))

    assert bench.outbox.posts == [
        Post(OWNER, f"[{WHEN}] 家庭群 @小明: 一张图片 → 失败 (识图服务不可用)"),
        Post(FAMILY, DEFAULT_APOLOGY),
    ]


def test_unreadable_picture_fails_without_an_apology(make_bench: MakeBench) -> None:
    source = FakeRecogniserSource({None: fake_recogniser(unreadable=frozenset({b"junk"}))})
    bench = make_bench(source=source)
    offer_one(bench, picture("m1", data=b"junk"))

    assert bench.outbox.posts == [
        Post(OWNER, f"[{WHEN}] 家庭群 @小明: 一张图片 → 失败 (图片无法读取)")
    ]
    row = bench.audit.rows["m1"]
    assert (row.outcome, row.reason, row.size_bytes) == ("failed", "不是图片", 4)
    assert bench.events.serving_failures == []


# -- pause ------------------------------------------------------------------------------------
def test_paused_pictures_are_ignored_with_the_reason_and_resume_answers_again(
    make_bench: MakeBench,
) -> None:
    bench = make_bench()
    bench.pause.set()
    bench.service.offer(picture("m1", fetch=never_fetched))
    bench.pause.clear()
    bench.service.offer(picture("m2"))
    bench.close()

    assert bench.audit.rows["m1"] == ignored("paused by the owner (send resume)")
    assert bench.audit.rows["m2"].outcome == "replied"
    assert bench.outbox.texts_to(FAMILY) == [CAT_REPLY]


def test_pause_keeps_the_screening_reason_of_pictures_not_for_the_bot(
    make_bench: MakeBench,
) -> None:
    bench = make_bench()
    bench.pause.set()
    offer_one(bench, picture("m1", chat_name="工作群", fetch=never_fetched))

    assert bench.audit.rows["m1"].reason == "group not in [wechat] groups"


# -- the owner's lines ------------------------------------------------------------------------
def test_no_owner_chat_means_no_audit_lines(make_bench: MakeBench) -> None:
    bench = make_bench(owner_chat=None)
    bench.service.offer(picture("m1"))
    bench.service.offer(picture("m2", fetch=failing_download))  # fails: still no line
    bench.close()

    assert bench.outbox.posts == [Post(FAMILY, CAT_REPLY)]
    assert [r.outcome for r in bench.audit.rows.values()] == ["replied", "failed"]


def test_control_characters_in_names_are_neutralised_in_the_owner_line(
    make_bench: MakeBench,
) -> None:
    bench = make_bench(audience=WeChatConfig(groups=("*",)))
    forged = "小明\n[2023-11-15 06:13:20] 老板群 @老板: 一张图片 → 狗 99.0%"
    offer_one(bench, picture("m1", chat_name="家庭群\u202e\x1b[31m", sender=forged))

    assert bench.outbox.texts_to(OWNER) == [
        f"[{WHEN}] 家庭群\ufffd\ufffd[31m @小明\ufffd[2023-11-15 06:13:20] 老板群 @老板: "
        "一张图片 → 狗 99.0%: 一张图片 → 猫 90.0%"
    ]


# -- failures ---------------------------------------------------------------------------------
def test_an_audit_log_that_fails_every_write_does_not_end_the_worker(
    make_bench: MakeBench,
) -> None:
    """One worker: before the worker edge, the first failing write ended it and every later
    picture stayed unanswered."""
    audit = FakeAuditStore(failing=sqlite3.OperationalError("database or disk is full"))
    bench = make_bench(audit=audit, workers=1)

    for n in range(3):
        bench.service.offer(picture(f"m{n}", data=b"a cat"))
    assert bench.outbox.wait_until(lambda: len(bench.outbox.texts_to(OWNER)) == 3)

    assert bench.outbox.texts_to(FAMILY) == [CAT_REPLY] * 3
    assert len(bench.outbox.texts_to(OWNER)) == 3  # the owner's lines still go out
    assert bench.events.pictures == [("家庭群", "replied")] * 3


def test_reply_that_could_not_be_sent_is_audited_failed(make_bench: MakeBench) -> None:
    bench = make_bench(outbox=FakeOutbox(delivered=False))
    offer_one(bench, picture("m1"))

    row = bench.audit.rows["m1"]
    assert (row.outcome, row.reason, row.label) == (
        "failed",
        "the reply could not be sent: the fake chat refused it",
        "猫",
    )
    assert bench.outbox.texts_to(OWNER) == [
        f"[{WHEN}] 家庭群 @小明: 一张图片 → 猫 90.0% (回复发送失败)"
    ]


def test_reply_refused_by_a_full_send_queue_is_audited_failed(make_bench: MakeBench) -> None:
    bench = make_bench(outbox=FakeOutbox(accepting=False))
    offer_one(bench, picture("m1"))

    row = bench.audit.rows["m1"]
    assert (row.outcome, row.reason) == (
        "failed",
        "the reply could not be sent: the send queue is full or closing",
    )
    assert bench.events.pictures == [("家庭群", "failed")]


def test_download_failure_is_audited_with_its_message(make_bench: MakeBench) -> None:
    def fetch() -> bytes:
        raise DownloadFailed("WeChat did not deliver picture m1 (ConnectionError)")

    bench = make_bench()
    offer_one(bench, picture("m1", fetch=fetch))

    row = bench.audit.rows["m1"]
    assert (row.outcome, row.reason) == (
        "failed",
        "download failed: WeChat did not deliver picture m1 (ConnectionError)",
    )
    assert bench.outbox.posts == [Post(OWNER, f"[{WHEN}] 家庭群 @小明: 一张图片 → 失败 (下载失败)")]


def test_unexpected_error_in_one_picture_does_not_stop_the_next(make_bench: MakeBench) -> None:
    def broken_fetch() -> bytes:
        raise RuntimeError("a bug in the adapter")

    bench = make_bench(workers=1)
    bench.service.offer(picture("m1", fetch=broken_fetch))
    bench.service.offer(picture("m2"))
    bench.close()

    assert (bench.audit.rows["m1"].outcome, bench.audit.rows["m1"].reason) == (
        "failed",
        "internal error: RuntimeError",
    )
    assert bench.audit.rows["m2"].outcome == "replied"
    assert bench.outbox.posts == [
        Post(OWNER, f"[{WHEN}] 家庭群 @小明: 一张图片 → 失败 (内部错误)"),
        Post(FAMILY, CAT_REPLY),
        Post(OWNER, CAT_LINE),
    ]


# -- models -----------------------------------------------------------------------------------
DOG_LABELS = LabelTable(("柯基", "柴犬", "哈士奇"), "dogs.csv", "name")


def test_group_model_routes_the_picture_to_its_named_model(make_bench: MakeBench) -> None:
    source = FakeRecogniserSource(
        {None: fake_recogniser(), "dogs": fake_recogniser(model="dogs", labels=DOG_LABELS)}
    )
    audience = WeChatConfig(groups=("家庭群", "狗狗 群"), group_models={"狗狗 群": "dogs"})
    bench = make_bench(audience=audience, source=source, workers=1)
    bench.service.offer(picture("m1", chat_name="狗狗  群", chat_id="@@dogs"))
    bench.service.offer(picture("m2"))
    bench.close()

    assert source.asked == ["dogs", None]
    assert bench.outbox.texts_to("@@dogs") == [
        "@小明\u2005让我猜猜,你发的这张图片有 90.0% 的概率是: 柯基"
    ]
    assert (bench.audit.rows["m1"].model, bench.audit.rows["m2"].model) == ("dogs", "resnet")
    # The [models.NAME] key as well as the server's name: "" is the default [serving].
    assert (bench.audit.rows["m1"].model_key, bench.audit.rows["m2"].model_key) == ("dogs", "")


def test_group_model_reaches_the_named_model_of_a_model_set(make_bench: MakeBench) -> None:
    clock = FakeClock()
    default = FakeConnect(FakeModel(fake_recogniser()))
    dogs = FakeConnect(FakeModel(fake_recogniser(model="dogs", labels=DOG_LABELS)))
    models = ModelSet(
        LiveRecogniser(default, retry_s=30.0, clock=clock),
        {"dogs": LiveRecogniser(dogs, retry_s=30.0, clock=clock)},
    )
    audience = WeChatConfig(groups=("家庭群", "狗狗群"), group_models={"狗狗群": "dogs"})
    bench = make_bench(audience=audience, source=models, owner_chat=None)
    offer_one(bench, picture("m1", chat_name="狗狗群"))

    assert bench.outbox.posts == [
        Post("@@狗狗群", "@小明\u2005让我猜猜,你发的这张图片有 90.0% 的概率是: 柯基")
    ]
    assert (dogs.calls, default.calls) == (1, 0)


def test_wecom_chat_model_routes_by_chat_id(make_bench: MakeBench) -> None:
    source = FakeRecogniserSource(
        {None: fake_recogniser(), "dogs": fake_recogniser(model="dogs", labels=DOG_LABELS)}
    )
    audience = WeComConfig(chats=("*",), chat_models={"wrDogs": "dogs"})
    bench = make_bench(audience=audience, source=source, owner_chat=None)
    bench.service.offer(picture("m1", chat_id="wrDogs"))
    bench.service.offer(picture("m2", chat_id="wrOther"))
    bench.close()

    assert source.asked == ["dogs", None]
    assert bench.outbox.texts_to("wrDogs") == [
        "@小明\u2005让我猜猜,你发的这张图片有 90.0% 的概率是: 柯基"
    ]


def test_group_routed_to_a_model_not_loaded_fails_naming_the_model(
    make_bench: MakeBench,
) -> None:
    """A guard behind the config check (routes name a [models.NAME]) and reload's refusal of
    [models] changes: should a route ever reach a model the bot did not load, the row says so."""
    default = LiveRecogniser(
        FakeConnect(FakeModel(fake_recogniser())), retry_s=30.0, clock=FakeClock()
    )
    bench = make_bench(
        source=ModelSet(default, {}),
        audience=WeChatConfig(groups=("家庭群",), group_models={"家庭群": "cats"}),
    )
    offer_one(bench, picture("m1"))

    row = bench.audit.rows["m1"]
    assert row.outcome == "failed"
    assert "cats" in row.reason and "restart" in row.reason  # not "internal error: KeyError"


class HeldAnswerer:
    """An ``Answerer`` whose every answer waits until ``release`` is set (a dripping server)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def answer(self, data: bytes, *, sender: str, rules: ReplyConfig) -> Answer:
        self.entered.release()
        assert self.release.wait(WAIT_S)
        return fake_recogniser().answer(data, sender=sender, rules=rules)


class TwoModels:
    """The ``AnswerSource`` port: the default model hangs, ``dogs`` answers at once."""

    def __init__(self) -> None:
        self.held = HeldAnswerer()

    def get(self, model: str | None) -> HeldAnswerer | Recogniser:
        return fake_recogniser(model="dogs") if model == "dogs" else self.held


def test_a_hung_model_leaves_a_worker_to_the_chats_of_another_model(
    make_bench: MakeBench,
) -> None:
    source = TwoModels()
    audience = WeChatConfig(groups=("家庭群", "狗狗群"), group_models={"狗狗群": "dogs"})
    bench = make_bench(
        audience=audience, source=source, workers=2, per_model_workers=model_share(2, 2)
    )

    for n in range(3):  # the hung model's pictures come first
        bench.service.offer(picture(f"m{n}"))
    assert source.held.entered.acquire(timeout=WAIT_S)
    bench.service.offer(picture("d1", chat_name="狗狗群"))

    assert bench.outbox.wait_until(lambda: len(bench.outbox.texts_to("@@狗狗群")) == 1)
    assert not source.held.entered.acquire(timeout=0.2)  # still one worker on the hung model
    source.held.release.set()
    bench.close()
    assert len(bench.outbox.texts_to(FAMILY)) == 3  # the waiting ones were taken up again


def test_one_model_may_use_every_worker() -> None:
    assert [model_share(4, 1), model_share(4, 2), model_share(1, 3)] == [4, 3, 1]


def asking_keeper(**ask: object) -> PhotoKeeper:
    settings = AskConfig(url="http://127.0.0.1:9/v1", model="vl", **ask)  # type: ignore[arg-type]
    memory = PhotoMemory(remember_s=600.0, max_per_chat=5, max_bytes=10**6, clock=lambda: 1e10)
    return PhotoKeeper(settings=settings, memory=memory, shrink=lambda data, side: data[:side])


def test_a_photo_in_a_quiet_chat_is_remembered_and_audited_but_not_answered(
    make_bench: MakeBench,
) -> None:
    keeper = asking_keeper(quiet_chats=("家庭群",))
    source = FakeRecogniserSource()
    bench = make_bench(keeper=keeper, source=source)
    offer_one(bench, picture("m1", data=b"a cat", created_at=1e10))

    assert bench.outbox.texts_to(FAMILY) == []
    when = f"{datetime.fromtimestamp(1e10):%Y-%m-%d %H:%M:%S}"
    assert bench.outbox.texts_to(OWNER) == [
        f"[{when}] 家庭群 @小明: 一张图片 → 已记住 (只回答提问)"
    ]
    assert bench.audit.rows["m1"].outcome == "quiet"
    assert source.asked == []  # no model is asked about a quiet chat's photo
    found = keeper.memory.find(chat_id=FAMILY, sender_id="", quotes="m1")
    assert found is not None and found.jpeg == b"a cat"


def test_a_photo_where_asking_is_on_is_answered_and_remembered_with_its_label(
    make_bench: MakeBench,
) -> None:
    keeper = asking_keeper()
    bench = make_bench(keeper=keeper)
    offer_one(bench, picture("m1", data=b"a cat", created_at=1e10))

    assert bench.outbox.texts_to(FAMILY) == [CAT_REPLY]
    found = keeper.memory.find(chat_id=FAMILY, sender_id="", quotes="m1")
    assert found is not None and found.label == "猫"


# -- a detector's answer ----------------------------------------------------------------------
class _DetectorSource:
    """The ``AnswerSource`` port over one detector (``tests.core.test_detection``'s)."""

    def __init__(self) -> None:
        self.detector, _ = detector((DOG_A, DOG_B, PERSON))

    def get(self, model: str | None) -> Detector:
        return self.detector


def test_a_detector_answer_sends_the_counts_then_the_drawn_picture_and_audits_the_counts(
    make_bench: MakeBench,
) -> None:
    bench = make_bench(source=_DetectorSource())
    offer_one(bench, picture("m1", data=b"three squares"))

    counts = "@小明\u2005图里有: 2 只狗 (97%, 91%)、1 个人 (88%)"
    posts = [p for p in bench.outbox.posts if p.chat_id == FAMILY]
    assert [p.text for p in posts] == [counts, "<picture>"]
    assert posts[1].picture == b"drawn"
    row = bench.audit.rows["m1"]
    assert (row.outcome, row.kind, row.label, row.probability) == ("replied", "detect", "狗", 0.97)
    assert (row.detail, row.counts) == ("狗×2, 人×1", (("狗", 2), ("人", 1)))
    assert bench.events.found == [("狗", 2), ("人", 1)]
    owner = bench.outbox.texts_to(OWNER)
    assert owner == [f"[{WHEN}] 家庭群 @小明: 一张图片 → 2 只狗 (97%, 91%)、1 个人 (88%)"]
