"""`wechat-vision-bot run` end to end: the real itchat-uos against a Web WeChat simulator and
a TF Serving stand-in, all on 127.0.0.1."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.botproc import (
    FAMILY,
    OTHER,
    WORK,
    BotProcess,
    audit_rows,
    class_photo,
    wait_for_rows,
    wait_until,
    write_bot_config,
)
from tests.conftest import free_port
from tests.fakes.tfserving import FakeTFServing, ModelSpec, default_classify
from tests.fakes.wechat_sim import SentMessage, WeChatSimulator

MENTION = "\u2005"
Start = Callable[..., BotProcess]


@pytest.fixture
def sim() -> Iterator[WeChatSimulator]:
    with WeChatSimulator(auto_scan_after_s=0.05, synccheck_hold_s=0.5) as s:
        s.add_group(FAMILY, ["小明", "小红"])
        s.add_group(WORK, ["老王", "小李"])
        s.add_group(OTHER, ["路人"])
        s.add_friend("小明")
        yield s


@pytest.fixture
def start(sim: WeChatSimulator, tfs: FakeTFServing, tmp_path: Path) -> Iterator[Start]:
    procs: list[BotProcess] = []

    def start_bot(
        *, login: bool = True, serving_url: str | None = None, **config: str
    ) -> BotProcess:
        cfg = write_bot_config(
            tmp_path, wechat_url=sim.url, serving_url=serving_url or tfs.url, **config
        )
        bot = BotProcess(cfg)
        procs.append(bot)
        if login:
            bot.wait_logged_in()
        return bot

    yield start_bot
    for bot in procs:
        bot.kill()


def to(nickname: str) -> Callable[[SentMessage], bool]:
    return lambda m: m.to_nickname == nickname


def test_picture_in_whitelisted_group_gets_mention_reply_filehelper_line_and_audit_row(
    sim: WeChatSimulator, start: Start, tmp_path: Path
) -> None:
    bot = start()
    assert "Scan this QR code" in bot.stdout
    assert b"\r" not in bot.out_path.read_bytes()  # itchat writes "█\r" at import: kept out
    assert f"group '{FAMILY}': found" in bot.stdout
    msg_id = sim.post_picture(FAMILY, "小明", class_photo(286))
    [reply] = sim.wait_for_sent(to(FAMILY))
    assert reply.content == f"@小明{MENTION}让我猜猜,你发的这张图片有 90.0% 的概率是: Egyptian cat"
    [line] = sim.wait_for_sent(to("filehelper"))
    assert line.content.endswith(f"] {FAMILY} @小明: 一张图片 → Egyptian cat 90.0%")
    rows = wait_for_rows(tmp_path / "audit.sqlite3", lambda r: r and r[0]["outcome"] == "replied")
    row = rows[0]
    assert (row["msg_id"], row["chat"], row["sender"], row["label"]) == (
        msg_id,
        FAMILY,
        "小明",
        "Egyptian cat",
    )
    assert row["probability"] == pytest.approx(0.9)
    assert (row["model"], row["version"]) == ("resnet", "1")
    assert len(str(row["sha256"])) == 64 and int(str(row["size_bytes"])) > 10_000
    assert float(str(row["latency_ms"])) > 0
    assert bot.stop() == 0


def test_picture_in_another_group_gets_nothing_and_an_ignored_row(
    sim: WeChatSimulator, start: Start, tmp_path: Path
) -> None:
    bot = start()
    sim.post_picture(OTHER, "路人", class_photo(10))
    sim.post_picture(FAMILY, "小红", class_photo(20))
    sim.wait_for_sent(to(FAMILY))
    rows = wait_for_rows(tmp_path / "audit.sqlite3", lambda r: len(r) == 2)
    ignored = [r for r in rows if r["chat"] == OTHER]
    assert [(r["outcome"], r["reason"]) for r in ignored] == [
        ("ignored", "group not in [wechat] groups")
    ]
    bot.stop_drained()  # everything the bot was going to send has been sent
    assert not [m for m in sim.sent if m.to_nickname == OTHER]


def test_sticker_in_whitelisted_group_gets_no_reply(
    sim: WeChatSimulator, start: Start, tmp_path: Path
) -> None:
    bot = start()
    gif = class_photo(30)
    sim.post_picture(FAMILY, "小明", gif, msg_type=47)
    rows = wait_for_rows(tmp_path / "audit.sqlite3", lambda r: len(r) == 1)
    assert rows[0]["outcome"] == "ignored" and "sticker" in str(rows[0]["reason"])
    bot.stop_drained()  # everything the bot was going to send has been sent
    assert not [m for m in sim.sent if m.to_nickname == FAMILY]


def test_pictures_sent_from_the_bots_own_phone_and_private_chats_are_ignored(
    sim: WeChatSimulator, start: Start, tmp_path: Path
) -> None:
    start()
    sim.post_picture(FAMILY, sim.me, class_photo(40))
    sim.post_picture(None, "小明", class_photo(41))
    rows = wait_for_rows(tmp_path / "audit.sqlite3", lambda r: len(r) == 2)
    assert sorted(str(r["reason"]) for r in rows) == [
        "private chat ([wechat] private_chats = false)",
        "sent by the bot's own account",
    ]


def test_the_same_message_delivered_twice_gets_one_reply(
    sim: WeChatSimulator, start: Start, tmp_path: Path
) -> None:
    bot = start()
    msg_id = sim.post_picture(FAMILY, "小明", class_photo(50))
    sim.wait_for_sent(to(FAMILY))
    sim.redeliver(msg_id)
    sim.post_picture(FAMILY, "小红", class_photo(51))
    sim.wait_for_sent(to(FAMILY), count=2, timeout_s=30)
    # The redelivered copy reached the bot before 小红's picture did; after a clean stop
    # everything the bot was going to send has been sent.
    bot.stop_drained()
    replies = [m.content for m in sim.sent if m.to_nickname == FAMILY]
    assert len(replies) == 2
    assert sorted(c.split(MENTION)[0] for c in replies) == ["@小明", "@小红"]
    assert len(audit_rows(tmp_path / "audit.sqlite3")) == 2


def test_slow_classification_in_one_group_does_not_delay_another_groups_reply(
    sim: WeChatSimulator, start: Start, tfs: FakeTFServing
) -> None:
    slow_class = 77
    slow_started, release_slow = threading.Event(), threading.Event()

    def classify(image: Image.Image) -> int:
        found = default_classify(image, 1001)
        if found == slow_class:
            slow_started.set()
            release_slow.wait(60)  # held until the other group has had its answer
        return found

    tfs.set_model(ModelSpec(classify=classify))
    start()
    try:
        sim.post_picture(FAMILY, "小明", class_photo(slow_class))
        wait_until(slow_started.is_set, 30, what="the slow picture being classified")
        posted = time.monotonic()
        sim.post_picture(WORK, "老王", class_photo(78))
        [fast] = sim.wait_for_sent(to(WORK), timeout_s=30)
        assert fast.time - posted < 3.0
        assert not [m for m in sim.sent if m.to_nickname == FAMILY]
    finally:
        release_slow.set()
    [slow] = sim.wait_for_sent(to(FAMILY), timeout_s=30)
    assert slow.content.startswith(f"@小明{MENTION}")


def test_serving_down_gives_failed_rows_one_apology_and_recovers_when_back(
    sim: WeChatSimulator, start: Start, tmp_path: Path
) -> None:
    port = free_port()
    # A 1 s probe: the bot asks TF Serving again by itself (at most every 5 s) once it is back.
    bot = start(serving_url=f"http://127.0.0.1:{port}", extra="[status]\nprobe_interval_s = 1\n")
    assert "warning: TF Serving at" in bot.stdout
    sim.post_picture(FAMILY, "小明", class_photo(5))
    sim.post_picture(FAMILY, "小红", class_photo(6))
    db = tmp_path / "audit.sqlite3"
    rows = wait_for_rows(db, lambda r: len(r) == 2 and all(x["outcome"] == "failed" for x in r))
    assert all("unavailable" in str(r["reason"]) for r in rows)
    apologies = sim.wait_for_sent(to(FAMILY))
    apology = "抱歉,识图服务暂时不可用,请稍后再试。"
    assert [m.content for m in apologies] == [apology]
    assert "http" not in apologies[0].content
    with FakeTFServing(ModelSpec(), port=port) as back:
        # The bot's own probe reconnects; a picture after that waits for it, never fails.
        wait_until(lambda: back.requests, 60, what="the bot asking TF Serving again")
        sim.post_picture(FAMILY, "小明", class_photo(7))
        replies = sim.wait_for_sent(
            lambda m: m.to_nickname == FAMILY and "概率" in m.content, timeout_s=30
        )
        assert replies[0].content.endswith("的概率是: stingray")
        assert bot.proc.poll() is None
        bot.stop_drained()  # everything the bot was going to send has been sent
    # One apology for the two failed pictures, then the answer: nothing else.
    assert [m.content for m in sim.sent if m.to_nickname == FAMILY] == [
        apology,
        replies[0].content,
    ]
    assert [r["outcome"] for r in audit_rows(db)] == ["failed", "failed", "replied"]


def test_server_side_logout_ends_the_bot_with_one_plain_line(
    sim: WeChatSimulator, start: Start
) -> None:
    bot = start()
    sim.logout(1102)
    code = bot.wait()
    assert code == 2
    assert "kicked this account off web WeChat (1102)" in bot.stderr
    assert "Traceback" not in bot.stderr + bot.stdout


def test_restart_with_hot_reload_needs_no_qr_and_replays_nothing(
    sim: WeChatSimulator, start: Start, tmp_path: Path
) -> None:
    first = start()
    sim.post_picture(FAMILY, "小明", class_photo(60))
    sim.wait_for_sent(to(FAMILY))
    sim.wait_for_sent(to("filehelper"))
    assert first.stop(signal.SIGTERM) == 0
    assert "Stopped." in first.stdout
    session = tmp_path / "state" / "itchat.pkl"
    assert oct(session.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "state").stat().st_mode & 0o777) == "0o700"
    sim.post_picture(FAMILY, "小红", class_photo(61))  # arrives while the bot is down
    second = start()
    assert "Scan this QR code" not in second.stdout
    sim.wait_for_sent(to(FAMILY), count=2, timeout_s=30)
    # A replayed copy of 小明's picture would reach the bot before 小红's; after a clean stop
    # everything the bot was going to send has been sent.
    second.stop_drained(signal.SIGINT)
    replies = [m.content for m in sim.sent if m.to_nickname == FAMILY]
    assert len(replies) == 2
    assert [c.split(MENTION)[0] for c in replies] == ["@小明", "@小红"]


def test_refused_login_exits_2_with_one_plain_line(sim: WeChatSimulator, start: Start) -> None:
    sim.login_ret = 1203
    bot = start(login=False)
    assert bot.wait() == 2
    assert "WeChat refused the web login for this account" in bot.stderr
    assert "Traceback" not in bot.stderr


def test_unreachable_wechat_exits_non_zero_with_one_line(
    tmp_path: Path, tfs: FakeTFServing
) -> None:
    cfg = write_bot_config(
        tmp_path, wechat_url=f"http://127.0.0.1:{free_port()}", serving_url=tfs.url
    )
    bot = BotProcess(cfg)
    assert bot.wait() == 2
    lines = bot.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach WeChat at http://127.0.0.1:" in lines[0]


def test_session_file_that_others_can_write_is_refused(
    sim: WeChatSimulator, start: Start, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "itchat.pkl").write_bytes(b"not a pickle")
    os.chmod(state / "itchat.pkl", 0o666)
    bot = start(login=False)
    assert bot.wait() == 2
    assert "can be written by other users" in bot.stderr
    assert sim.count_requests("/jslogin") == 0


def test_state_folder_that_others_can_write_is_refused(start: Start, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    os.chmod(state, 0o777)
    bot = start(login=False)
    assert bot.wait() == 2
    assert "chmod 700" in bot.stderr


def test_replies_and_filehelper_lines_are_paced(sim: WeChatSimulator, start: Start) -> None:
    start(wechat="min_send_interval_s = 0.4")
    for i in range(3):
        sim.post_picture(FAMILY, "小明", class_photo(100 + i))
    sent = sim.wait_for_sent(lambda m: True, count=6, timeout_s=20)
    times = sorted(m.time for m in sent)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.39


def test_a_full_queue_sheds_pictures_into_the_audit_log(
    sim: WeChatSimulator, start: Start, tfs: FakeTFServing, tmp_path: Path
) -> None:
    tfs.delay_s = 2.0
    start(wechat="workers = 1\nqueue_size = 0")
    sim.post_picture(FAMILY, "小明", class_photo(1))
    # 小明's picture holds the only worker (TF Serving answers after 2 s) when 小红's arrives.
    wait_until(lambda: tfs.predict_requests, 30, what="小明's picture reaching TF Serving")
    sim.post_picture(FAMILY, "小红", class_photo(2))
    rows = wait_for_rows(
        tmp_path / "audit.sqlite3",
        lambda r: sorted(str(x["outcome"]) for x in r) == ["replied", "shed"],
    )
    assert [r["sender"] for r in rows if r["outcome"] == "shed"] == ["小红"]


def test_a_send_refused_by_wechat_is_retried(sim: WeChatSimulator, start: Start) -> None:
    start(wechat="filehelper_audit = false")
    sim.send_ret = 1205
    sim.send_fail_count = 1
    sim.post_picture(FAMILY, "小明", class_photo(3))
    attempts = sim.wait_for_sent(to(FAMILY), count=2)
    assert [m.ok for m in attempts] == [False, True]
    assert attempts[0].content == attempts[1].content


def test_a_classified_picture_is_in_the_audit_log_while_its_reply_waits_for_pacing(
    sim: WeChatSimulator, start: Start, tmp_path: Path
) -> None:
    # The first reply goes at once; the second must wait its turn. With 3 s, a loaded machine
    # could classify the second picture after those 3 s had passed, so it never waited and
    # the test failed: a minute is longer than any such delay (the bot is killed after).
    start(wechat="min_send_interval_s = 60\nfilehelper_audit = false")
    for sender in ("小明", "小红"):
        sim.post_picture(FAMILY, sender, class_photo(286))
    rows = wait_for_rows(
        tmp_path / "audit.sqlite3",
        lambda r: len(r) == 2 and any(x["outcome"] == "pending" and x["label"] for x in r),
    )
    waiting = next(r for r in rows if r["outcome"] == "pending")
    assert (waiting["label"], waiting["sent_at"]) == ("Egyptian cat", None)
    assert "waiting for its turn" in str(waiting["reason"])


def test_a_model_that_does_not_fit_the_label_table_stops_the_bot_before_login(
    sim: WeChatSimulator, tfs: FakeTFServing, start: Start
) -> None:
    tfs.set_model(ModelSpec(num_classes=120, outputs="single"))
    bot = start(login=False)
    assert bot.wait() == 2
    assert "answers 120 classes but the label table has 1000 names" in bot.stderr
    assert sim.count_requests("/jslogin") == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_while_waiting_for_the_qr_scan_exits_0_saying_stopped(
    sim: WeChatSimulator, start: Start, sig: int
) -> None:
    sim.auto_scan_after_s = None  # nobody scans
    bot = start(login=False)
    wait_until(lambda: "Scan this QR code" in bot.stdout, what="the QR code")

    assert bot.stop(sig) == 0
    assert bot.stdout.rstrip().splitlines()[-1] == "Stopped."
    assert "Traceback" not in bot.stderr and "interrupted" not in bot.stderr


def test_an_error_is_the_last_line_not_stopped(sim: WeChatSimulator, start: Start) -> None:
    sim.login_ret = 1203
    bot = start(login=False)
    assert bot.wait() == 2
    assert "Stopped." not in bot.stdout  # nothing contradicts the error below it
