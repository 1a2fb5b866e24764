"""The Open Inference Protocol end to end: the real bot process and itchat-uos against the Web
WeChat simulator, the model on the v2 stand-in (Triton's flavour: the JPEG as raw bytes through
the binary extension, the top five back through the classification extension)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests.botproc import FAMILY, WORK, BotProcess, class_photo, wait_for_rows, write_bot_config
from tests.fakes.v2 import FakeV2, V2Model
from tests.fakes.wechat_sim import WeChatSimulator

pytestmark = pytest.mark.e2e
MENTION = "\u2005"


@pytest.fixture
def sim() -> Iterator[WeChatSimulator]:
    with WeChatSimulator(auto_scan_after_s=0.05, synccheck_hold_s=0.5) as s:
        s.add_group(FAMILY, ["小明"])
        s.add_group(WORK, ["老王"])
        yield s


@pytest.fixture
def triton() -> Iterator[FakeV2]:
    with FakeV2([V2Model("resnet")], flavour="triton") as srv:
        yield srv


def test_a_picture_is_answered_through_an_open_inference_protocol_server(
    sim: WeChatSimulator, triton: FakeV2, tmp_path: Path
) -> None:
    config = write_bot_config(tmp_path, wechat_url=sim.url, serving_url=triton.url)
    bot = BotProcess(config)
    try:
        bot.wait_logged_in()
        posted = class_photo(286)
        sim.post_picture(FAMILY, "小明", posted)
        [reply] = sim.wait_for_sent(lambda m: m.to_nickname == FAMILY)
        assert (
            reply.content == f"@小明{MENTION}让我猜猜,你发的这张图片有 90.0% 的概率是: Egyptian cat"
        )
        [row] = wait_for_rows(
            tmp_path / "audit.sqlite3", lambda r: len(r) == 1 and r[0]["outcome"] == "replied"
        )
        assert row["label"] == "Egyptian cat"
        infers = [r for r in triton.requests if r.path.endswith("/infer")]
        assert len(infers) == 1 and infers[0].body_bytes < len(posted) / 3  # shrunk, raw
        assert bot.stop() == 0
    finally:
        bot.kill()


def test_check_says_which_server_protocol_input_and_output_it_found(
    triton: FakeV2, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_bot_config(tmp_path, wechat_url="http://127.0.0.1:9", serving_url=triton.url)
    main(["--config", str(config), "check"])
    out = capsys.readouterr().out
    assert "(Triton, auto-detected): model 'resnet' version 1 AVAILABLE" in out
    assert "server Triton 2.51.0 (Open Inference Protocol v2)" in out
    assert "sends BYTES JPEG bytes via the binary tensor data extension" in out
    assert "answers top 5 by the classification extension" in out
    assert "test picture -> " in out
