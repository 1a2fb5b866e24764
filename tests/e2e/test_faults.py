"""Faults users meet, end to end: the real bot process, the real itchat, a Web WeChat
simulator and a TF Serving stand-in on 127.0.0.1. Nothing may be lost: every picture ends
with an audit row, and no chat ever sees a URL, a path or exception text."""

from __future__ import annotations

import itertools
import json
import re
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests import gallery
from tests.botproc import (
    BotProcess,
    audit_rows,
    class_photo,
    rss_mib,
    wait_for_rows,
    write_bot_config,
)
from tests.conftest import free_port
from tests.fakes.tfserving import FakeTFServing
from tests.fakes.wechat_sim import SentMessage, WeChatSimulator

LAB = "故障实验室"
MEMBERS = [f"m{i:02d}" for i in range(40)]
UNSAFE = re.compile(r"https?://|/tmp|\.py\b|Traceback|Error|Exception|[A-Za-z0-9+/]{80,}")
Start = Callable[..., BotProcess]


@pytest.fixture
def sim() -> Iterator[WeChatSimulator]:
    with WeChatSimulator(auto_scan_after_s=0.05, synccheck_hold_s=0.5) as s:
        s.add_group(LAB, MEMBERS)
        yield s


@pytest.fixture
def start(sim: WeChatSimulator, tfs: FakeTFServing, tmp_path: Path) -> Iterator[Start]:
    procs: list[BotProcess] = []

    def start_bot(
        *,
        login: bool = True,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        wechat: str = "",
        **kw: str,
    ) -> BotProcess:
        cfg = write_bot_config(
            tmp_path,
            wechat_url=sim.url,
            serving_url=kw.pop("serving_url", tfs.url),
            groups=f'["{LAB}"]',
            wechat=wechat,
            **kw,
        )
        bot = BotProcess(cfg, args=args, env=env)
        procs.append(bot)
        if login:
            bot.wait_logged_in()
        return bot

    yield start_bot
    for bot in procs:
        bot.kill()


def assert_chat_safe(sent: list[SentMessage]) -> None:
    for m in sent:
        assert not UNSAFE.search(m.content), f"unsafe text sent to {m.to_nickname}: {m.content!r}"


def final_row(db: Path, sender: str, timeout_s: float = 15.0) -> dict[str, object]:
    rows = wait_for_rows(
        db, lambda r: any(x["sender"] == sender and x["outcome"] != "pending" for x in r), timeout_s
    )
    return next(x for x in rows if x["sender"] == sender)


def test_serving_error_answers_each_give_a_failed_row_and_the_bot_goes_on(
    sim: WeChatSimulator, tfs: FakeTFServing, start: Start, tmp_path: Path
) -> None:
    start(wechat="filehelper_audit = false")
    db = tmp_path / "audit.sqlite3"
    probs = [0.0] * 1001
    cases: list[tuple[Callable[[], None], str]] = [
        (lambda: tfs.fail_next(400, json.dumps({"error": "Unable to base64 decode"})), "400"),
        (lambda: tfs.fail_next(404, json.dumps({"error": "Servable not found"})), "404"),
        (lambda: tfs.fail_next(429, json.dumps({"error": "busy"}), count=2), "HTTP 429"),
        (lambda: tfs.fail_next(500, "<html>boom</html>", content_type="text/html"), "500"),
        (lambda: tfs.fail_next(503, json.dumps({"error": "loading"}), count=2), "HTTP 503"),
        (
            lambda: tfs.fail_next(504, "gateway timeout", content_type="text/plain", count=2),
            "HTTP 504",
        ),
        (lambda: setattr(tfs, "override_predict_json", b"not json at all"), "not JSON"),
        (
            lambda: setattr(tfs, "override_predict_json", {"predictions": [{"classes": 3}]}),
            "without a probability vector",
        ),
        (
            lambda: setattr(
                tfs, "override_predict_json", {"predictions": [{"probabilities": [0.5]}]}
            ),
            "answered 1 probabilities",
        ),
        (
            lambda: setattr(
                tfs,
                "override_predict_json",
                {"predictions": [{"probabilities": [float("nan")] * 1001}]},
            ),
            "not a probability",
        ),
        (
            lambda: setattr(
                tfs,
                "override_predict_json",
                {"predictions": [{"probabilities": [-1.0, *probs[1:]]}]},
            ),
            "not a probability",
        ),
        (
            lambda: setattr(
                tfs, "override_predict_json", {"predictions": [{"probabilities": [*probs, 1.0]}]}
            ),
            "answered 1002 probabilities",
        ),
    ]
    for i, (fault, reason) in enumerate(cases):
        fault()
        sender = MEMBERS[i]
        sim.post_picture(LAB, sender, class_photo(10 + i))
        row = final_row(db, sender)
        tfs.override_predict_json = None
        assert (row["outcome"], reason in str(row["reason"])) == ("failed", True), row
    sim.post_picture(LAB, "m39", class_photo(3))
    assert final_row(db, "m39")["outcome"] == "replied"
    group_msgs = [m.content for m in sim.sent if m.to_nickname == LAB]
    assert group_msgs.count("抱歉,识图服务暂时不可用,请稍后再试。") == 1
    assert_chat_safe(sim.sent)


