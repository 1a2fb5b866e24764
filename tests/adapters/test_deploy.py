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
    assert config.wechat.state_dir == Path("/state")
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
    unit.read(REPO / "deploy" / "wechat-vision-bot.service", encoding="utf-8")
    service = unit["Service"]
    assert service["ExecStart"].endswith(" run")
    assert "--config" in service["ExecStart"]
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"
    assert service["KillSignal"] == "SIGTERM"
    assert service["StateDirectoryMode"] == "0700"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_unit_passes_systemd_analyze() -> None:
    done = subprocess.run(
        ["systemd-analyze", "verify", str(REPO / "deploy" / "wechat-vision-bot.service")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Unknown key" not in done.stderr and "Invalid" not in done.stderr, done.stderr
