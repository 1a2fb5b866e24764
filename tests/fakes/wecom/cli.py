"""``python -m tests.fakes.wecom``: the WeCom stand-in by hand, to try the bot's WeCom transport
without a WeCom account. It prints the config and the secret to export, then reads commands:
post a picture or a text from a user (single chat) or in a group, and see what the bot sent."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from tests.fakes.wecom.standin import WeComStandIn

HELP = """commands:
  image USER PICTURE            USER sends PICTURE in a single chat with the bot (a file path,
                                or class:N for a picture the TF Serving stand-in calls class N)
  mixed GROUP USER PICTURE [TEXT...]   USER posts PICTURE in GROUP with "@bot TEXT"
  text USER TEXT...             USER writes TEXT in a single chat (the owner's commands go so)
  at GROUP USER TEXT...         USER writes "@bot TEXT" in GROUP
  sent                          what the bot sent since the last `sent`
  help                          this list
  quit                          stop the stand-in"""


def _picture(spec: str) -> bytes:
    if spec.startswith("class:"):
        from tests.fakes.tfserving import image_for_class, jpeg_bytes

        return jpeg_bytes(image_for_class(1001, int(spec.removeprefix("class:"))))
    return Path(spec).expanduser().read_bytes()


class Console:
    """The commands of the manual stand-in, one line at a time."""

    def __init__(self, wecom: WeComStandIn, out: TextIO) -> None:
        self.wecom = wecom
        self.out = out
        self.shown = 0
        self.groups: dict[str, str] = {}  # the name typed -> a chatid of the stand-in

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def run(self, line: str) -> bool:
        """Carry out one command; False to stop."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            self.say(f"cannot read that line: {exc}")
            return True
        if not words:
            return True
        try:
            return self._run(words[0], words[1:])
        except (OSError, ValueError, KeyError) as exc:
            self.say(f"{words[0]}: {exc}")
            return True

    def _chat(self, name: str) -> str:
        if name not in self.groups:
            self.groups[name] = self.wecom.new_chatid()
            self.say(f"group {name} is chatid {self.groups[name]}")
        return self.groups[name]

    def _run(self, command: str, args: list[str]) -> bool:
        w = self.wecom
        if command in ("quit", "exit"):
            return False
        if command == "image" and len(args) == 2:
            posted = w.post_image(args[0], _picture(args[1]))
            self.say(f"sent: {args[0]} -> bot, a picture (msgid {posted.msgid})")
        elif command == "mixed" and len(args) >= 3:
            text = f"@{w.bot_name} {' '.join(args[3:])}".strip()
            posted = w.post_mixed(self._chat(args[0]), args[1], text, [_picture(args[2])])
            self.say(f"posted: {args[1]} in {args[0]}, a picture with {text!r} ({posted.msgid})")
        elif command == "text" and len(args) >= 2:
            posted = w.post_text(None, args[0], " ".join(args[1:]))
            self.say(f"sent: {args[0]} -> bot, text (msgid {posted.msgid})")
        elif command == "at" and len(args) >= 3:
            text = f"@{w.bot_name} {' '.join(args[2:])}"
            posted = w.post_text(self._chat(args[0]), args[1], text)
            self.say(f"posted: {args[1]} in {args[0]}: {text!r} ({posted.msgid})")
        elif command == "sent":
            self._show_sent()
        else:
            self.say(HELP)
        return True

    def _show_sent(self) -> None:
        frames = [f for f in self.wecom.frames if f.cmd in ("aibot_respond_msg", "aibot_send_msg")]
        for f in frames[self.shown :]:
            if f.cmd == "aibot_respond_msg":
                done = "" if f.finish else " (so far)"
                self.say(f"  bot -> reply to {f.req_id}{done}: {f.stream.get('content')!r}")
            else:
                self.say(f"  bot -> {f.body.get('chatid')}: {f.body.get('markdown')!r}")
        self.shown = len(frames)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.wecom",
        description="A local WeCom AI-bot long connection that the real SDK logs into.",
    )
    parser.add_argument("--bot-id", default="aibTryItOut0001", help="the Bot ID it accepts")
    parser.add_argument("--secret", default="try-it-out-secret", help="the Secret it accepts")
    args = parser.parse_args(argv)
    with WeComStandIn(bot_id=args.bot_id, secret=args.secret) as wecom:
        print("WeCom stand-in ready. Put this in config.toml:", flush=True)
        print(
            f'  [chat]\n  transport = "wecom"\n  [wecom]\n  bot_id = "{args.bot_id}"\n'
            f'  ws_url = "{wecom.ws_url}"\n  ca_file = "{wecom.ca_file}"\n  chats = ["*"]\n'
            '  owner = "boss"',
            flush=True,
        )
        print(f"and run the bot with:\n  export WECHAT_VISION_BOT_WECOM_SECRET={args.secret}")
        print("Type `help` for commands.", flush=True)
        console = Console(wecom, sys.stdout)
        for line in sys.stdin:
            if not console.run(line):
                break
    return 0