def test_serving_slower_than_the_timeout_fails_the_picture_not_the_bot(
    sim: WeChatSimulator, tfs: FakeTFServing, start: Start, tmp_path: Path
) -> None:
    start(serving="timeout_s = 1")
    tfs.delay_s = 3.0
    sim.post_picture(LAB, "m00", class_photo(5))
    row = final_row(tmp_path / "audit.sqlite3", "m00", timeout_s=30)
    assert row["outcome"] == "failed" and "did not answer within" in str(row["reason"])
    tfs.delay_s = 0
    sim.post_picture(LAB, "m01", class_photo(6))
    assert final_row(tmp_path / "audit.sqlite3", "m01")["outcome"] == "replied"


def test_serving_going_down_and_coming_back_mid_run(
    sim: WeChatSimulator, tfs: FakeTFServing, start: Start, tmp_path: Path
) -> None:
    bot = start()
    db = tmp_path / "audit.sqlite3"
    sim.post_picture(LAB, "m00", class_photo(5))
    assert final_row(db, "m00")["outcome"] == "replied"
    tfs.stop()
    sim.post_picture(LAB, "m01", class_photo(6))
    row = final_row(db, "m01")
    assert row["outcome"] == "failed" and "unavailable" in str(row["reason"])
    tfs.start()
    sim.post_picture(LAB, "m02", class_photo(7))
    assert final_row(db, "m02")["outcome"] == "replied"
    assert bot.proc.poll() is None
    assert_chat_safe(sim.sent)


def test_bad_downloads_are_failed_rows_with_a_reason(
    sim: WeChatSimulator, start: Start, tmp_path: Path
) -> None:
    start()
    db = tmp_path / "audit.sqlite3"
    sim.image_status = 404
    sim.post_picture(LAB, "m00", class_photo(5))
    assert "web page" in str(final_row(db, "m00")["reason"])
    sim.image_status = 200
    sim.image_body_override = b"<html><body>error</body></html>"
    sim.post_picture(LAB, "m01", class_photo(5))
    assert "web page" in str(final_row(db, "m01")["reason"])
    sim.image_body_override = b""
    sim.post_picture(LAB, "m02", class_photo(5))
    assert "empty" in str(final_row(db, "m02")["reason"])
    sim.image_body_override = None
    sim.post_picture(LAB, "m03", class_photo(5))
    assert final_row(db, "m03")["outcome"] == "replied"
    assert_chat_safe(sim.sent)


