"""The owner's ``reload`` (``bot.app.bot.BotControls``): what a restart must apply is refused
whole, with its own error, and nothing changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from bot.app.bot import BotControls
from bot.config import load_config
from bot.errors import ConfigError, ReloadRefused
from tests.conftest import WriteConfig


class Untouched:
    """Stands for every part reload would change: touching any of it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"reload touched {name} although it refused")


def controls(path: Path) -> BotControls:
    part = cast(Any, Untouched())
    return BotControls(
        load_config(path, env={}),
        service=part,
        questions=part,
        pause=part,
        chat=part,
        telemetry=part,
        audit=part,
    )


@pytest.mark.parametrize(
    "change",
    [
        '\n[models.cats.serving]\nmodel = "cats"\n',
        '\n[chat]\ntransport = "wecom"\n[wecom]\nbot_id = "aib123"\n',
        "\n[chat]\nworkers = 7\n",
    ],
)
def test_reload_refuses_what_only_a_restart_applies(write_config: WriteConfig, change: str) -> None:
    path = write_config('[wechat]\ngroups = ["家庭群"]\n')
    bot = controls(path)
    path.write_text(path.read_text(encoding="utf-8") + change, encoding="utf-8")

    with pytest.raises(ReloadRefused) as refused:
        bot.reload()
    assert "need a restart" in str(refused.value)


def test_reload_of_a_broken_file_is_refused_with_the_problem(write_config: WriteConfig) -> None:
    path = write_config('[wechat]\ngroups = ["家庭群"]\n')
    bot = controls(path)
    path.write_text(
        path.read_text(encoding="utf-8") + '\n[models.dogs]\nserving = "http://x"\n',
        encoding="utf-8",
    )

    with pytest.raises(ConfigError) as refused:
        bot.reload()
    assert refused.value.problems[0].startswith("[models.dogs] serving = 'http://x': must be")
