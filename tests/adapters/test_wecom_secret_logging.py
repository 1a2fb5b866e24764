"""The CLI's logging keeps secrets out of every log line: ``websockets`` (which logs each frame
it sends, the WeCom login frame ending with the Secret) stays quiet at any verbosity, and every
secret the config read, or any piece of one, becomes ``[secret]``."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import cli
from bot.config import load_config
from tests.botproc import write_bot_config

WECOM_SECRET = "Sk9vQ2mW7xR4tZ8pL3nB6hJ5cDfG1aE0yU7iOq3"
TOKEN, PASSWORD, ASK_KEY = "tok-5Hq8Zr2Vw", "pw-Xe7Lm4Nd9", "sk-ask-3Jt6Yk0Bp"
LOGIN_FRAME = (
    '> TEXT \'{"cmd": "aibot_subscribe", "headers": {"req_id"...'
    + WECOM_SECRET[-20:]
    + "\"}}' [178 bytes]"
)


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = logging.getLogger("websockets").level
    yield
    root.handlers[:], root.level = handlers, level
    logging.getLogger("websockets").setLevel(quiet)


def config_with_secrets(tmp_path: Path) -> Path:
    return write_bot_config(
        tmp_path,
        wechat_url="http://127.0.0.1:9",
        serving_url="http://127.0.0.1:9",
        chat='transport = "wecom"',
        serving='username = "bot"',
        extra='[wecom]\nbot_id = "aibBOT"\n[ask]\nurl = "http://127.0.0.1:9/v1"\nmodel = "m"\n',
    )


def test_every_secret_the_config_read_is_known_to_the_log_filter(tmp_path: Path) -> None:
    env = {
        "WECHAT_VISION_BOT_WECOM_SECRET": WECOM_SECRET,
        "WECHAT_VISION_BOT_TOKEN": TOKEN,
        "WECHAT_VISION_BOT_PASSWORD": PASSWORD,
        "WECHAT_VISION_BOT_ASK_KEY": ASK_KEY,
    }
    config = load_config(config_with_secrets(tmp_path), env=env)
    assert set(cli._secrets_in(config)) == {WECOM_SECRET, TOKEN, PASSWORD, ASK_KEY}


def test_websockets_frames_stay_out_of_the_log_with_v(root_logging: None) -> None:
    cli._setup_logging(verbose=True, level=logging.INFO)
    assert logging.getLogger("bot").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("websockets.client").isEnabledFor(logging.DEBUG)


def test_a_log_line_with_the_tail_of_a_secret_shows_none_of_it(root_logging: None) -> None:
    cli._setup_logging(verbose=True, level=logging.INFO)
    cli._SECRETS.secrets.add(WECOM_SECRET)
    out = io.StringIO()
    logging.getLogger().handlers[0].setStream(out)  # type: ignore[attr-defined]
    logging.getLogger("aibot").debug("%s", LOGIN_FRAME)
    logging.getLogger("bot").warning("token %s, then %s", WECOM_SECRET, WECOM_SECRET[5:25])
    text = out.getvalue()
    assert text.count("[secret]") == 3
    assert not any(WECOM_SECRET[i : i + 4] in text for i in range(len(WECOM_SECRET) - 3))


def test_a_log_line_without_secrets_is_left_alone() -> None:
    hider = cli._NoSecrets()
    hider.secrets.add(WECOM_SECRET)
    assert hider.redact("picture 7f3c from xiaoming: Egyptian cat") == (
        "picture 7f3c from xiaoming: Egyptian cat"
    )
