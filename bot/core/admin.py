"""Commands the account owner sends to the bot: status, pause, resume, reload, help.

Only the owner's messages reach this module (the chat adapter checks the sender: on WeChat,
the bot's own account writing to its file helper). The bot's own lines in that chat (audit
lines, earlier answers) may come back as messages too, so they are never taken as commands.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import Protocol

from bot.core.chat import Text
from bot.core.events import Command
from bot.core.pictures import Outbox
from bot.errors import BotError, ConfigError, ReloadRefused

log = logging.getLogger(__name__)

HELP = (
    "命令: status (状态), pause (暂停), resume (继续), reload (重新加载), "
    "forget 名字 (删除此人的记录), help (帮助)"
)
FORGET_WORDS = ("forget", "删除")
ALIASES = {
    "status": "status",
    "状态": "status",
    "pause": "pause",
    "暂停": "pause",
    "resume": "resume",
    "继续": "resume",
    "reload": "reload",
    "重新加载": "reload",
    "help": "help",
    "帮助": "help",
}
_ECHOES_KEPT = 50


class Controls(Protocol):
    def status_text(self) -> str: ...

    def set_paused(self, paused: bool) -> None: ...

    def reload(self) -> str:
        """Apply the config file again; return what changed, or raise BotError."""
        ...

    def forget(self, sender: str) -> int:
        """Delete every audit row of ``sender``; how many went."""
        ...


def parse_command(text: str) -> str | None:
    return ALIASES.get(" ".join(text.split()).lower())


def status_text(
    counts: Mapping[str, int],
    *,
    paused: bool,
    uptime_s: float,
    serving_ok: bool,
    groups: tuple[str, ...],
) -> str:
    handled = sum(v for k, v in counts.items() if k != "ignored")
    return (
        f"状态: {'已暂停' if paused else '运行中'}, 已运行 {uptime_s / 3600:.1f} 小时\n"
        f"图片: 已处理 {handled}, 回复 {counts.get('replied', 0)}, 不确定 "
        f"{counts.get('low_confidence', 0)}, 失败 {counts.get('failed', 0)}, 丢弃 "
        f"{counts.get('shed', 0)}, 忽略 {counts.get('ignored', 0)}\n"
        f"识图服务: {'正常' if serving_ok else '无响应'}\n"
        f"群: {', '.join(groups) or '(无)'}"
    )


def reload_refusal(exc: BotError) -> str:
    """What the owner is told when reload fails: what is wrong, never a path."""
    if isinstance(exc, ConfigError):
        return "配置有误, 仍使用原配置: " + "; ".join(exc.problems)
    if isinstance(exc, ReloadRefused):
        return f"需要重启才能生效, 仍使用原配置: {str(exc).splitlines()[0]}"
    return f"配置有误, 仍使用原配置: {str(exc).splitlines()[0]}"


def run_command(command: str, controls: Controls) -> str:
    if command == "status":
        return controls.status_text()
    if command == "pause":
        controls.set_paused(True)
        return "已暂停: 图片不再识别 (发送 resume 继续)"
    if command == "resume":
        controls.set_paused(False)
        return "已继续: 识别图片"
    if command == "reload":
        try:
            return "配置已重新读取: " + controls.reload()
        except BotError as exc:
            return reload_refusal(exc)
    return HELP


class CommandDesk:
    """Takes the owner's messages, runs commands, answers through the paced outbox."""

    def __init__(self, controls: Controls, *, outbox: Outbox, reply_to: str) -> None:
        self._controls = controls
        self._outbox = outbox
        self._reply_to = reply_to
        self._sent: deque[str] = deque(maxlen=_ECHOES_KEPT)

    def _post(self, text: str) -> None:
        self._sent.append(" ".join(text.split()))
        self._outbox.post(self._reply_to, Text(text))

    def handle(self, event: Command) -> None:
        words = " ".join(event.text.split())
        if not words or words in self._sent or words.startswith("["):
            return  # an echo of the bot's own answers or audit lines
        head, _, name = words.partition(" ")
        if head.lower() in FORGET_WORDS and name:
            try:
                gone = self._controls.forget(name)
            except BotError as exc:
                log.warning("owner command: forget one person failed: %s", exc)
                self._post(f"没有删除 {name} 的记录: {exc}")
                return
            log.info("owner command: forget one person (%d rows)", gone)
            self._post(f"已删除 {name} 的 {gone} 条记录")
            return
        command = parse_command(words)
        if command is None:
            self._post(f"不认识的命令。{HELP}")
            return
        log.info("owner command: %s", command)
        self._post(run_command(command, self._controls))
