"""`wechat-vision-bot run` with ``[chat] transport = "wecom"`` end to end: the real bot process
and the real, unmodified WeCom SDK against the WeCom long-connection stand-in (wss on
127.0.0.1 with a CA made for the test, trusted through ``[wecom] ca_file``) and the TF Serving
stand-in. The tests wait on conditions (frames, audit rows, output), never on fixed sleeps."""

from __future__ import annotations

import configparser
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
import requests

from tests.botproc import BotProcess, class_photo, wait_for_rows, write_bot_config
from tests.conftest import REPO, free_port
from tests.fakes.tfserving import FakeTFServing
from tests.fakes.wecom import Fault, WeComStandIn

BOT_ID, SECRET_ENV = "aibVisionTest01", "WECHAT_VISION_BOT_WECOM_SECRET"
# Every 4 characters of the Secret hold a "~", which nothing else the bot prints holds: any
# fragment of it in the output is a leak (a real Secret is 43 base64 characters).
SECRET = "Sk~9vQ~2mW~7xR~4tZ~8pL~3nB~6hJ~5cD"
OWNER, XIAOMING, STRANGER = "boss", "xiaoming", "lurker"
CAT = "Egyptian cat"  # class 286 of the stand-in model, answered at 90.0%
Start = Callable[..., BotProcess]


@pytest.fixture
def wecom() -> Iterator[WeComStandIn]:
    with WeComStandIn(bot_id=BOT_ID, secret=SECRET) as standin:
        yield standin


def wecom_config(
    tmp_path: Path,
    standin: WeComStandIn,
    serving_url: str,
    *,
    chats: str = '["*"]',
    ca_file: Path | None = None,
    wecom: str = "",
    reply: str = "",
    status_port: int | None = None,
    extra: str = "",
) -> Path:
    cfg = write_bot_config(
        tmp_path,
        wechat_url="http://127.0.0.1:9",
        serving_url=serving_url,
        reply=reply,
        chat='transport = "wecom"',
    )
    ca = standin.ca_file if ca_file is None else ca_file
    text = (
        f'[wecom]\nbot_id = "{BOT_ID}"\n'
        f'ws_url = "{standin.ws_url}"\nca_file = "{ca}"\nchats = {chats}\nowner = "{OWNER}"\n'
        f"{wecom}\n"
    )
    if status_port is not None:
        text += f'[status]\nlisten = "127.0.0.1:{status_port}"\n'
    text += extra
    cfg.write_text(cfg.read_text(encoding="utf-8") + text, encoding="utf-8")
    return cfg


@pytest.fixture
def start(wecom: WeComStandIn, tfs: FakeTFServing, tmp_path: Path) -> Iterator[Start]:
    procs: list[BotProcess] = []

    def start_bot(
        *,
        ready: bool = True,
        secret: str = SECRET,
        serving_url: str | None = None,
        args: tuple[str, ...] = (),
        **config: str,
    ) -> BotProcess:
        cfg = wecom_config(tmp_path, wecom, serving_url or tfs.url, **config)  # type: ignore[arg-type]
        bot = BotProcess(cfg, args=args, env={SECRET_ENV: secret})
        procs.append(bot)
        if ready:
            bot.wait_logged_in()
            wecom.wait_subscribed(timeout_s=10)
        return bot

    yield start_bot
    for bot in procs:
        bot.kill()


def content(reply: object) -> str:
    return str(reply.stream["content"])  # type: ignore[attr-defined]


