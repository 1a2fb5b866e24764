"""SQLite audit log (stdlib sqlite3, WAL): one row per picture seen, keyed by message id.

The row is written when a picture arrives (``claim``), before any work, so a message id
already in the log is never answered twice, across restarts and hot-reload replays too.
A row is ``pending`` from arrival until the reply is sent (its label and probability are
written as soon as the picture is classified). Rows still ``pending`` at start-up belong to a
run that stopped first; they become ``failed`` and keep what was classified.

``read_rows`` is the read side for ``stats``: a read-only connection, safe while the bot runs
(WAL gives it a consistent snapshot).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from datetime import date, datetime
from pathlib import Path

from bot.core.pictures import Outcome
from bot.core.stats import Row
from bot.errors import LocalError

log = logging.getLogger(__name__)

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


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


class AuditLog:
    """Thread-safe: one connection guarded by a lock (writes are tiny and rare)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Create it private: it names people and groups. SQLite gives its -wal and -shm
            # files the database file's mode.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise LocalError(
                f"cannot open the audit log {path} ({exc}); make its folder writable or set "
                "[audit] path"
            ) from exc
        self._lock = threading.Lock()
        self._closed = False

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
        """Insert the row for a new message; False if this message id was seen before (or the
        log is closed: the bot is stopping and the message is left for the next start)."""
        with self._lock:
            if self._closed:
                return False
            cur = self._db.execute(
                "INSERT OR IGNORE INTO pictures (msg_id, seen_at, chat, sender, outcome, reason) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (msg_id, _now(), chat, sender, outcome, reason),
            )
            return cur.rowcount == 1

    def finish(self, msg_id: str, result: Outcome) -> None:
        with self._lock:
            if self._closed:  # a picture that outlived shutdown: its row stays pending
                log.info("picture %s finished after the audit log closed: %s", msg_id, result)
                return
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
            self._closed = True
            self._db.close()


def read_rows(db: Path, *, since: date | None = None) -> list[Row]:
    """Rows from ``since`` on, read through a read-only connection: the log is never changed."""
    if not db.exists():
        raise LocalError(f"no audit log at {db} yet: run the bot first, or check [audit] path")
    query = "SELECT seen_at, chat, outcome, label, latency_ms, model FROM pictures"
    params: tuple[str, ...] = ()
    if since is not None:
        # Same as row.day >= since for ISO timestamps, and it uses the seen_at index.
        query += " WHERE seen_at >= ?"
        params = (since.isoformat(),)
    try:
        conn = sqlite3.connect(f"{db.absolute().as_uri()}?mode=ro", uri=True, timeout=10.0)
        try:
            found = conn.execute(query, params).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise LocalError(
            f"cannot read the audit log {db} ({exc}): check that [audit] path names the bot's "
            "audit database and that you may read it"
        ) from exc
    return [
        Row(
            seen_at=str(seen_at),
            chat=str(chat),
            outcome=str(outcome),
            label=None if label is None else str(label),
            latency_ms=None if latency_ms is None else float(latency_ms),
            model=None if model is None else str(model),
        )
        for seen_at, chat, outcome, label, latency_ms, model in found
    ]