BAD_AND_AWKWARD: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("zero bytes", lambda: b"", "failed", "empty"),
    ("truncated jpeg", lambda: gallery.photo_jpeg(800, 600)[:5000], "failed", "damaged"),
    ("random bytes", lambda: bytes(range(256)) * 40, "failed", "not a picture"),
    ("text named .png", lambda: b"just some text, named cat.png\n" * 10, "failed", "not a picture"),
    ("decompression bomb", gallery.bomb_png, "failed", "too many pixels"),
    ("100-frame gif", lambda: gallery.animated_gif(frames=100), "replied", ""),
    ("16-bit png", gallery.sixteen_bit_png, "replied", ""),
    (
        "cmyk jpeg",
        lambda: gallery.jpeg(Image.new("CMYK", (400, 300), (0, 200, 200, 0))),
        "replied",
        "",
    ),
    (
        "exif orientation",
        lambda: gallery.with_orientation(Image.fromarray(gallery.photo_pixels(640, 480)), 6),
        "replied",
        "",
    ),
    (
        "webp",
        lambda: gallery.encode(Image.fromarray(gallery.photo_pixels(640, 480)), "WEBP"),
        "replied",
        "",
    ),
]


def test_bad_and_awkward_pictures_each_get_a_defined_outcome_in_bounded_time(
    sim: WeChatSimulator, start: Start, tmp_path: Path
) -> None:
    bot = start(wechat="filehelper_audit = false")
    db = tmp_path / "audit.sqlite3"
    for i, (name, make, outcome, reason) in enumerate(BAD_AND_AWKWARD):
        began = time.monotonic()
        sim.post_picture(LAB, MEMBERS[i], make())
        row = final_row(db, MEMBERS[i], timeout_s=10)
        assert (name, row["outcome"]) == (name, outcome), row
        assert reason in str(row["reason"]), (name, row)
        assert time.monotonic() - began < 10
    sim.post_picture(LAB, "m39", class_photo(9))
    assert final_row(db, "m39")["outcome"] == "replied"
    assert rss_mib(bot.proc.pid) < 400
    assert_chat_safe(sim.sent)


def test_dropped_sync_connections_and_refused_sends_lose_nothing(
    sim: WeChatSimulator, start: Start, tmp_path: Path
) -> None:
    start(wechat="filehelper_audit = false")
    db = tmp_path / "audit.sqlite3"
    sim.drop_connections(3)
    sim.post_picture(LAB, "m00", class_photo(5))
    assert final_row(db, "m00")["outcome"] == "replied"
    sim.send_ret, sim.send_fail_count = 1205, 100
    sim.post_picture(LAB, "m01", class_photo(6))
    row = final_row(db, "m01")
    assert (row["outcome"], row["reason"]) == (
        "failed",
        f"the reply could not be sent: WeChat refused the message (Ret {sim.send_ret})",
    )
    assert len([m for m in sim.sent if m.to_nickname == LAB and not m.ok]) == 3  # 1 + 2 retries


@pytest.mark.parametrize(
    "retcode,words", [(1101, "ended this session (1101)"), (1102, "kicked this account")]
)
def test_server_logout_with_pictures_in_flight_exits_cleanly_and_audits_every_picture(
    sim: WeChatSimulator,
    tfs: FakeTFServing,
    start: Start,
    tmp_path: Path,
    retcode: int,
    words: str,
) -> None:
    tfs.delay_s = 1.0
    bot = start()
    for i in range(4):
        sim.post_picture(LAB, MEMBERS[i], class_photo(20 + i))
    wait_for_rows(tmp_path / "audit.sqlite3", lambda r: len(r) == 4)
    sim.logout(retcode)
    assert bot.wait(30) == 2
    assert words in bot.stderr and "Traceback" not in bot.stderr
    rows = audit_rows(tmp_path / "audit.sqlite3")
    assert len(rows) == 4
    assert all(r["outcome"] in ("replied", "failed") for r in rows), rows


