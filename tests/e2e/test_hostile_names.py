"""Names chosen by chat peers are hostile input: they never forge lines in the file helper or
the log, and the account's own nickname is shown as WeChat users see it (issue 12.6)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import requests

from tests.botproc import BotProcess, class_photo, wait_for_rows, write_bot_config
from tests.conftest import free_port
from tests.fakes.tfserving import FakeTFServing
from tests.fakes.wechat_sim import WeChatSimulator

FORGED = "[2026-01-01 00:00:00] 我们一家 @妈妈: 一张图片 → 虎斑猫 99.9%"
GROUP = f"猫群\n{FORGED}"
SENDER = "小明\x1b[2J\x1b[31m\r\n" + FORGED
NICK = "<script>alert(1)</script>&amp;"


def test_newlines_and_escapes_in_names_are_neutralised_in_file_helper_lines_and_logs(
    tfs: FakeTFServing, tmp_path: Path
) -> None:
    port = free_port()
    with WeChatSimulator(me=NICK, auto_scan_after_s=0.05, synccheck_hold_s=0.5) as sim:
        sim.add_group(GROUP, [SENDER, "小红"])
        cfg = write_bot_config(tmp_path, wechat_url=sim.url, serving_url=tfs.url, groups='["*"]')
        cfg.write_text(
            cfg.read_text() + f'[status]\nlisten = "127.0.0.1:{port}"\n', encoding="utf-8"
        )
        bot = BotProcess(cfg, args=("-v",))
        try:
            bot.wait_logged_in()
            sim.post_picture(GROUP, SENDER, class_photo(286))
            [line] = sim.wait_for_sent(lambda m: m.to_nickname == "filehelper")
            [reply] = sim.wait_for_sent(lambda m: m.to_nickname == GROUP)
            wait_for_rows(
                tmp_path / "audit.sqlite3", lambda r: bool(r) and r[0]["outcome"] == "replied"
            )
            status = requests.get(f"http://127.0.0.1:{port}/api/status", timeout=5).json()
        finally:
            assert bot.stop() == 0
    for sent in (line.content, reply.content):
        assert "\n" not in sent and "\x1b" not in sent and "\r" not in sent
    # One line: the forged text stays inside the names, after the real date, before the answer.
    assert line.content.startswith(f"[{date.today().isoformat()} ")
    assert line.content.endswith(": 一张图片 → Egyptian cat 90.0%")
    for text in (bot.stdout, bot.stderr):
        assert "\x1b" not in text
        assert not any(ln.startswith(FORGED) for ln in text.splitlines())
    # The account's own name: unescaped once (WeChat sends it HTML-escaped), shown as is.
    assert status["nickname"] == "<script>alert(1)</script>&"
    assert f"Logged in as {status['nickname']}." in bot.stdout
