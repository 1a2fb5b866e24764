"""How ``WeChatChat.run`` reports the end of the receive loop: WeChat's verdict only when
WeChat gave one (a retcode); otherwise the failure was on this side and is said so."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from bot.adapters.wechat.chat import WeChatChat
from bot.core.settings import WeChatConfig
from bot.errors import ReceiveFailed, SessionEnded


class ReceiveLoopThatDies:
    """itchat after its receive loop gave up: ``run`` returns, ``alive`` is False."""

    alive = False

    def run(self, blockThread: bool) -> None:
        return None


def ended_chat(tmp_path: Path) -> WeChatChat:
    chat = WeChatChat(WeChatConfig(state_dir=tmp_path), max_bytes=1_000_000, out=io.StringIO())
    chat._itchat = ReceiveLoopThatDies()
    chat._ended.set()  # itchat calls exitCallback whatever ended the loop
    return chat


def test_a_receive_loop_dead_without_a_retcode_is_not_blamed_on_wechat(tmp_path: Path) -> None:
    chat = ended_chat(tmp_path)
    # itchat's last words when this process is out of file descriptors: no retcode
    logging.getLogger("itchat").error("OSError: [Errno 24] Too many open files")
    with pytest.raises(ReceiveFailed) as ended:
        chat.run()
    assert not isinstance(ended.value, SessionEnded)
    assert str(ended.value).startswith("the receive loop stopped after 0 s of running")
    assert "on this machine or its network" in str(ended.value)
    assert "not because WeChat ended the session" in str(ended.value)


def test_a_retcode_from_wechat_is_still_reported_as_wechat_ending_the_session(
    tmp_path: Path,
) -> None:
    chat = ended_chat(tmp_path)
    chat._retcodes.emit(logging.makeLogRecord({"msg": 'window.synccheck={retcode:"1101"}'}))
    with pytest.raises(SessionEnded, match="1101"):
        chat.run()
