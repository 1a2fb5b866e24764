"""Manual runs: ``.venv/bin/python -m tests.fakes.wechat_sim [--port N] [--manual-scan]``.

Starts the simulator, prints the ``[wechat] login_url = ...`` line to paste into config.toml,
then reads commands from the terminal (``help`` lists them): post a chosen picture into a
chosen group as a chosen sender, scan the QR code, log the bot out, show what the bot sent.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from tests.fakes.wechat_sim.server import WeChatSimulator

HELP = """commands:
  post GROUP SENDER PICTURE   SENDER posts PICTURE (a file path, or class:N for a picture the
                              TF Serving stand-in classifies as class N) in GROUP
  text GROUP SENDER TEXT...   SENDER writes TEXT in GROUP
  ask GROUP SENDER TEXT...    SENDER writes "@bot TEXT" in GROUP (a question, with [ask])
  quote GROUP SENDER MSGID TEXT...   SENDER quotes message MSGID with "@bot TEXT" (引用)
  owner TEXT...               you write TEXT to your file helper (status, pause, forget 小明...)
  scan                        the phone scans and confirms the QR code (with --manual-scan)
  logout [CODE]               WeChat ends the bot's session (1100, 1101 or 1102; default 1101)
  sent                        what the bot sent since the last `sent`
  help                        this list
  quit                        stop the simulator"""


def _picture(spec: str) -> bytes:
    if spec.startswith("class:"):
        from tests.fakes.tfserving import image_for_class, jpeg_bytes

        return jpeg_bytes(image_for_class(1001, int(spec.removeprefix("class:"))))
    return Path(spec).expanduser().read_bytes()


def _groups(specs: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for spec in specs or ["我们一家=小明,小红"]:
        name, _, members = spec.partition("=")
        groups[name] = [m for m in members.split(",") if m] or ["小明"]
    return groups


class Console:
    """The commands of the manual simulator, one line at a time."""

    def __init__(self, sim: WeChatSimulator, out: TextIO) -> None:
        self.sim = sim
        self.out = out
        self.shown = 0

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
        command, args = words[0], words[1:]
        try:
            return self._run(command, args)
        except (OSError, ValueError, KeyError) as exc:
            self.say(f"{command}: {exc}")
            return True

    def _run(self, command: str, args: list[str]) -> bool:
        if command in ("quit", "exit"):
            return False
        if command == "post" and len(args) == 3:
            msg_id = self.sim.post_picture(args[0], args[1], _picture(args[2]))
            self.say(f"posted: {args[1]} in {args[0]} (MsgId {msg_id})")
        elif command == "text" and len(args) >= 3:
            self.sim.post_text(args[0], args[1], " ".join(args[2:]))
            self.say(f"posted text: {args[1]} in {args[0]}")
        elif command == "ask" and len(args) >= 3:
            self.sim.post_text(args[0], args[1], f"@{self.sim.me}\u2005{' '.join(args[2:])}")
            self.say(f"asked: {args[1]} in {args[0]}")
        elif command == "quote" and len(args) >= 4:
            text = f"@{self.sim.me}\u2005{' '.join(args[3:])}"
            msg_id = self.sim.post_quote(args[0], args[1], text, args[2])
            self.say(f"quoted {args[2]}: {args[1]} in {args[0]} (MsgId {msg_id})")
        elif command == "owner" and args:
            self.sim.post_text(None, self.sim.me, " ".join(args), to_filehelper=True)
            self.say("written to your file helper")
        elif command == "scan":
            self.sim.scan()
            self.say("scanned and confirmed")
        elif command == "logout":
            code = int(args[0]) if args else 1101
            self.sim.logout(code)
            self.say(f"the bot's session ends with retcode {code}")
        elif command == "sent":
            for s in self.sim.sent[self.shown :]:
                self.say(f"  bot -> {s.to_nickname or s.to_user}: {s.content!r}")
            self.shown = len(self.sim.sent)
        else:
            self.say(HELP)
        return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.wechat_sim",
        description="A local Web WeChat that the real itchat logs into, for trying the bot.",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: free)")
    parser.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="NAME=MEMBER,MEMBER",
        help="a group and its members (repeatable; default 我们一家=小明,小红)",
    )
    parser.add_argument(
        "--manual-scan",
        action="store_true",
        help="wait for the `scan` command instead of confirming the login by itself",
    )
    args = parser.parse_args(argv)
    sim = WeChatSimulator(port=args.port, auto_scan_after_s=None if args.manual_scan else 0.5)
    with sim:
        for name, members in _groups(args.group).items():
            sim.add_group(name, members)
            print(f"group {name}: {', '.join(members)}", flush=True)
        print(f"WeChat simulator at {sim.url}; put this in config.toml:", flush=True)
        print(f'  [wechat]\n  login_url = "{sim.url}"', flush=True)
        print("Type `help` for commands.", flush=True)
        console = Console(sim, sys.stdout)
        for line in sys.stdin:
            if not console.run(line):
                break
    return 0
