"""A model per group, end to end: the real bot process and itchat-uos against the Web WeChat
simulator, with one TF Serving stand-in serving the default ResNet and a 120-class `dogs` model
that answers in one group only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests import gallery
from tests.botproc import (
    FAMILY,
    OTHER,
    WORK,
    BotProcess,
    class_photo,
    wait_for_rows,
    write_bot_config,
)
from tests.fakes.tfserving import (
    FakeTFServing,
    ModelSpec,
    dogs120_spec,
    image_for_class,
    write_dogs120_csv,
)
from tests.fakes.wechat_sim import WeChatSimulator

pytestmark = pytest.mark.e2e
MENTION = "\u2005"
GOLDEN = 56


@pytest.fixture
def sim() -> Iterator[WeChatSimulator]:
    with WeChatSimulator(auto_scan_after_s=0.05, synccheck_hold_s=0.5) as s:
        s.add_group(FAMILY, ["小明", "小红"])
        s.add_group(WORK, ["老王", "小李"])
        s.add_group(OTHER, ["路人"])
        yield s


@pytest.fixture
def tfs() -> Iterator[FakeTFServing]:
    with FakeTFServing([ModelSpec(), dogs120_spec()]) as server:
        yield server


@pytest.fixture
def config(sim: WeChatSimulator, tfs: FakeTFServing, tmp_path: Path) -> Path:
    table = write_dogs120_csv(tmp_path / "dogs120.csv")
    return write_bot_config(
        tmp_path,
        wechat_url=sim.url,
        serving_url=tfs.url,
        wechat=f'group_models = {{ "{WORK}" = "dogs" }}',
        extra=(
            '[models.dogs.serving]\nmodel = "dogs"\n'
            f'[models.dogs.labels]\nfile = "{table.as_posix()}"\n'
        ),
    )


def dog_photo(class_id: int) -> bytes:
    return gallery.jpeg(image_for_class(120, class_id, (1440, 1080)))


def test_each_group_is_answered_by_its_own_model_and_audit_rows_name_it(
    sim: WeChatSimulator, config: Path, tfs: FakeTFServing, tmp_path: Path
) -> None:
    bot = BotProcess(config)
    try:
        bot.wait_logged_in()
        sim.post_picture(FAMILY, "小明", class_photo(286))
        sim.post_picture(WORK, "老王", dog_photo(GOLDEN))
        [family] = sim.wait_for_sent(lambda m: m.to_nickname == FAMILY)
        [work] = sim.wait_for_sent(lambda m: m.to_nickname == WORK)
        assert family.content.endswith("的概率是: Egyptian cat")
        assert (
            work.content
            == f"@老王{MENTION}让我猜猜,你发的这张图片有 90.0% 的概率是: golden retriever"
        )
        rows = wait_for_rows(
            tmp_path / "audit.sqlite3",
            lambda r: len(r) == 2 and all(x["outcome"] == "replied" for x in r),
        )
        assert {(r["chat"], r["model"], r["label"]) for r in rows} == {
            (FAMILY, "resnet", "Egyptian cat"),
            (WORK, "dogs", "golden retriever"),
        }
        predicts = [r.path for r in tfs.requests if r.path.endswith(":predict")]
        assert sorted(predicts) == ["/v1/models/dogs:predict", "/v1/models/resnet:predict"]
        assert bot.stop() == 0
    finally:
        bot.kill()


def test_check_checks_every_model_and_classify_takes_model_by_name(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "check"]) == 0
    out = capsys.readouterr().out
    assert "input    JPEG bytes in input 'image_bytes'" in out
    assert "[models.dogs] " in out and "model 'dogs' version 1 AVAILABLE" in out
    assert "offset   [models.dogs] 0 (auto: model class i = table row i)" in out
    picture = tmp_path / "golden.jpg"
    picture.write_bytes(dog_photo(GOLDEN))
    assert main(["--config", str(config), "classify", "--model", "dogs", str(picture)]) == 0
    assert capsys.readouterr().out.split("\t")[1] == "golden retriever"
    assert main(["--config", str(config), "classify", "--model", "cats", str(picture)]) == 2
    assert "no model 'cats': use one of dogs" in capsys.readouterr().err