def wait_for_log(bot: BotProcess, text: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in bot.stderr:
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{bot.stderr}"
        assert bot.proc.poll() is None, f"bot exited {bot.proc.returncode}:\n{bot.stderr}"
        time.sleep(0.05)


def stop_drained(bot: BotProcess) -> None:
    """SIGTERM: the bot finishes what it holds and sends what is queued, then nothing more can
    reach a chat — the marker for "no (further) reply", instead of a fixed sleep."""
    assert bot.stop(signal.SIGTERM, 30) == 0, bot.stderr
    assert "stopped with" not in bot.stderr, bot.stderr


def db(tmp_path: Path) -> Path:
    return tmp_path / "audit.sqlite3"


def test_single_chat_picture_is_answered_with_the_models_label_on_its_callback(
    wecom: WeComStandIn, start: Start, tmp_path: Path
) -> None:
    bot = start()
    assert f"Logged in as WeCom AI bot {BOT_ID}." in bot.stdout
    posted = wecom.post_image(XIAOMING, class_photo(286))
    reply = wecom.wait_reply(posted.req_id, timeout_s=20)
    assert content(reply) == f"@{XIAOMING}\u2005让我猜猜,你发的这张图片有 90.0% 的概率是: {CAT}"
    assert reply.errcode == 0
    [row] = wait_for_rows(db(tmp_path), lambda r: len(r) == 1 and r[0]["outcome"] == "replied")
    assert (row["msg_id"], row["chat"], row["sender"], row["label"]) == (
        posted.msgid, XIAOMING, XIAOMING, CAT,
    )  # fmt: skip


def test_group_at_with_pictures_is_answered_once_per_picture_and_the_owner_gets_audit_lines(
    wecom: WeComStandIn, start: Start, tmp_path: Path
) -> None:
    start()
    wecom.post_text(None, OWNER, "help")  # WeCom lets the bot message only chats it heard from
    group = wecom.new_chatid()
    posted = wecom.post_mixed(group, XIAOMING, None, [class_photo(286), class_photo(5)])
    wecom.wait_until(lambda: len(wecom.replies(posted.req_id)) == 2, 20, "two replies")
    replies = wecom.replies(posted.req_id)
    assert sorted(content(r).split(": ")[-1] for r in replies) == [CAT, "hammerhead"]
    assert all(r.finish and r.errcode == 0 for r in replies)
    assert len({r.stream["id"] for r in replies}) == 2
    rows = wait_for_rows(db(tmp_path), lambda r: len(r) == 2 and r[1]["outcome"] == "replied")
    assert sorted(str(r["msg_id"]) for r in rows) == [f"{posted.msgid}#1", f"{posted.msgid}#2"]
    assert {r["chat"] for r in rows} == {group}
    wecom.wait_until(
        lambda: sum("一张图片" in str(m.body) for m in wecom.sent_messages()) == 2, 20, "audit"
    )
    lines = [m.body for m in wecom.sent_messages() if "一张图片" in str(m.body)]
    assert {m["chatid"] for m in lines} == {OWNER}
    assert any(f"@{XIAOMING}: 一张图片 → {CAT} 90.0%" in m["markdown"]["content"] for m in lines)


def test_a_group_named_in_the_config_is_named_in_the_owners_line_and_the_audit_log(
    wecom: WeComStandIn, start: Start, tmp_path: Path
) -> None:
    """WeCom's messages carry a chatid and no group name: the owner names the groups once in
    [wecom] chat_names, and reads names instead of ids (issue 20.7)."""
    group = wecom.new_chatid()
    start(wecom=f'chat_names = {{ "{group}" = "家庭群" }}')
    wecom.post_text(None, OWNER, "help")  # WeCom lets the bot message only chats it heard from
    posted = wecom.post_mixed(group, XIAOMING, None, [class_photo(286)])
    wecom.wait_reply(posted.req_id, timeout_s=20)
    [row] = wait_for_rows(db(tmp_path), lambda r: len(r) == 1 and r[0]["outcome"] == "replied")
    assert row["chat"] == "家庭群"
    wecom.wait_until(
        lambda: any("一张图片" in str(m.body) for m in wecom.sent_messages()), 20, "owner line"
    )
    [line] = [
        m.body["markdown"]["content"] for m in wecom.sent_messages() if "一张图片" in str(m.body)
    ]
    assert f"家庭群 @{XIAOMING}: 一张图片" in line and group not in line, line


def test_quoted_photo_with_an_at_is_answered(
    wecom: WeComStandIn, start: Start, tmp_path: Path
) -> None:
    start()
    posted = wecom.post_quote(wecom.new_chatid(), XIAOMING, "@识图 这是什么", class_photo(286))
    assert content(wecom.wait_reply(posted.req_id, timeout_s=20)).endswith(CAT)


def test_picture_in_a_chat_not_listed_is_ignored_audited_and_its_chatid_logged(
    wecom: WeComStandIn, start: Start, tmp_path: Path
) -> None:
    listed, other = wecom.new_chatid(), wecom.new_chatid()
    bot = start(chats=f'["{listed}"]')
    ignored = wecom.post_mixed(other, STRANGER, None, [class_photo(10)])
    answered = wecom.post_mixed(listed, XIAOMING, None, [class_photo(286)])
    wecom.wait_reply(answered.req_id, timeout_s=20)
    rows = wait_for_rows(db(tmp_path), lambda r: len(r) == 2)
    assert [(r["outcome"], r["reason"]) for r in rows if r["chat"] == other] == [
        ("ignored", f"chat {other} not in [wecom] chats")
    ]
    assert f'add "{other}" to answer there' in bot.stderr
    stop_drained(bot)
    assert wecom.replies(ignored.req_id) == []


def test_text_only_at_gets_one_usage_hint_per_interval(
    wecom: WeComStandIn, start: Start, tmp_path: Path
) -> None:
    bot = start(wecom='hint = "@{sender} 请发图片并 @我"')
    group = wecom.new_chatid()
    first = wecom.post_text(group, XIAOMING, "@识图 你好")
    assert content(wecom.wait_reply(first.req_id, timeout_s=20)) == f"@{XIAOMING} 请发图片并 @我"
    second = wecom.post_text(group, STRANGER, "@识图 在吗")
    picture = wecom.post_mixed(group, XIAOMING, None, [class_photo(286)])
    wecom.wait_reply(picture.req_id, timeout_s=20)
    stop_drained(bot)
    assert wecom.replies(second.req_id) == []
    assert "no hint (one was sent recently)" in bot.stderr


def test_voice_and_file_messages_are_ignored_and_audited_as_such(
    wecom: WeComStandIn, start: Start, tmp_path: Path
) -> None:
    bot = start()
    voice = wecom.post_voice(XIAOMING, "这是什么")
    file = wecom.post_file(XIAOMING, b"%PDF-1.4 not a picture")
    rows = wait_for_rows(db(tmp_path), lambda r: len(r) == 2)
    stop_drained(bot)
    assert wecom.replies(voice.req_id) == wecom.replies(file.req_id) == []
    assert sorted((r["msg_id"], r["outcome"], r["reason"]) for r in rows) == sorted(
        [
            (voice.msgid, "ignored", "voice message: the bot answers pictures only"),
            (file.msgid, "ignored", "file message: the bot answers pictures only"),
        ]
    )


def test_owner_commands_work_from_their_single_chat_and_nobody_elses_do(
    wecom: WeComStandIn, start: Start, tmp_path: Path
) -> None:
    start()

    def answers() -> list[str]:
        return [str(m.body["markdown"]["content"]) for m in wecom.sent_messages()]

    stranger = wecom.post_text(None, STRANGER, "pause")
    wecom.wait_reply(stranger.req_id, timeout_s=20)  # the usage hint, not a command
    wecom.post_text(None, OWNER, "pause")
    wecom.wait_until(lambda: any("已暂停" in a for a in answers()), 20, "pause answer")
    paused = wecom.post_image(XIAOMING, class_photo(286))
    rows = wait_for_rows(db(tmp_path), lambda r: len(r) == 1)
    assert (rows[0]["msg_id"], rows[0]["outcome"]) == (paused.msgid, "ignored")
    wecom.post_text(None, OWNER, "resume")
    wecom.wait_until(lambda: any("已继续" in a for a in answers()), 20, "resume answer")
    wecom.post_text(None, OWNER, "status")
    wecom.wait_until(lambda: any("状态: 运行中" in a for a in answers()), 20, "status answer")
    assert {m.body["chatid"] for m in wecom.sent_messages()} == {OWNER}
    answered = wecom.post_image(XIAOMING, class_photo(286))
    assert content(wecom.wait_reply(answered.req_id, timeout_s=20)).endswith(CAT)


def test_wrong_secret_exits_2_with_one_line_naming_the_bot_id(start: Start) -> None:
    bot = start(ready=False, secret="not-the-secret")
    assert bot.wait(30) == 2
    errors = [line for line in bot.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert f"refused the login of AI bot {BOT_ID} (errcode 853000" in errors[0]
    assert f"${SECRET_ENV}" in errors[0] and "admin console" in errors[0]
    assert "not-the-secret" not in bot.stderr + bot.stdout
    assert "Traceback" not in bot.stderr


def test_untrusted_certificate_exits_2_naming_ca_file(start: Start, tmp_path: Path) -> None:
    other_ca = WeComStandIn()  # a second throw-away CA: not the one that signed the server
    try:
        bot = start(ready=False, ca_file=other_ca.ca_file)
        assert bot.wait(30) == 2
    finally:
        other_ca.close()
    assert "cannot verify the TLS certificate" in bot.stderr and "[wecom] ca_file" in bot.stderr
    assert "Traceback" not in bot.stderr


def test_dropped_connection_reconnects_and_the_next_picture_is_answered(
    wecom: WeComStandIn, start: Start
) -> None:
    bot = start()
    wecom.drop()
    wecom.wait_subscribed(count=2, timeout_s=20)
    posted = wecom.post_image(XIAOMING, class_photo(286))
    assert content(wecom.wait_reply(posted.req_id, timeout_s=20)).endswith(CAT)
    assert "WeCom connection was lost" in bot.stderr
    assert bot.proc.poll() is None


def test_connection_closed_cleanly_by_the_server_is_reopened(
    wecom: WeComStandIn, start: Start
) -> None:
    start()
    wecom.answer_pings = True
    ws = wecom._current()  # a clean close (1000) without an event: SDK 1.0.2 goes silent
    wecom.run(ws.close(1000))
    wecom.wait_subscribed(count=2, timeout_s=20)
    posted = wecom.post_image(XIAOMING, class_photo(286))
    assert content(wecom.wait_reply(posted.req_id, timeout_s=20)).endswith(CAT)


def test_kicked_by_another_connection_exits_2_saying_so(wecom: WeComStandIn, start: Start) -> None:
    bot = start()
    wecom.kick()
    assert bot.wait(30) == 2
    assert "another process connected as this bot" in bot.stderr
    assert "Traceback" not in bot.stderr
    assert wecom.subscribes == 1  # it did not connect again and kick the other one back


@pytest.mark.parametrize("fault", [Fault.EXPIRED, Fault.CORRUPT], ids=["expired", "corrupt"])
def test_expired_or_corrupt_media_gives_a_failed_row_with_the_reason(
    wecom: WeComStandIn, start: Start, tmp_path: Path, fault: Fault
) -> None:
    start()
    wecom.post_image(XIAOMING, class_photo(286), fault=fault)
    [row] = wait_for_rows(db(tmp_path), lambda r: len(r) == 1 and r[0]["outcome"] == "failed")
    expected = "may have expired" if fault is Fault.EXPIRED else "could not be decrypted"
    assert str(row["reason"]).startswith("download failed: ") and expected in str(row["reason"])


def test_serving_down_gets_one_apology_on_the_callback(
    wecom: WeComStandIn, start: Start, tmp_path: Path
) -> None:
    start(serving_url=f"http://127.0.0.1:{free_port()}")
    group = wecom.new_chatid()
    first = wecom.post_mixed(group, XIAOMING, None, [class_photo(5)])
    assert (
        content(wecom.wait_reply(first.req_id, timeout_s=30))
        == "抱歉,识图服务暂时不可用,请稍后再试。"
    )
    second = wecom.post_mixed(group, XIAOMING, None, [class_photo(6)])
    rows = wait_for_rows(
        db(tmp_path), lambda r: len(r) == 2 and all(x["outcome"] == "failed" for x in r), 30
    )
    assert all("unavailable" in str(r["reason"]) for r in rows)
    assert wecom.replies(second.req_id) == []


def test_a_reply_wecom_no_longer_accepts_is_audited_as_failed(
    wecom: WeComStandIn, start: Start, tmp_path: Path
) -> None:
    start()
    wecom.stream_window_s = 0.0  # every answer comes after the window: 846608
    wecom.post_image(XIAOMING, class_photo(286))
    [row] = wait_for_rows(db(tmp_path), lambda r: len(r) == 1 and r[0]["outcome"] == "failed")
    assert row["label"] == CAT
    assert str(row["reason"]).startswith("the reply could not be sent: ")


def test_sigterm_finishes_the_picture_in_hand_and_exits_0(
    wecom: WeComStandIn, start: Start, tfs: FakeTFServing, tmp_path: Path
) -> None:
    bot = start()
    tfs.delay_s = 2.0
    posted = wecom.post_image(XIAOMING, class_photo(286))
    wait_for_rows(db(tmp_path), lambda r: len(r) == 1)  # taken: it is in hand
    bot.proc.send_signal(signal.SIGTERM)
    assert bot.wait(30) == 0
    assert content(wecom.replies(posted.req_id)[0]).endswith(CAT)
    [row] = wait_for_rows(db(tmp_path), lambda r: len(r) == 1)
    assert row["outcome"] == "replied"
    assert "Traceback" not in bot.stderr


def test_healthz_names_the_chat_connection(
    wecom: WeComStandIn, start: Start, tmp_path: Path
) -> None:
    port = free_port()
    start(status_port=port)
    health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
    assert health["chat_connected"] is True and "wechat_login" not in health


def run_check(cfg: Path, secret: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    if secret is not None:
        env[SECRET_ENV] = secret
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(cfg), *args, "check"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_check_logs_in_disconnects_and_says_what_it_found(
    wecom: WeComStandIn, tfs: FakeTFServing, tmp_path: Path
) -> None:
    done = run_check(wecom_config(tmp_path, wecom, tfs.url), SECRET)
    assert done.returncode == 0, done.stderr
    assert f"logged in as AI bot {BOT_ID}, then disconnected" in done.stdout
    assert f"${SECRET_ENV} is set (not shown)" in done.stdout and SECRET not in done.stdout
    assert "owner    boss: commands" in done.stdout
    wecom.wait_until(lambda: not wecom.is_subscribed, 10, "check to disconnect")
    assert wecom.subscribes == 1


@pytest.mark.parametrize(
    ("secret", "expected"),
    [(None, f"{SECRET_ENV} is not set"), ("wrong", "errcode 853000")],
    ids=["unset", "wrong"],
)
def test_check_without_the_right_secret_exits_2_with_one_line(
    wecom: WeComStandIn, tfs: FakeTFServing, tmp_path: Path, secret: str | None, expected: str
) -> None:
    done = run_check(wecom_config(tmp_path, wecom, tfs.url), secret)
    assert done.returncode == 2
    assert done.stderr.count("error:") == 1 and expected in done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_wecom_exits_75_after_a_few_retries_which_systemd_restarts(
    wecom: WeComStandIn, tfs: FakeTFServing, tmp_path: Path
) -> None:
    cfg = wecom_config(tmp_path, wecom, tfs.url)
    text = cfg.read_text(encoding="utf-8").replace(wecom.ws_url, f"wss://127.0.0.1:{free_port()}")
    cfg.write_text(text, encoding="utf-8")
    started = time.monotonic()
    bot = BotProcess(cfg, env={SECRET_ENV: SECRET})
    assert bot.wait(60) == 75
    assert time.monotonic() - started > 5  # it retried with backoff (1 + 2 + 4 s, less jitter)
    errors = [line for line in bot.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "gave up connecting to WeCom at wss://127.0.0.1:" in errors[0]
    assert "4 times in a row" in errors[0] and "exits 75" in errors[0]
    assert restarted_by_systemd(75) and not restarted_by_systemd(2)


def restarted_by_systemd(code: int) -> bool:
    """Whether deploy/wechat-vision-bot.service restarts the bot after exit ``code``."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(REPO / "deploy" / "wechat-vision-bot.service", encoding="utf-8")
    service = unit["Service"]
    prevented = service.get("RestartPreventExitStatus", "").split()
    return service["Restart"] in ("on-failure", "always") and str(code) not in prevented


def longest_leak(text: str, secret: str = SECRET) -> str:
    """The longest piece of ``secret`` that ``text`` holds."""
    return max(
        (secret[i:j] for i in range(len(secret)) for j in range(i + 1, len(secret) + 1)
         if secret[i:j] in text),
        key=len,
        default="",
    )  # fmt: skip


def test_no_piece_of_the_secret_reaches_the_output_or_the_status_page_even_with_v(
    wecom: WeComStandIn, start: Start, tfs: FakeTFServing, tmp_path: Path
) -> None:
    port = free_port()
    bot = start(args=("-v",), status_port=port)
    wecom.drop()  # a reconnect sends the login frame (with the Secret) again
    wecom.wait_subscribed(count=2, timeout_s=20)
    posted = wecom.post_image(XIAOMING, class_photo(286))
    wecom.wait_reply(posted.req_id, timeout_s=20)
    page = "".join(
        requests.get(f"http://127.0.0.1:{port}{path}", timeout=10).text
        for path in ("/", "/api/status", "/healthz", "/metrics")
    )
    stop_drained(bot)
    checked = run_check(wecom_config(tmp_path, wecom, tfs.url), SECRET, "-v")
    assert checked.returncode == 0, checked.stderr
    assert "DEBUG" in bot.stderr and "DEBUG" in checked.stderr  # -v did log in detail
    shown = {
        where: longest_leak(text)
        for where, text in [
            ("run", bot.stdout + bot.stderr), ("check", checked.stdout + checked.stderr),
            ("status page", page),
        ]
    }  # fmt: skip
    assert {where: piece for where, piece in shown.items() if len(piece) >= 4} == {}


def test_a_picture_stamped_in_milliseconds_is_answered_and_its_owner_line_dated_today(
    wecom: WeComStandIn, start: Start, tmp_path: Path
) -> None:
    start()
    wecom.post_text(None, OWNER, "help")  # WeCom lets the bot message only chats it heard from
    posted = wecom.post_image(XIAOMING, class_photo(286), create_time=int(time.time() * 1000))
    assert content(wecom.wait_reply(posted.req_id, timeout_s=20)).endswith(CAT)
    wecom.wait_until(
        lambda: any("一张图片" in str(m.body) for m in wecom.sent_messages()), 20, "owner line"
    )
    [line] = [
        m.body["markdown"]["content"] for m in wecom.sent_messages() if "一张图片" in str(m.body)
    ]
    assert line.startswith(f"[{date.today():%Y-%m-%d} ")
    [row] = wait_for_rows(db(tmp_path), lambda r: len(r) == 1 and r[0]["outcome"] == "replied")
    assert row["msg_id"] == posted.msgid


def logins(wecom: WeComStandIn) -> list[float]:
    """When each successful login happened (the stand-in's clock)."""
    with wecom._cond:
        return [r.at for r in wecom.frames if r.cmd == "aibot_subscribe" and r.errcode == 0]


def test_a_server_that_cuts_every_login_meets_growing_waits_not_a_login_a_second(
    wecom: WeComStandIn, start: Start
) -> None:
    bot = start()
    wecom.drop_after_subscribe_s = 0.2  # accepts every login, drops it 0.2 s later
    wecom.drop()
    wecom.wait_subscribed(count=6, timeout_s=40)
    at = logins(wecom)
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(at)]
    assert gaps == sorted(gaps) and gaps[-1] > 3 * gaps[1], gaps  # the waits grow
    assert "connecting again in" in bot.stderr and bot.proc.poll() is None


def test_a_login_refused_for_now_after_a_drop_is_tried_again_and_the_bot_answers(
    wecom: WeComStandIn, start: Start
) -> None:
    bot = start()
    wecom.refuse_subscribes = [(45009, "api freq out of limit")]
    wecom.drop()
    wecom.wait_subscribed(count=2, timeout_s=20)
    posted = wecom.post_image(XIAOMING, class_photo(286))
    assert content(wecom.wait_reply(posted.req_id, timeout_s=20)).endswith(CAT)
    assert "refused for now (errcode 45009: api freq out of limit)" in bot.stderr
    assert bot.proc.poll() is None


def test_a_huge_media_link_is_refused_at_max_bytes_without_being_read_whole(
    wecom: WeComStandIn, start: Start, tmp_path: Path
) -> None:
    start(extra="[images]\nmax_bytes = 2000000\n")
    posted = wecom.post_image(XIAOMING, class_photo(286), fault=Fault.HUGE)  # 64 MiB of noise
    [row] = wait_for_rows(db(tmp_path), lambda r: len(r) == 1 and r[0]["outcome"] == "failed")
    assert "larger than [images] max_bytes = 2,000,000 bytes" in str(row["reason"])
    assert "the rest was not read" in str(row["reason"])
    wecom.wait_until(lambda: wecom.media.sent_bytes(posted.media[0]) > 0, 5, "the download")
    assert wecom.media.sent_bytes(posted.media[0]) < wecom.media.huge_bytes // 2


def test_a_picture_that_arrives_while_the_bot_stops_still_gets_its_row(
    wecom: WeComStandIn, start: Start, tfs: FakeTFServing, tmp_path: Path
) -> None:
    """WeCom keeps no queue for a bot that is away: a picture pushed after SIGTERM, while the
    bot finishes what it holds, is seen once and never again, so it is audited (found by the
    soak run, issue 20)."""
    bot = start()
    tfs.delay_s = 3.0  # the first picture keeps the bot draining while the second arrives
    wecom.post_mixed(wecom.new_chatid(), XIAOMING, None, [class_photo(286)])
    wait_for_rows(db(tmp_path), lambda r: len(r) == 1)  # in hand
    bot.proc.send_signal(signal.SIGTERM)
    wait_for_log(bot, "stopping")
    late = wecom.post_mixed(wecom.new_chatid(), XIAOMING, None, [class_photo(5)])
    assert bot.wait(30) == 0
    rows = {r["msg_id"]: r for r in wait_for_rows(db(tmp_path), lambda r: len(r) >= 1)}
    assert late.msgid in rows, bot.stderr
    assert rows[late.msgid]["outcome"] == "ignored"
    assert rows[late.msgid]["reason"] == "the bot was stopping: not answered"
    assert wecom.replies(late.req_id) == []
