"""Commands the account owner sends to their own file helper: status, pause, resume, reload.

Only messages the bot's own account writes to ``filehelper`` reach this module (the chat
adapter checks the sender), and only an exact command word is a command, so the bot's own
audit lines in the file helper are never mistaken for one.
"""

from __future__ import annotations

from typing import Protocol

from bot.errors import BotError

HELP = "命令: status (状态), pause (暂停), resume (继续), reload (重新读取配置)"
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


class Controls(Protocol):
    def status_text(self) -> str: ...

    def set_paused(self, paused: bool) -> None: ...

    def reload(self) -> str:
        """Apply the config file again; return what changed, or raise BotError."""
        ...


def parse_command(text: str) -> str | None:
    return ALIASES.get(" ".join(text.split()).lower())


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
            first = str(exc).splitlines()[0]
            return f"配置有误, 仍使用原配置: {first}"
    return HELP
