"""SQLite audit log (stdlib sqlite3, WAL): one row per picture seen, keyed by message id.

The row is written when a picture arrives (``claim``), before any work, so a message id
already in the log is never answered twice, across restarts and hot-reload replays too.
A row is ``pending`` from arrival until the reply is sent (its label and probability are
written as soon as the picture is classified). Rows still ``pending`` at start-up belong to a
run that stopped first; they become ``failed`` and keep what was classified.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.errors import BotError

OUTCOMES = ("pending", "replied", "ignored", "low_confidence", "failed", "shed")

SCHEMA = """
CREATE TABLE IF NOT EXISTS pictures (
    msg_id      TEXT PRIMARY KEY,
    seen_at     TEXT NOT NULL,
    sent_at     TEXT,
    chat        TEXT NOT NULL,
    sender      TEXT NOT NULL,
    sha256      TEXT,
    size_bytes  INTEGER,
    label       TEXT,
    probability REAL,
    model       TEXT,
    version     TEXT,
    latency_ms  REAL,
    outcome     TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS pictures_seen_at ON pictures (seen_at);
"""


@dataclass(frozen=True)
class Outcome:
    outcome: str
    reason: str = ""
    sha256: str | None = None
    size_bytes: int | None = None
    label: str | None = None
    probability: float | None = None
    model: str | None = None
    version: str | None = None
    latency_ms: float | None = None


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


class AuditLog:
    """Thread-safe: one connection guarded by a lock (writes are tiny and rare)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise BotError(
                f"cannot open the audit log {path} ({exc}); make its folder writable or set "
                "[audit] path"
            ) from exc
        self._lock = threading.Lock()

    def recover_interrupted(self) -> int:
        """Mark rows left ``pending`` by a run that stopped abruptly; return how many."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE pictures SET outcome='failed', reason='interrupted: the bot stopped "
                "before the reply was sent' WHERE outcome='pending'"
            )
            return cur.rowcount

    def claim(
        self, msg_id: str, *, chat: str, sender: str, outcome: str = "pending", reason: str = ""
    ) -> bool:
        """Insert the row for a new message; False if this message id was seen before."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO pictures (msg_id, seen_at, chat, sender, outcome, reason) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (msg_id, _now(), chat, sender, outcome, reason),
            )
            return cur.rowcount == 1

    def finish(self, msg_id: str, result: Outcome) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE pictures SET sent_at=COALESCE(?, sent_at), outcome=?, reason=?, sha256=?, "
                "size_bytes=?, label=?, probability=?, model=?, version=?, latency_ms=? "
                "WHERE msg_id=?",
                (
                    None if result.outcome == "pending" else _now(),
                    result.outcome,
                    result.reason,
                    result.sha256,
                    result.size_bytes,
                    result.label,
                    result.probability,
                    result.model,
                    result.version,
                    result.latency_ms,
                    msg_id,
                ),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
