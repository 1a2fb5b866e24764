"""``python -m tests.fakes.wecom``: the WeCom stand-in by hand, driven as a person would, with the
real bot process connecting through the real WeCom SDK."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from tests.botproc import BotProcess, wait_until
from tests.conftest import REPO
from tests.e2e.test_wecom import BOT_ID, wecom_config
from tests.fakes.tfserving import FakeTFServing
from tests.fakes.wecom import WeComStandIn
from tests.fakes.wecom.cli import Console


def test_the_command_prints_the_config_and_the_secret_to_export() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.fakes.wecom", "--secret", "sk-by-hand"],
        input="help\nquit\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert 'ws_url = "wss://127.0.0.1:' in done.stdout
    assert "ca_file = " in done.stdout and 'transport = "wecom"' in done.stdout
    assert "export WECHAT_VISION_BOT_WECOM_SECRET=sk-by-hand" in done.stdout
    assert "mixed GROUP USER PICTURE" in done.stdout  # help lists the commands


def test_a_picture_posted_in_the_console_is_answered_by_the_real_bot(
    tfs: FakeTFServing, tmp_path: Path
) -> None:
    out = io.StringIO()
    with WeComStandIn(bot_id=BOT_ID, secret="sk-by-hand") as wecom:
        cfg = wecom_config(tmp_path, wecom, tfs.url)
        bot = BotProcess(cfg, env={"WECHAT_VISION_BOT_WECOM_SECRET": "sk-by-hand"})
        try:
            bot.wait_logged_in()
            wecom.wait_subscribed(timeout_s=10)
            console = Console(wecom, out)
            assert console.run("mixed 家 xiaoming class:286") is True

            def answered() -> bool:
                console.run("sent")
                return "Egyptian cat" in out.getvalue()

            wait_until(answered, 30, what="the bot's answer in `sent`")
        finally:
            bot.kill()
    assert "posted: xiaoming in 家, a picture with '@识图'" in out.getvalue()
    assert "bot -> reply to " in out.getvalue()
