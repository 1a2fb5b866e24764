"""How ``WeChatChat.run`` reports the end of the receive loop: WeChat's verdict only when
WeChat gave one (a retcode); otherwise the failure was on this side and is said so.

itchat's last words reach the chat the way they do in ``run``: logged on the ``itchat`` logger
at the level ``connect`` sets, to the retcode catcher ``connect`` attaches there.
"""

from __future__ import annotations

import io
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.wechat.chat import WeChatChat
from bot.adapters.wechat.settings import WeChatConfig
from bot.errors import ReceiveFailed, SessionEnded


class ReceiveLoopThatDies:
    """itchat after its receive loop gave up: ``run`` returns, ``alive`` is False."""

    alive = False

    def run(self, blockThread: bool) -> None:
        return None


@pytest.fixture
def itchat_log() -> Iterator[logging.Logger]:
    """The ``itchat`` logger as ``connect`` leaves it: its DEBUG lines are emitted."""
    logger = logging.getLogger("itchat")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    yield logger
    logger.setLevel(level)


@pytest.fixture
def chat(tmp_path: Path, itchat_log: logging.Logger) -> Iterator[WeChatChat]:
    """A chat whose receive loop has ended, listening to itchat's log as ``connect`` has it."""
    chat = WeChatChat(
        WeChatConfig(),
        state_dir=tmp_path,
        download_timeout_s=5.0,
        max_bytes=1_000_000,
        out=io.StringIO(),
    )
    chat._itchat = ReceiveLoopThatDies()
    itchat_log.addHandler(chat._retcodes)
    chat._ended.set()  # itchat calls exitCallback whatever ended the loop
    yield chat
    itchat_log.removeHandler(chat._retcodes)


def test_a_receive_loop_dead_without_a_retcode_is_not_blamed_on_wechat(
    chat: WeChatChat, itchat_log: logging.Logger
) -> None:
    # itchat's last words when this process is out of file descriptors, as its receive loop
    # logs them (logger.error(traceback.format_exc())): numbers, but no retcode
    try:
        raise OSError(24, "Too many open files")
    except OSError:
        itchat_log.error(traceback.format_exc())
    with pytest.raises(ReceiveFailed) as ended:
        chat.run()
    assert str(ended.value).startswith("the receive loop stopped after 0 s of running")
    assert "on this machine or its network" in str(ended.value)
    assert "not because WeChat ended the session" in str(ended.value)


def test_a_retcode_from_wechat_is_still_reported_as_wechat_ending_the_session(
    chat: WeChatChat, itchat_log: logging.Logger
) -> None:
    # itchat's sync_check logs an unexpected answer at DEBUG, and nothing else about it
    itchat_log.debug('Unexpected sync check result: window.synccheck={retcode:"1101",selector:"0"}')
    with pytest.raises(SessionEnded, match="1101"):
        chat.run()
