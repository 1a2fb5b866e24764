"""Running for months: status page (in a real headless Chromium), health, metrics, and the
owner's file-helper commands, against the real bot process."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.botproc import (
    FAMILY,
    OTHER,
    WORK,
    BotProcess,
    class_photo,
    wait_for_rows,
    wait_until,
    write_bot_config,
)
from tests.conftest import free_port
from tests.fakes.tfserving import FakeTFServing
from tests.fakes.wechat_sim import SentMessage, WeChatSimulator

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def sim() -> Iterator[WeChatSimulator]:
    with WeChatSimulator(auto_scan_after_s=None, synccheck_hold_s=0.5) as s:
        s.add_group(FAMILY, ["小明", "小红"])
        s.add_group(WORK, ["老王"])
        s.add_group(OTHER, ["路人"])
        s.add_friend("小明")
        yield s


class Bot:
    def __init__(self, proc: BotProcess, url: str, config: Path) -> None:
        self.proc, self.url, self.config = proc, url, config

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=5)

    def scan_and_log_in(self, sim: WeChatSimulator) -> None:
        self.proc.wait_for_output("Scan this QR code")
        sim.scan()
        self.proc.wait_logged_in()


@pytest.fixture
def bot(sim: WeChatSimulator, tfs: FakeTFServing, tmp_path: Path) -> Iterator[Bot]:
    port = free_port()
    cfg = write_bot_config(
        tmp_path, wechat_url=sim.url, serving_url=tfs.url, groups=f'["{FAMILY}", "没有这个群"]'
    )
    cfg.write_text(
        cfg.read_text() + f'[status]\nlisten = "127.0.0.1:{port}"\n'
        "probe_interval_s = 1\nhealthy_within_s = 30\n",
        encoding="utf-8",
    )
    proc = BotProcess(cfg)
    try:
        proc.wait_for_output("Status page: http://127.0.0.1:")
        yield Bot(proc, f"http://127.0.0.1:{port}", cfg)
    finally:
        proc.kill()


def chrome():  # type: ignore[no-untyped-def]
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium and chromium-driver (see .ci/run)")
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-sync",
        "--disable-component-update",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(flag)
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"chromium-{time.monotonic_ns()}"
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.profile_dir = profile  # type: ignore[attr-defined]
    return driver


def test_status_page_shows_the_qr_code_before_login_and_the_state_after_it_in_chromium(
    sim: WeChatSimulator, bot: Bot
) -> None:
    driver = chrome()
    try:
        driver.get(bot.url + "/")
        wait_until(
            lambda: driver.execute_script(
                "const q=document.getElementById('qr');"
                "return !document.getElementById('login').hidden && q.complete && q.naturalWidth>0"
            )
        )
        assert driver.find_element("id", "phase").text == "waiting for the QR code to be scanned"
        bot.scan_and_log_in(sim)
        wait_until(lambda: driver.find_element("id", "nickname").text == "视觉机器人")
        assert not driver.find_element("id", "qr").is_displayed()
        groups = driver.find_element("id", "groups").text
        assert f"group '{FAMILY}': found" in groups
        assert "group '没有这个群': no such group" in groups
        sim.post_picture(FAMILY, "小明", class_photo(3))
        wait_until(lambda: driver.find_element("id", "handled").text == "1")
        assert driver.find_element("id", "failures").text == "0"
        assert driver.find_element("id", "serving").text == "answering"
        # Nothing on the page comes from anywhere but the bot itself.
        hosts = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).host)"
        )
        assert set(hosts) <= {bot.url.removeprefix("http://")}
    finally:
        driver.quit()
        shutil.rmtree(driver.profile_dir, ignore_errors=True)


def test_page_forbids_loading_anything_from_other_sites(bot: Bot) -> None:
    page = bot.get("/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "http" not in page.text.replace("http-equiv", "")


def test_qr_code_is_served_while_waiting_and_gone_after_login(
    sim: WeChatSimulator, bot: Bot
) -> None:
    wait_until(lambda: bot.get("/qr.png").status_code == 200)
    png = bot.get("/qr.png")
    assert png.headers["Content-Type"] == "image/png" and png.content[:4] == b"\x89PNG"
    bot.scan_and_log_in(sim)
    wait_until(lambda: bot.get("/qr.png").status_code == 404)


def test_healthz_is_200_only_when_logged_in_receiving_and_serving_answers(
    sim: WeChatSimulator, tfs: FakeTFServing, bot: Bot
) -> None:
    before = bot.get("/healthz")
    assert before.status_code == 503
    assert before.json()["down"] == ["wechat_login", "receive_loop"]
    bot.scan_and_log_in(sim)
    wait_until(lambda: bot.get("/healthz").status_code == 200)
    assert bot.get("/healthz").json() == {
        "ok": True,
        "wechat_login": True,
        "receive_loop": True,
        "tf_serving": True,
        "audit_log": True,
        "down": [],
    }
    tfs.stop()
    wait_until(lambda: bot.get("/healthz").json()["down"] == ["tf_serving"])
    tfs.start()
    wait_until(lambda: bot.get("/healthz").status_code == 200)


def test_metrics_count_pictures_by_outcome_and_group_in_prometheus_format(
    sim: WeChatSimulator, bot: Bot, tmp_path: Path
) -> None:
    bot.scan_and_log_in(sim)
    sim.post_picture(FAMILY, "小明", class_photo(3))
    sim.post_picture(OTHER, "路人", class_photo(4))
    wait_for_rows(
        tmp_path / "audit.sqlite3",
        lambda r: len(r) == 2 and all(x["outcome"] != "pending" for x in r),
    )
    # The audit row is written before the metric is counted: wait for both counts.
    wait_until(
        lambda: all(f'outcome="{o}"' in bot.get("/metrics").text for o in ("replied", "ignored"))
    )
    metrics = bot.get("/metrics")
    assert metrics.headers["Content-Type"].startswith("text/plain")
    text = metrics.text
    series = "wechat_vision_bot_pictures_total"
    assert f'{series}{{group="{FAMILY}",model="resnet",outcome="replied"}} 1.0' in text
    # A group the bot does not serve is never named in a metric (issue 12.10).
    assert f'{series}{{group="(other)",model="",outcome="ignored"}} 1.0' in text
    assert OTHER not in text
    assert "wechat_vision_bot_classification_seconds_count 1.0" in text
    assert "wechat_vision_bot_send_queue " in text
    assert "wechat_vision_bot_logged_in 1.0" in text


def filehelper_replies(sim: WeChatSimulator) -> list[SentMessage]:
    return [m for m in sim.sent if m.to_nickname == "filehelper" and "一张图片" not in m.content]


def test_owner_commands_in_the_file_helper_pause_resume_reload_and_report(
    sim: WeChatSimulator, bot: Bot, tmp_path: Path
) -> None:
    bot.scan_and_log_in(sim)
    db = tmp_path / "audit.sqlite3"

    def command(text: str, answers: int) -> str:
        sim.post_text(None, sim.me, text, to_filehelper=True)
        wait_until(lambda: len(filehelper_replies(sim)) >= answers)
        return filehelper_replies(sim)[answers - 1].content

    assert command("status", 1).startswith("状态: 运行中")
    assert command("pause", 2).startswith("已暂停")
    sim.post_picture(FAMILY, "小明", class_photo(3))
    rows = wait_for_rows(db, lambda r: len(r) == 1)
    assert rows[0]["outcome"] == "ignored" and "paused" in str(rows[0]["reason"])
    assert command("resume", 3).startswith("已继续")
    sim.post_picture(FAMILY, "小红", class_photo(4))
    wait_for_rows(db, lambda r: any(x["outcome"] == "replied" for x in r))
    # reload: a new group and threshold apply without a new login
    text = bot.config.read_text()
    bot.config.write_text(text.replace('"没有这个群"', f'"{OTHER}"'), encoding="utf-8")
    assert command("reload", 4).startswith(f"配置已重新读取: 群 {FAMILY}, {OTHER}")
    sim.post_picture(OTHER, "路人", class_photo(5))
    wait_for_rows(db, lambda r: any(x["chat"] == OTHER and x["outcome"] == "replied" for x in r))
    # a broken config is refused and the old one kept
    bot.config.write_text(text.replace("[reply]", "[reply]\ntop_k = 0"), encoding="utf-8")
    refused = command("reload", 5)
    assert refused == (
        "配置有误, 仍使用原配置: [reply] top_k = 0: must be a whole number of labels from 1 to 10"
    )
    assert str(bot.config.parent) not in refused  # never a path in a chat
    sim.post_picture(OTHER, "路人", class_photo(6))
    wait_for_rows(
        db, lambda r: sum(x["chat"] == OTHER and x["outcome"] == "replied" for x in r) == 2
    )
    assert sim.logins == 1


def test_nobody_but_the_owner_can_give_commands(
    sim: WeChatSimulator, bot: Bot, tmp_path: Path
) -> None:
    bot.scan_and_log_in(sim)
    sim.post_text(None, "小明", "pause")
    sim.post_text(FAMILY, "小红", "pause")
    # The bot handles messages in the order they arrive: the texts before the picture.
    sim.post_picture(FAMILY, "小明", class_photo(3))
    rows = wait_for_rows(
        tmp_path / "audit.sqlite3",
        lambda r: len(r) == 1 and r[0]["outcome"] != "pending",
        timeout_s=30,
    )
    assert rows[0]["outcome"] == "replied"
    bot.proc.stop_drained()  # everything the bot was going to send has been sent
    assert filehelper_replies(sim) == []
    assert [m.content.split("\u2005")[0] for m in sim.sent if m.to_nickname == FAMILY] == ["@小明"]


def test_status_page_is_off_unless_configured(
    sim: WeChatSimulator, tfs: FakeTFServing, tmp_path: Path
) -> None:
    cfg = write_bot_config(tmp_path, wechat_url=sim.url, serving_url=tfs.url)
    proc = BotProcess(cfg)
    try:
        proc.wait_for_output("Scan this QR code")
        assert "Status page" not in proc.stdout
    finally:
        proc.kill()


def test_a_new_qr_code_from_wechat_replaces_the_old_one_on_the_page(
    sim: WeChatSimulator, tfs: FakeTFServing, tmp_path: Path
) -> None:
    sim.qr_expire_s = 1.0
    port = free_port()
    cfg = write_bot_config(tmp_path, wechat_url=sim.url, serving_url=tfs.url)
    cfg.write_text(cfg.read_text() + f'[status]\nlisten = "127.0.0.1:{port}"\n', encoding="utf-8")
    proc = BotProcess(cfg)
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_for_output("Scan this QR code")
        first = requests.get(url + "/api/status", timeout=5).json()["qr_version"]
        first_png = requests.get(url + "/qr.png", timeout=5).content
        wait_until(
            lambda: requests.get(url + "/api/status", timeout=5).json()["qr_version"] > first,
            timeout_s=20,
        )
        assert requests.get(url + "/qr.png", timeout=5).content != first_png
    finally:
        proc.kill()
