"""What both soak runs share (issue 20): the bot process restarted the way systemd would, faults
that last a while and end on their own while pictures keep coming, RSS and fd samples, the
audit log held by another writer and its disk full.

The run is a loop of ticks: each tick posts a message (or a burst), starts a fault when one is
due and ends the faults whose time is up, so nothing the harness does stops the traffic. The
random choices come from the seed: what to post and where from one generator, which fault,
when and for how long from another, so the faults of a seed repeat whatever the machine's
speed (a fault that needs the bot up — a kill — becomes a duplicate when it is not); the
timing of a shared 2-core machine does not, so a seed repeats the run's plan, not its every
interleaving.
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import READY, audit_now
from bot.adapters.audit import AuditLog
from tests import gallery
from tests.botproc import BotProcess, rss_mib
from tests.fakes.tfserving import FakeTFServing, image_for_class

SHUTDOWN_TIMEOUT_S = 5.0  # [chat] shutdown_timeout_s of the soak's bot
STOP_LIMIT_S = SHUTDOWN_TIMEOUT_S + 10.0  # a SIGTERM must end the process within this
WARM_UP_S = 8.0  # RSS and fds after this long in a process are its "start"
RESTARTS_UNTIL = 0.6  # restarts only in the first 60 % of the run: the last process lives long
SETTLE_S = 120.0  # after the run, how long the bot may take to give every picture its row
# Final outcomes of a picture's row (``pending`` is the only one that is not).
FINAL = frozenset(
    {"replied", "failed", "shed", "ignored", "low_confidence", "quiet", "interrupted", "skipped"}
)
INTERRUPTED_SEND = "interrupted: the bot stopped before the reply was sent"
# Retention: rows the run starts with, seen long ago (purged at the first start, [audit]
# keep_days = 180 by default) and lately by one person, whom the owner has forgotten at the end.
OLD_ROWS, OLD_DAYS = 300, 400
RECENT_ROWS, RECENT_DAYS = 100, 30
FORGOTTEN = "路人乙"
SEEDED_REASON = "seeded by the soak run (retention)"
TFS_FAULTS = ("tfs_fail", "tfs_drop", "tfs_down", "tfs_slow")
CLASSES = (1, 5, 7, 100, 200, 286, 300, 400, 500, 600, 700, 907)


def photos() -> list[bytes]:
    """Small JPEGs of distinct classes (the stand-in model answers each with its label)."""
    return [gallery.jpeg(image_for_class(1001, c, (640, 480))) for c in CLASSES]


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


@dataclass
class Life:
    """One bot process: when it was spawned, when it was ready, its samples."""

    bot: BotProcess
    spawned: float
    ready: float | None = None
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (t, MiB, fds)


class SoakBase:
    """The bot lifecycle, timed faults and sampling; subclasses post and reconcile."""

    transport = ""

    def __init__(self, folder: Path, seed: int, seconds: float) -> None:
        # Two generators from one seed: the traffic's draws depend on how many ticks the
        # machine's speed allowed, so the faults (which, when, how long) have their own.
        self.rng = random.Random(seed)
        self.chaos = random.Random(f"faults {seed}")
        self.seed, self.seconds, self.folder = seed, seconds, folder
        self.photos = photos()
        self.faults: Counter[str] = Counter()
        self.info: Counter[str] = Counter()  # allowed happenings worth a count (not violations)
        self.violations: list[str] = []
        self.lives: list[Life] = []
        self.state = "down"  # starting | up | stopping | down
        self.started = time.monotonic()
        self._later: list[tuple[float, str, Callable[[], None]]] = []
        self._restart_at: float | None = None
        self._term_sent = 0.0
        self.exits: list[float] = []  # when a bot process was seen to have ended unasked
        self.stops: list[float] = []  # when a SIGTERMed process was seen to have ended
        self.config = Path()
        self.env: dict[str, str] = {}
        self.db = Path()
        self.tfs: FakeTFServing | None = None

    # -- scheduling ---------------------------------------------------------------------
    def later(self, delay_s: float, what: str, action: Callable[[], None]) -> None:
        self._later.append((time.monotonic() + delay_s, what, action))

    def busy(self, what: str) -> bool:
        """Whether a fault of this name is still running (not started twice at once)."""
        return any(w == what for _, w, _ in self._later)

    def _run_due(self) -> None:
        now = time.monotonic()
        due = [x for x in self._later if x[0] <= now]
        self._later = [x for x in self._later if x[0] > now]
        for _, _, action in due:
            action()

    def finish_faults(self) -> None:
        """End every running fault now (before the settling)."""
        for _, _, action in self._later:
            action()
        self._later = []

    # -- the bot, restarted as systemd would -------------------------------------------
    def spawn(self) -> None:
        self.lives.append(Life(BotProcess(self.config, env=self.env), time.monotonic()))
        self.state = "starting"
        self._restart_at = None

    @property
    def life(self) -> Life:
        return self.lives[-1]

    def kill(self) -> None:
        self.state = "down"
        self.life.bot.proc.send_signal(signal.SIGKILL)
        self.life.bot.proc.wait(30)
        self._restart_at = time.monotonic() + self.chaos.uniform(0.5, 3.0)

    def term(self) -> None:
        self.state = "stopping"
        self._term_sent = time.monotonic()
        self.life.bot.proc.send_signal(signal.SIGTERM)

    def watch_bot(self) -> None:
        """Advance the lifecycle: ready, exited on its own, stopped, due for its restart."""
        life, now = self.life, time.monotonic()
        code = life.bot.proc.poll()
        if code is not None and self.state in ("starting", "up"):
            self.exits.append(now)
        if self.state == "starting":
            if READY in life.bot.stdout:
                life.ready, self.state = now, "up"
            elif code is not None or now - life.spawned > 120:
                self.violations.append(
                    f"the bot did not start (exit {code}): {life.bot.stderr[-600:]!r}"
                )
                life.bot.kill()
                self.state, self._restart_at = "down", now + 1.0
        elif self.state == "up" and code is not None:
            self.violations.append(f"the bot exited by itself (exit {code}): "
                                   f"{life.bot.stderr[-600:]!r}")  # fmt: skip
            self.state, self._restart_at = "down", now + 1.0
        elif self.state == "stopping":
            if code is not None:
                self.stops.append(now)
                took = now - self._term_sent
                self.info["SIGTERM: exit 0"] += code == 0
                self.info["SIGTERM: slowest stop (s)"] = max(
                    self.info["SIGTERM: slowest stop (s)"], round(took)
                )
                if code != 0:
                    self.violations.append(f"SIGTERM mid-burst: exit {code}, not 0")
                self.state = "down"
                self._restart_at = now + self.chaos.uniform(0.5, 3.0)
            elif now - self._term_sent > STOP_LIMIT_S:
                self.violations.append(f"SIGTERM: still running after {STOP_LIMIT_S:.0f} s")
                life.bot.kill()
        elif self.state == "down" and self._restart_at is not None and now >= self._restart_at:
            self.spawn()

    def sample(self) -> None:
        life = self.life
        if self.state == "up" and life.bot.proc.poll() is None:
            pid = life.bot.proc.pid
            with contextlib.suppress(OSError, AssertionError):  # it ended since the poll
                life.samples.append((time.monotonic(), rss_mib(pid), fds(pid)))

    def may_restart(self) -> bool:
        return time.monotonic() - self.started < self.seconds * RESTARTS_UNTIL

    # -- faults every transport has ------------------------------------------------------
    def tfs_fault(self, name: str) -> None:
        tfs = self.tfs
        assert tfs is not None
        if name == "tfs_fail":
            tfs.fail_next(503, '{"error": "overloaded"}', count=self.chaos.randint(1, 6))
        elif name == "tfs_drop":
            tfs.drop_next(self.chaos.randint(1, 3))
        elif name == "tfs_down":
            tfs.stop()
            self.later(self.chaos.uniform(1, 5), name, tfs.start)
        elif name == "tfs_slow":
            tfs.delay_s = self.chaos.uniform(0.5, 3.0)

            def fast() -> None:
                tfs.delay_s = 0.0

            self.later(self.chaos.uniform(2, 6), name, fast)

    def audit_locked(self) -> None:
        """Another writer holds the audit database for a few seconds: every write of the bot
        fails ("database is locked"), so it holds its rows in memory and writes them after.

        (A chmod of the folder would not do: the bot runs as root here, and even for another
        user an open SQLite connection in WAL mode keeps writing after its folder is made
        read-only; only a new file — a restart — would fail.)"""
        if not self.db.exists():
            return
        conn = sqlite3.connect(self.db, timeout=10, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.Error:
            conn.close()
            return

        def release() -> None:
            conn.execute("ROLLBACK")
            conn.close()

        self.later(self.chaos.uniform(1, 4), "audit_locked", release)

    def audit_full(self) -> None:
        """The audit log's disk is full for a few seconds: the bot process may not grow a file
        past its size now (RLIMIT_FSIZE, set from outside with prlimit), so SQLite's writes
        fail ("disk I/O error") until the limit is lifted."""
        life = self.life
        if self.state != "up" or life.bot.proc.poll() is not None:
            return
        pid = life.bot.proc.pid
        wal = self.db.with_name(self.db.name + "-wal")
        size = wal.stat().st_size if wal.exists() else self.db.stat().st_size
        try:
            before = resource.prlimit(pid, resource.RLIMIT_FSIZE)
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, before[1]))
        except (ProcessLookupError, PermissionError):
            return

        def release() -> None:
            with contextlib.suppress(ProcessLookupError):  # the process was killed since
                resource.prlimit(pid, resource.RLIMIT_FSIZE, before)

        self.later(self.chaos.uniform(1, 4), "audit_full", release)

    # -- retention -----------------------------------------------------------------------
    def seed_rows(self) -> None:
        """Before the first start: rows seen ``OLD_DAYS`` ago and rows of ``FORGOTTEN``."""
        AuditLog(self.db).close()  # the bot's own schema
        now = datetime.now().astimezone()
        rows = [
            (f"old-{n}", (now - timedelta(days=OLD_DAYS)).isoformat(), "旧群", "旧人")
            for n in range(OLD_ROWS)
        ] + [
            (f"recent-{n}", (now - timedelta(days=RECENT_DAYS)).isoformat(), "旧群", FORGOTTEN)
            for n in range(RECENT_ROWS)
        ]
        conn = sqlite3.connect(self.db)
        with conn:
            conn.executemany(
                "INSERT INTO pictures (msg_id, seen_at, chat, sender, outcome, reason) "
                "VALUES (?, ?, ?, ?, 'ignored', ?)",
                [(*row, SEEDED_REASON) for row in rows],
            )
        conn.close()

    def send_owner(self, text: str) -> None:
        """The owner's command to the bot (WeChat: the file helper; WeCom: a private text)."""
        raise NotImplementedError

    def check_retention(self) -> None:
        """The purge at start took the old rows and only those; the owner's forget command
        takes one person's rows and says how many."""
        seeded = [r for r in audit_now(self.db) if r["reason"] == SEEDED_REASON]
        old = sum(1 for r in seeded if str(r["msg_id"]).startswith("old-"))
        recent = sum(1 for r in seeded if str(r["msg_id"]).startswith("recent-"))
        self.info[f"retention: {OLD_DAYS}-day-old rows purged at start"] = OLD_ROWS - old
        self.info[f"retention: {RECENT_DAYS}-day-old rows kept"] = recent
        if old or recent != RECENT_ROWS:
            self.violations.append(
                f"retention: {old} of {OLD_ROWS} rows {OLD_DAYS} days old left after the purge, "
                f"{recent} of {RECENT_ROWS} rows {RECENT_DAYS} days old kept"
            )
        before = len(audit_now(self.db))
        self.send_owner(f"forget {FORGOTTEN}")
        said = f"owner command: forget one person ({RECENT_ROWS} rows)"
        deadline = time.monotonic() + 30
        while said not in self.life.bot.stderr and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [r for r in audit_now(self.db) if r["sender"] == FORGOTTEN]
        after = len(audit_now(self.db))
        self.info["retention: rows deleted by the owner's forget"] = before - after
        if said not in self.life.bot.stderr or left or before - after != RECENT_ROWS:
            self.violations.append(
                f"forget {FORGOTTEN}: {len(left)} of their rows left, {before - after} rows "
                f"deleted in all (expected {RECENT_ROWS}); the bot said "
                f"{'so' if said in self.life.bot.stderr else 'nothing of it'}"
            )

    # -- the run -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """The whole run and its reconciliation: ``{"outcomes": {outcome: count}, ...}``."""
        raise NotImplementedError

    def posted(self) -> int:
        """Pictures posted in whitelisted chats."""
        raise NotImplementedError

    def post(self) -> None:
        raise NotImplementedError

    FAULTS: tuple[str, ...] = ()

    def fault(self) -> None:
        """Start one fault, drawn from ``FAULTS``; one the bot's state cannot take now is
        replaced (a kill while it is down: a duplicate)."""
        name = self.chaos.choice(self.FAULTS)
        if name in ("kill", "term") and not (self.state == "up" and self.may_restart()):
            name = "duplicate"
        if name == "audit_full" and self.state != "up":  # it limits the running process
            name = "tfs_fail"
        name = self.instead(name)
        if self.busy(name):
            return
        self.faults[name] += 1
        if name in TFS_FAULTS:
            self.tfs_fault(name)
        elif name == "audit_locked":
            self.audit_locked()
        elif name == "audit_full":
            self.audit_full()
        else:
            self.transport_fault(name)

    def instead(self, name: str) -> str:
        """The transport's own replacement for a fault it cannot start now."""
        return name

    def transport_fault(self, name: str) -> None:
        raise NotImplementedError

    def loop(self) -> None:
        """Post and inject until the time is up; then end the faults and bring the bot up."""
        self.seed_rows()
        self.spawn()
        while self.state != "up":  # the first start is not part of the run
            self.watch_bot()
            time.sleep(0.05)
        self.started = time.monotonic()
        end = self.started + self.seconds
        next_fault = self.started + self.chaos.uniform(3, 8)
        last_sample = 0.0
        while (now := time.monotonic()) < end:
            self.watch_bot()
            self._run_due()
            self.post()
            if now >= next_fault:
                self.fault()
                next_fault = time.monotonic() + self.chaos.uniform(3, 8)
            if now - last_sample >= 1:
                self.sample()
                last_sample = now
            time.sleep(self.rng.uniform(0.05, 0.25))
        self.finish_faults()
        deadline = time.monotonic() + 60
        while self.state != "up" and time.monotonic() < deadline:
            self.watch_bot()
            time.sleep(0.05)

    def settle(self, done: Callable[[dict[str, dict[str, object]]], bool]) -> None:
        """Wait until ``done(rows)``, sampling, then stop the bot with SIGTERM (exit 0)."""
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            self.watch_bot()
            if done(self.rows()):
                break
            self.sample()
            time.sleep(1)
        else:
            self.violations.append(f"not settled {SETTLE_S:.0f} s after the run")
        self.check_retention()
        code = self.life.bot.stop(signal.SIGTERM, timeout_s=STOP_LIMIT_S)
        if code != 0:
            self.violations.append(f"final SIGTERM: exit {code}, not 0")
        conn = sqlite3.connect(self.db)  # after kills, a full disk and a locked file
        try:
            (verdict,) = conn.execute("PRAGMA integrity_check").fetchone()
        finally:
            conn.close()
        self.info[f"audit log integrity_check: {verdict}"] += 1
        if verdict != "ok":
            self.violations.append(f"the audit log fails PRAGMA integrity_check: {verdict}")

    def rows(self) -> dict[str, dict[str, object]]:
        return {str(r["msg_id"]): r for r in audit_now(self.db)}

    def check_row(self, mid: str, where: str, row: dict[str, object] | None) -> None:
        """A picture's row: present, final, with a reason unless replied."""
        if row is None:
            self.violations.append(f"picture {mid} in {where}: no audit row")
        elif row["outcome"] not in FINAL:
            self.violations.append(f"picture {mid} in {where}: outcome {row['outcome']}")
        elif row["outcome"] != "replied" and not row["reason"]:
            self.violations.append(f"picture {mid} in {where}: {row['outcome']} without a reason")

    def memory(self) -> tuple[str, str, bool]:
        """RSS and fds of the longest-lived process after its warm-up: start, peak, end."""
        lives = [lf for lf in self.lives if lf.samples]
        if not lives:
            return "no samples", "no samples", False
        life = max(lives, key=lambda lf: lf.samples[-1][0] - lf.samples[0][0])
        warm = [s for s in life.samples if s[0] - life.samples[0][0] >= WARM_UP_S] or life.samples
        rss = [s[1] for s in warm]
        fd = [s[2] for s in warm]
        lived = warm[-1][0] - warm[0][0]
        flat = rss[-1] <= rss[0] * 1.5 + 10 and fd[-1] <= fd[0] + 5 and max(fd) <= fd[0] + 20
        return (
            f"{rss[0]:.0f} / {max(rss):.0f} / {rss[-1]:.0f} MiB over {lived:.0f} s",
            f"{fd[0]} / {max(fd)} / {fd[-1]}",
            flat,
        )
