"""The command line, end to end against a TF Serving stand-in on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests import gallery
from tests.conftest import LABELS_XLSX, REPO, WriteConfig, free_port
from tests.fakes.tfserving import FakeTFServing, ModelSpec, image_for_class

EN = LABELS_XLSX  # the shipped table; English names make assertions readable


@pytest.fixture
def resnet() -> Iterator[FakeTFServing]:
    with FakeTFServing(ModelSpec()) as srv:
        yield srv


def picture(tmp_path: Path, class_id: int, name: str = "x.jpg", num_classes: int = 1001) -> Path:
    path = tmp_path / name
    path.write_bytes(gallery.jpeg(image_for_class(num_classes, class_id, (1440, 1080))))
    return path


def test_classify_prints_the_table_name_of_class_minus_one(
    resnet: FakeTFServing,
    write_config: WriteConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = write_config('column = "class_EN"\n', serving_url=resnet.url)
    code = main(["--config", str(cfg), "classify", str(picture(tmp_path, 286))])
    out = capsys.readouterr().out
    assert code == 0
    name, label, probability = out.split("\t")[:3]
    assert (name, label, probability) == (str(tmp_path / "x.jpg"), "Egyptian cat", "90.0%")
    assert "ms" in out and "B sent" in out


def test_classify_in_chinese_by_default(
    resnet: FakeTFServing,
    write_config: WriteConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = write_config(serving_url=resnet.url)
    assert main(["classify", str(picture(tmp_path, 282)), "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.split("\t")[1] == "虎斑猫"


def test_check_reports_jpeg_input_and_offset_one(
    resnet: FakeTFServing, write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(serving_url=resnet.url)
    assert main(["check", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "offset   1 (auto: class 0 is background" in out
    assert "input    JPEG bytes in input 'image_bytes'" in out
    assert out.rstrip().endswith("ok: ready to classify")


def test_check_reports_offset_zero_for_a_1000_class_model(
    write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeTFServing(ModelSpec(num_classes=1000, outputs="single")) as srv:
        assert main(["check", "--config", str(write_config(serving_url=srv.url))]) == 0
    assert "offset   0 (auto: model class i = table row i)" in capsys.readouterr().out


def test_model_that_does_not_fit_the_table_is_a_clear_error(
    write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeTFServing(ModelSpec(num_classes=120, outputs="single")) as srv:
        assert main(["check", "--config", str(write_config(serving_url=srv.url))]) == 2
    err = capsys.readouterr().err
    assert "answers 120 classes but the label table has 1000 names" in err


@pytest.mark.parametrize("command", ["check", "classify"])
def test_stopped_server_gives_exit_2_and_one_line_naming_the_url(
    command: str, write_config: WriteConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    args = ["--config", str(write_config(serving_url=url)), command]
    if command == "classify":
        args.append(str(picture(tmp_path, 1)))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert url in err and "start it" in err
    assert "Traceback" not in err


def test_bad_pictures_are_reported_and_the_rest_still_classified(
    resnet: FakeTFServing,
    write_config: WriteConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = write_config('column = "class_EN"\n', serving_url=resnet.url)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    good = picture(tmp_path, 2, "good.jpg")
    code = main(
        ["--config", str(cfg), "classify", str(empty), str(tmp_path / "missing.jpg"), str(good)]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out.split("\t")[:2] == [str(good), "goldfish"]
    assert f"{empty}: not classified: the picture is empty (0 bytes)" in captured.err
    assert f"{tmp_path / 'missing.jpg'}: cannot read" in captured.err
    assert "2 of 3 pictures not classified" in captured.err


def test_config_error_exits_2_without_traceback(
    write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config("[reply]\ntop_k = 0\n")
    assert main(["--config", str(cfg), "check"]) == 2
    err = capsys.readouterr().err
    assert "[reply] top_k = 0" in err and "Traceback" not in err


def test_python_dash_m_bot_and_the_console_script_both_run(
    resnet: FakeTFServing, write_config: WriteConfig
) -> None:
    cfg = write_config(serving_url=resnet.url)
    script = Path(sys.executable).parent / "wechat-vision-bot"
    for argv in ([sys.executable, "-m", "bot"], [str(script)]):
        done = subprocess.run(
            [*argv, "--config", str(cfg), "check"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "ok: ready to classify" in done.stdout


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.metadata

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    version = importlib.metadata.version("wechat-vision-bot")
    assert capsys.readouterr().out == f"wechat-vision-bot {version}\n"


def test_a_receive_loop_that_failed_locally_exits_75_which_systemd_restarts(
    monkeypatch: pytest.MonkeyPatch, write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot import daemon
    from bot.errors import ReceiveFailed, SessionEnded

    def failed_locally(config: object) -> int:
        raise ReceiveFailed("the receive loop stopped after 2 h of running, on errors here")

    def ended_by_wechat(config: object) -> int:
        raise SessionEnded("WeChat ended this session (1101)")

    cfg = write_config()
    monkeypatch.setattr(daemon, "run", failed_locally)
    assert main(["--config", str(cfg), "run"]) == 75
    monkeypatch.setattr(daemon, "run", ended_by_wechat)
    assert main(["--config", str(cfg), "run"]) == 2
    err = capsys.readouterr().err
    assert "error: the receive loop stopped after 2 h" in err and "Traceback" not in err
    unit = (REPO / "deploy" / "wechat-vision-bot.service").read_text(encoding="utf-8")
    assert "Restart=on-failure" in unit and "RestartPreventExitStatus=2\n" in unit


def test_check_reports_every_problem_not_only_the_first(
    write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(serving_url=f"http://127.0.0.1:{free_port()}")  # TF Serving down
    assert main(["check", "--config", str(cfg)]) == 2

    captured = capsys.readouterr()
    topics = [line.split()[0] for line in captured.out.splitlines() if line.strip()]
    assert topics[:2] == ["config", "serving"]
    assert "problem: TF Serving at http://127.0.0.1:" in captured.out
    [problem] = [line for line in captured.out.splitlines() if "problem:" in line]
    assert problem.endswith("…"), problem  # cut short on stdout, said whole on stderr
    assert {"state", "groups", "ask", "audit"} <= set(topics)  # the later steps still ran
    assert captured.err.startswith("error: TF Serving at http://127.0.0.1:")
    assert "ok: ready to classify" not in captured.out
