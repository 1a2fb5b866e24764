"""The real ``wechat-vision-bot run`` as a child process, against the test stand-ins.

The process, its config file, the audit-log reader and the RSS reading are the test suite's
(``tests/botproc.py``); what is here is only what the benchmarks add: four groups, a TF Serving
stand-in that notes when it computed each answer, and times measured from the spawn.
The stand-ins (a Web WeChat simulator that the real itchat logs into, and a TF Serving REST
server) come from ``tests/fakes`` and run in this process, on 127.0.0.1.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from PIL import Image

from tests.botproc import BotProcess, audit_rows, rss_mib, write_bot_config
from tests.fakes.tfserving import FakeTFServing, ModelSpec, default_classify
from tests.fakes.wechat_sim import WeChatSimulator

GROUPS = ("我们一家", "工作群", "同学会", "摄影爱好者")
MEMBERS = ("小明", "小红", "老王", "小李", "阿强")
READY = "Ready: answering pictures"


def simulator() -> WeChatSimulator:
    sim = WeChatSimulator(auto_scan_after_s=0.05, synccheck_hold_s=0.5)
    for group in GROUPS:
        sim.add_group(group, list(MEMBERS))
    return sim


class TimedServing:
    """A fake TF Serving that notes when each prediction was computed (time.monotonic)."""

    def __init__(self, *, delay_s: float = 0.0, max_concurrent: int | None = None) -> None:
        self.done: list[float] = []
        self._lock = threading.Lock()
        self.server = FakeTFServing(ModelSpec(classify=self._classify))
        self.server.delay_s = delay_s
        self.server.max_concurrent = max_concurrent

    def _classify(self, image: Image.Image) -> int:
        found = default_classify(image, 1001)
        with self._lock:
            self.done.append(time.monotonic())
        return found

    @property
    def url(self) -> str:
        return self.server.url

    def reset(self) -> None:
        with self._lock:
            self.done.clear()
        self.server.reset_records()

    def close(self) -> None:
        self.server.close()


def _toml(v: str | float | bool) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, int | float) else f'"{v}"'


def write_config(
    folder: Path, *, wechat_url: str, serving_url: str, chat: str = "", **wechat: str | float | bool
) -> Path:
    """The test suite's config.toml for ``run`` in ``folder``, answering in the four groups.

    ``wechat`` overrides [wechat] keys; everything not set there or in ``tests/botproc.py``
    (images, workers, queue_size, ...) is the bot's default.
    """
    return write_bot_config(
        folder,
        wechat_url=wechat_url,
        serving_url=serving_url,
        wechat="\n".join(f"{k} = {_toml(v)}" for k, v in wechat.items()),
        groups="[" + ", ".join(f'"{g}"' for g in GROUPS) + "]",
        chat=chat,
    )


class BotRun(BotProcess):
    """The test suite's bot process, with times measured from the spawn."""

    def __init__(self, config: Path) -> None:
        self.spawned = time.monotonic()
        super().__init__(config)

    def wait_for(self, text: str, timeout_s: float = 60.0) -> float:
        """Seconds from the spawn until ``text`` is in stdout (polled every 5 ms)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.stdout:
                return time.monotonic() - self.spawned
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        raise RuntimeError(
            f"the bot never printed {text!r} (exit {self.proc.poll()}):\n"
            f"--- stdout\n{self.stdout[-2000:]}\n--- stderr\n{self.stderr[-4000:]}"
        )

    def wait_ready(self) -> float:
        """Seconds until logged in with the groups resolved (the "Ready:" line)."""
        return self.wait_for(READY)

    def rss_mib(self) -> float:
        return rss_mib(self.proc.pid)


def audit_now(db: Path) -> list[dict[str, object]]:
    """The audit rows as they are now; none while the log does not exist yet."""
    if not db.exists():
        return []
    try:
        return audit_rows(db)
    except sqlite3.OperationalError:  # created but not yet initialised, or busy
        return []
