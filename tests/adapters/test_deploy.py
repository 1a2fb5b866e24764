"""Deployment files: docker-compose.yml, the Dockerfile and the systemd unit are consistent
with each other and with the bot. (No Docker engine runs here: the compose file is parsed
and checked, not started.)"""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import load_config
from tests.conftest import REPO

UNIT = REPO / "deploy" / "wechat-vision-bot.service"


def compose() -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def test_compose_runs_the_bot_beside_tf_serving_with_the_resnet_model() -> None:
    services = compose()["services"]
    assert set(services) == {"tfserving", "bot"}
    tfs = services["tfserving"]
    assert tfs["image"].startswith("tensorflow/serving:")
    assert tfs["environment"]["MODEL_NAME"] == "resnet"
    assert "./models/resnet:/models/resnet:ro" in tfs["volumes"]
    assert services["bot"]["depends_on"] == ["tfserving"]


def test_compose_keeps_the_bot_state_on_a_volume_and_the_page_on_localhost() -> None:
    doc = compose()
    bot = doc["services"]["bot"]
    assert "bot-state:/state" in bot["volumes"]
    assert "bot-state" in doc["volumes"]
    assert all(str(p).startswith("127.0.0.1:") for p in bot["ports"])
    assert bot["stop_signal"] == "SIGTERM"


def test_compose_config_is_a_valid_bot_config_pointing_at_the_tfserving_service() -> None:
    bot = compose()["services"]["bot"]
    mount = next(v for v in bot["volumes"] if v.endswith(":ro") and "config" in v)
    host_path, container_path, _ = mount.split(":")
    config = load_config(REPO / host_path, env={})
    assert config.serving.url == "http://tfserving:8501"
    assert config.chat.state_dir == Path("/state")
    assert config.warnings == ()
    assert config.status.listen == ("0.0.0.0", 8080)
    assert config.labels.file.resolve() == (REPO / "labels" / "imagenet1k.xlsx").resolve()
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert f'CMD ["--config", "{container_path}", "run"]' in dockerfile


def test_dockerfile_copies_only_files_that_exist_and_drops_root() -> None:
    lines = (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines()
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
    assert any(line.startswith("USER ") and "root" not in line for line in lines)


def test_systemd_unit_runs_the_bot_without_looping_on_a_needed_rescan() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(UNIT, encoding="utf-8")
    service = unit["Service"]
    assert service["ExecStart"].endswith(" run")
    assert "--config" in service["ExecStart"]
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"
    assert service["KillSignal"] == "SIGTERM"
    assert service["StateDirectoryMode"] == "0700"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze here")
    # The unit names paths that exist only on the server (/opt/wechat-vision-bot/.venv/...):
    # verify it unchanged inside a root that holds it and a stub of its ExecStart program.
    # verify exits non-zero on any problem it finds in the unit (an unknown key, a value it
    # cannot parse, a program that is not there); the units it pulls in (sysinit.target, ...)
    # are the host's business, not this file's (--recursive-errors=no).
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(UNIT, encoding="utf-8")
    program = unit["Service"]["ExecStart"].split()[0].lstrip("-@:+!")
    root = tmp_path / "root"
    installed = root / "etc" / "systemd" / "system" / UNIT.name
    installed.parent.mkdir(parents=True)
    shutil.copyfile(UNIT, installed)
    stub = root / program.lstrip("/")
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\n", encoding="utf-8")
    stub.chmod(0o755)
    done = subprocess.run(
        [
            analyze,
            "verify",
            f"--root={root}",
            "--recursive-errors=no",
            "--man=no",
            f"/etc/systemd/system/{UNIT.name}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # not even a warning