def test_burst_of_200_pictures_in_10_groups_is_all_audited_paced_and_bounded(
    tfs: FakeTFServing, tmp_path: Path
) -> None:
    groups = [f"群{i}" for i in range(10)]
    with WeChatSimulator(auto_scan_after_s=0.05, synccheck_hold_s=0.5) as sim:
        for g in groups:
            sim.add_group(g, MEMBERS[:20])
        tfs.delay_s = 0.01
        cfg = write_bot_config(
            tmp_path,
            wechat_url=sim.url,
            serving_url=tfs.url,
            groups=json.dumps(groups, ensure_ascii=False),
            wechat="min_send_interval_s = 0.02\nqueue_size = 16",
        )
        bot = BotProcess(cfg)
        try:
            bot.wait_logged_in()
            photo = class_photo(42, (640, 480))
            for i in range(200):
                sim.post_picture(groups[i % 10], MEMBERS[i // 10], photo)
            rows = wait_for_rows(
                tmp_path / "audit.sqlite3",
                lambda r: len(r) == 200 and all(x["outcome"] != "pending" for x in r),
                timeout_s=90,
            )
            outcomes = {str(r["outcome"]) for r in rows}
            assert outcomes <= {"replied", "shed"}, outcomes
            assert rss_mib(bot.proc.pid) < 400
            times = sorted(m.time for m in sim.sent)
            assert min(b - a for a, b in itertools.pairwise(times)) >= 0.019
            assert bot.stop() == 0
        finally:
            bot.kill()


def test_kill_9_mid_burst_then_restart_answers_nothing_twice_and_keeps_the_log_intact(
    sim: WeChatSimulator, tfs: FakeTFServing, start: Start, tmp_path: Path
) -> None:
    tfs.delay_s = 0.1
    first = start(wechat="filehelper_audit = false")
    sender_of = {
        sim.post_picture(LAB, MEMBERS[i], class_photo(100 + i)): MEMBERS[i] for i in range(30)
    }
    sim.wait_for_sent(lambda m: m.to_nickname == LAB, count=5, timeout_s=60)
    first.proc.send_signal(signal.SIGKILL)
    first.wait()
    second = start(wechat="filehelper_audit = false")
    second_ready_at = time.monotonic()
    assert "Scan this QR code" not in second.stdout
    db = tmp_path / "audit.sqlite3"
    wait_for_rows(
        db, lambda r: len(r) == 30 and all(x["outcome"] != "pending" for x in r), timeout_s=90
    )
    second.stop_drained()  # everything the bot was going to send has been sent
    rows = {str(r["msg_id"]): r for r in audit_rows(db)}
    assert {m: str(r["sender"]) for m, r in rows.items()} == sender_of  # one row per MsgId

    replies = [m for m in sim.sent if m.to_nickname == LAB]
    assert all(m.ok for m in replies), replies
    replies_to = {
        sender: [m for m in replies if m.content.startswith(f"@{sender}\u2005")]
        for sender in sender_of.values()
    }
    assert sum(len(r) for r in replies_to.values()) == len(replies)  # each reply is to someone
    assert {s: len(r) for s, r in replies_to.items() if len(r) > 1} == {}  # nobody answered twice

    # Per MsgId, the final row says what the chat saw. The one exception: a reply sent in the
    # instant before the kill, whose row was not yet written: at most one picture (replies go
    # out one at a time), and its reply came from the first run.
    sent_unrecorded: list[str] = []
    interrupted = 0
    for msg_id, row in rows.items():
        sender = sender_of[msg_id]
        reply = replies_to[sender]
        if row["outcome"] in ("replied", "low_confidence"):
            assert len(reply) == 1, (row, reply)
            assert row["sent_at"] is not None, row
            assert str(row["label"]) in reply[0].content, (row, reply)
        else:
            assert row["outcome"] == "failed", row
            assert str(row["reason"]).startswith("interrupted"), row
            interrupted += 1
            if reply:
                sent_unrecorded.append(sender)
                assert reply[0].time < second_ready_at, (row, reply)
    assert len(sent_unrecorded) <= 1, sent_unrecorded
    assert interrupted >= 1, "the kill came after the burst: nothing was in flight"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_files_and_folders_that_cannot_be_used_give_one_line_and_exit_2(
    sim: WeChatSimulator, start: Start, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    bot = start(login=False, wechat='state_dir = "a-file/state"')
    assert bot.wait() == 2
    assert "cannot create the state folder" in bot.stderr
    cfg = tmp_path / "config.toml"
    text = cfg.read_text().replace('state_dir = "a-file/state"', 'state_dir = "state"')
    cfg.write_text(text.replace('path = "audit.sqlite3"', 'path = "a-file/a.db"'))
    bot = BotProcess(cfg)
    assert bot.wait() == 2
    assert "cannot open the audit log" in bot.stderr.strip().splitlines()[-1]
    broken = tmp_path / "labels.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a spreadsheet")
    cfg.write_text(
        re.sub(r'file = ".*?"', f'file = "{broken.as_posix()}"', cfg.read_text(), count=1)
    )
    bot = BotProcess(cfg)
    assert bot.wait() == 2
    assert "cannot read the label table" in bot.stderr
    cfg.write_text(cfg.read_text().replace(broken.as_posix(), "missing.xlsx"))
    bot = BotProcess(cfg)
    assert bot.wait() == 2
    assert "[labels] file = " in bot.stderr and "no such file" in bot.stderr
    assert "Traceback" not in bot.stderr


def test_session_file_owned_by_another_user_is_refused(start: Start, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    session = state / "itchat.pkl"
    session.write_bytes(b"pickle")
    session.chmod(0o600)
    try:
        import os

        os.chown(session, 65534, 65534)
    except PermissionError:
        pytest.skip("needs root to give the file to another user")
    bot = start(login=False)
    assert bot.wait() == 2
    assert "belongs to another user" in bot.stderr


def test_credentials_images_and_paths_never_leak_into_logs_rows_or_chats(
    sim: WeChatSimulator, tfs: FakeTFServing, start: Start, tmp_path: Path
) -> None:
    secret = "tok-S3CRET-value-42"
    bot = start(args=("-v",), env={"WECHAT_VISION_BOT_TOKEN": secret})
    db = tmp_path / "audit.sqlite3"
    sim.post_picture(LAB, "m00", class_photo(5))
    assert final_row(db, "m00")["outcome"] == "replied"
    assert tfs.requests[-1].headers.get("authorization") == f"Bearer {secret}"
    tfs.fail_next(401, json.dumps({"error": "bad token"}))
    sim.post_picture(LAB, "m01", class_photo(6))
    assert final_row(db, "m01")["outcome"] == "failed"
    assert bot.stop() == 0
    logs = bot.stdout + bot.stderr
    assert secret not in logs
    assert not re.search(r"[A-Za-z0-9+/]{120,}", logs), "image bytes or base64 in the logs"
    assert secret not in json.dumps(audit_rows(db), ensure_ascii=False)
    assert_chat_safe(sim.sent)
    # No picture was written to disk, and no server-supplied name was used as a path.
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["itchat.pkl"]
    assert {p.name for p in tmp_path.iterdir()} <= {
        "config.toml",
        "state",
        "audit.sqlite3",
        "audit.sqlite3-wal",
        "audit.sqlite3-shm",
    } | {p.name for p in tmp_path.glob("bot-*")}


def test_check_never_prints_the_serving_token(
    tfs: FakeTFServing,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.cli import main

    monkeypatch.setenv("WECHAT_VISION_BOT_TOKEN", "tok-never-shown")
    cfg = write_bot_config(tmp_path, wechat_url="http://127.0.0.1:9", serving_url=tfs.url)
    assert main(["--config", str(cfg), "-v", "check"]) == 0
    tfs.fail_next(401, json.dumps({"error": "no"}), scope="v1")
    assert main(["--config", str(cfg), "check"]) == 2
    captured = capsys.readouterr()
    assert "tok-never-shown" not in captured.out + captured.err
    assert tfs.requests[0].headers.get("authorization") == "Bearer tok-never-shown"


def test_unreachable_serving_url_in_check_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    url = f"http://127.0.0.1:{free_port()}"
    cfg = write_bot_config(tmp_path, wechat_url="http://127.0.0.1:9", serving_url=url)
    assert main(["--config", str(cfg), "check"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
