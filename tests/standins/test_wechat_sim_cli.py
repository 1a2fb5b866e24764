"""The simulator's command line, as a contributor trying the bot by hand uses it."""

from __future__ import annotations

import io
import subprocess
import sys

from tests.conftest import REPO
from tests.fakes.wechat_sim import WeChatSimulator
from tests.fakes.wechat_sim.cli import Console


def test_help_lists_port_and_manual_scan_and_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.fakes.wechat_sim", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "--port" in done.stdout and "--manual-scan" in done.stdout


def test_startup_prints_the_login_url_line_to_paste_and_quit_stops_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.fakes.wechat_sim", "--group", "工作群=老王,小李"],
        cwd=REPO,
        input="quit\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert 'login_url = "http://127.0.0.1:' in done.stdout
    assert "group 工作群: 老王, 小李" in done.stdout


def test_console_posts_a_chosen_picture_as_a_chosen_sender_in_a_chosen_group() -> None:
    out = io.StringIO()
    with WeChatSimulator(auto_scan_after_s=None) as sim:
        sim.add_group("我们一家", ["小明", "小红"])
        console = Console(sim, out)
        assert console.run("post 我们一家 小红 class:281") is True
        assert console.run("post 我们一家 小红 /no/such/file.jpg") is True
        assert console.run("quit") is False
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("posted: 小红 in 我们一家 (MsgId ")
    assert lines[1].startswith("post: [Errno 2] No such file or directory")


def test_console_asks_quotes_and_writes_to_the_file_helper_as_the_owner() -> None:
    out = io.StringIO()
    with WeChatSimulator(auto_scan_after_s=None) as sim:
        sim.add_group("我们一家", ["小明", "小红"])
        console = Console(sim, out)
        console.run("post 我们一家 小红 class:281")
        photo = out.getvalue().split("MsgId ")[1].rstrip(")\n")
        assert console.run("ask 我们一家 小明 这是什么?") is True
        assert console.run(f"quote 我们一家 小明 {photo} 这只呢?") is True
        assert console.run("owner forget 小红") is True
        texts = [(m.chat, m.sender, m.text, m.quotes) for m in sim._messages if m.msg_type != 3]
    assert texts == [
        ("group", "小明", f"@{sim.me}\u2005这是什么?", None),
        ("group", "小明", f"@{sim.me}\u2005这只呢?", texts[1][3]),
        ("filehelper", sim.me, "forget 小红", None),
    ]
    assert texts[1][3] is not None  # the quote names the photo's NewMsgId
