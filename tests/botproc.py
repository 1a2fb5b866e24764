"""Run the real ``wechat-vision-bot run`` as a child process against local stand-ins."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.core.settings import MOVED_TO_CHAT
from tests import gallery
from tests.conftest import LABELS_XLSX, REPO
from tests.fakes.tfserving import image_for_class

FAMILY, WORK, OTHER = "我们一家", "工作群", "别的群"


def class_photo(class_id: int, size: tuple[int, int] = (1440, 1080)) -> bytes:
    return gallery.jpeg(image_for_class(1001, class_id, size))


def _merged(defaults: dict[str, str], extra: str) -> dict[str, str]:
    """``defaults``, each overridden by a `key = value` line of ``extra``."""
    merged = dict(defaults)
    for line in extra.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            merged[key.strip()] = value.strip()
    return merged


def _lines(keys: dict[str, str]) -> str:
    return "".join(f"{k} = {v}\n" for k, v in keys.items())


def _merge(defaults: dict[str, str], extra: str) -> str:
    """TOML lines from defaults, each overridden by a `key = value` line of ``extra``."""
    return _lines(_merged(defaults, extra))


def write_bot_config(
    tmp_path: Path,
    *,
    wechat_url: str,
    serving_url: str,
    wechat: str = "",
    reply: str = "",
    serving: str = "",
    groups: str = f'["{FAMILY}", "{WORK}"]',
    chat: str = "",
    extra: str = "",
    labels: str = f'file = "{LABELS_XLSX.as_posix()}"\ncolumn = "class_EN"\n',
) -> Path:
    """config.toml for the bot under test; ``extra`` is appended as is (more sections)."""
    serving_keys = {
        "url": f'"{serving_url}"',
        "model": '"resnet"',
        "retries": "1",
        "retry_backoff_s": "0.05",
        "timeout_s": "10",
    }
    wechat_keys = {
        "login_url": f'"{wechat_url}"',
        "state_dir": '"state"',
        "groups": groups,
        "min_send_interval_s": "0.05",
        "send_jitter_s": "0",
        "shutdown_timeout_s": "5",
    }
    # ``wechat`` may hold keys every transport shares: they are written in [chat], their place.
    both = _merged(wechat_keys, wechat)
    shared = _merged({k: v for k, v in both.items() if k in MOVED_TO_CHAT}, chat)
    own = {k: v for k, v in both.items() if k not in MOVED_TO_CHAT}
    path = tmp_path / "config.toml"
    path.write_text(
        f"[serving]\n{_merge(serving_keys, serving)}"
        f"[labels]\n{labels}"
        f"[reply]\n{_merge({'apology_interval_s': '600'}, reply)}"
        f"[chat]\n{_lines(shared)}[wechat]\n{_lines(own)}"
        '[audit]\npath = "audit.sqlite3"\n' + extra,
        encoding="utf-8",
    )
    return path


class BotProcess:
    def __init__(
        self, config: Path, *, args: tuple[str, ...] = (), env: dict[str, str] | None = None
    ) -> None:
        self.config = config
        self.dir = config.parent
        self.out_path = self.dir / f"bot-{time.monotonic_ns()}.out"
        self.err_path = self.out_path.with_suffix(".err")
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "--config", str(config), *args, "run"],
                cwd=REPO,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_output(self, text: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.stdout:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"no {text!r} in the bot's output (exit {self.proc.poll()}):\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )

    def wait_logged_in(self) -> None:
        self.wait_for_output("Ready: answering pictures")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout_s)

    def stop_drained(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        """Stop the bot cleanly: it finishes the pictures in hand and sends everything queued
        before it exits, so afterwards nothing more can reach a chat — a positive marker for
        "no (further) message was sent", instead of a fixed sleep."""
        code = self.stop(sig, timeout_s)
        assert code == 0, f"bot exited {code}:\n{self.stderr}"
        assert "stopped with" not in self.stderr, f"bot did not drain:\n{self.stderr}"

    def wait(self, timeout_s: float = 20.0) -> int:
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"bot did not exit in {timeout_s} s:\n{self.stderr}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_until(
    predicate: Callable[[], object], timeout_s: float = 30.0, *, what: str = "condition"
) -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout_s`` (generous: slow machines)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} never became true within {timeout_s} s")


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def audit_rows(db: Path) -> list[dict[str, object]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM pictures ORDER BY seen_at")]


def wait_for_rows(
    db: Path, predicate: Callable[[list[dict[str, object]]], bool], timeout_s: float = 15.0
) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout_s
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        if db.exists():
            try:
                rows = audit_rows(db)
            except sqlite3.OperationalError:
                rows = []
            if predicate(rows):
                return rows
        time.sleep(0.05)
    raise AssertionError(f"audit rows never matched: {rows}")
