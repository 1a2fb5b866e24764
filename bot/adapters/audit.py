"""SQLite audit log (stdlib sqlite3, WAL): one row per picture seen, keyed by message id.

The row is written when a picture arrives (``claim``), before any work, so a message id
already in the log is never answered twice, across restarts and hot-reload replays too.
A row is ``pending`` from arrival until the reply is sent (its label and probability are
written as soon as the picture is classified). Rows still ``pending`` at start-up belong to a
run that stopped first; they become ``failed`` and keep what was classified.

When the file cannot be written (a full disk, a locked database, a folder made read-only), the
bot keeps answering: the writes wait in memory, in order, up to ``MAX_HELD``, and go to the
file as soon as it takes them again; a message id held there is still answered only once.
Beyond the bound a row is lost, counted and logged. ``trouble()`` says so for ``/healthz`` and
the status page. Every ``sqlite3.Error`` is translated here, never passed on.

``read_rows`` is the read side for ``stats``: a read-only connection, safe while the bot runs
(WAL gives it a consistent snapshot).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.core.askdesk import QuestionRow
from bot.core.pictures import Outcome
from bot.core.stats import QuestionRow as QuestionStatsRow
from bot.core.stats import Row
from bot.errors import LocalError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 0.5
OPEN_WAIT_S = 10.0  # at start: how long to wait for another writer's lock to go
MAX_HELD = 10_000
CLOSE_WAIT_S = 5.0  # at close, how long held rows wait for the file to take them
CLOSE_RETRY_S = 0.1
"""Writes kept in memory while the file cannot be written (a few hundred bytes each)."""

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
    reason      TEXT NOT NULL DEFAULT '',
    kind        TEXT,
    detail      TEXT,
    model_key   TEXT,
    counts      TEXT
);
CREATE INDEX IF NOT EXISTS pictures_seen_at ON pictures (seen_at);
CREATE TABLE IF NOT EXISTS questions (
    msg_id            TEXT PRIMARY KEY,
    seen_at           TEXT NOT NULL,
    chat              TEXT NOT NULL,
    sender            TEXT NOT NULL,
    photo             TEXT,
    outcome           TEXT NOT NULL,
    reason            TEXT NOT NULL DEFAULT '',
    model             TEXT,
    latency_ms        REAL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    question          TEXT,
    answer            TEXT
);
CREATE INDEX IF NOT EXISTS questions_seen_at ON questions (seen_at);
"""
ADDED_COLUMNS = (
    ("kind", "TEXT"),
    ("detail", "TEXT"),
    ("model_key", "TEXT"),
    ("counts", "TEXT"),
)  # a log written by an older version


_FIX = "free disk space, or make its folder writable, or set [audit] path"


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
            # A short busy wait: claim() runs on the chat thread, which must not stall. Only
            # opening and recover_interrupted() wait up to OPEN_WAIT_S for another writer's
            # lock: a lock held a few seconds at start must not stop the bot.
            self._db = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
            )
            self._busy_wait(OPEN_WAIT_S)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(pictures)")}
            for name, kind in ADDED_COLUMNS:
                if name not in have:
                    self._db.execute(f"ALTER TABLE pictures ADD COLUMN {name} {kind}")
            self._busy_wait(BUSY_TIMEOUT_S)
        except (OSError, sqlite3.Error) as exc:
            raise LocalError(
                f"cannot open the audit log {path} ({exc}); make its folder writable or set "
                "[audit] path"
            ) from exc
        self._lock = threading.Lock()
        self._closed = False
        self._held: list[tuple[str, tuple[object, ...]]] = []
        self._held_ids: set[str] = set()
        self._lost = 0
        self._failing: str | None = None  # why the last write failed, while it does

    # -- writes that never raise ---------------------------------------------------------------
    def _write(self, sql: str, params: tuple[object, ...]) -> int | None:
        """Run one write (under the lock); None when it was held in memory instead."""
        if self._held and not self._flush():
            self._hold(sql, params)
            return None
        try:
            return self._db.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            self._failed(exc)
            self._hold(sql, params)
            return None

    def _flush(self) -> bool:
        """Write what is held, in order; True once nothing is held."""
        while self._held:
            sql, params = self._held[0]
            try:
                self._db.execute(sql, params)
            except sqlite3.Error as exc:
                self._failed(exc)
                return False
            self._held.pop(0)
        if self._failing is not None:
            log.warning("the audit log %s is written again; the held rows are in it", self.path)
        self._failing = None
        self._held_ids.clear()
        return True

    def _hold(self, sql: str, params: tuple[object, ...]) -> None:
        if len(self._held) < MAX_HELD:
            self._held.append((sql, params))
            return
        self._lost += 1
        log.error(
            "audit row for %s lost: the audit log %s cannot be written (%s) and %d rows wait "
            "already", params[-1] if sql.startswith("UPDATE") else params[0], self.path,
            self._failing, MAX_HELD,
        )  # fmt: skip

    def _failed(self, exc: sqlite3.Error) -> None:
        if self._failing is None:
            log.error(
                "the audit log %s cannot be written (%s): rows are held in memory (up to %d) "
                "and written when it can be; %s", self.path, exc, MAX_HELD, _FIX,
            )  # fmt: skip
        self._failing = str(exc) or type(exc).__name__

    def trouble(self) -> str | None:
        """Why the audit log cannot be written now, for /healthz; None while it can."""
        with self._lock:
            if self._failing is None and not self._lost:
                return None
            return (
                f"the audit log {self.path} cannot be written ({self._failing or 'recovered'}): "
                f"{len(self._held)} rows held in memory, {self._lost} lost; {_FIX}"
            )

    def _seen(self, msg_id: str) -> bool:
        """Whether the file already has this message id (False when it cannot be read)."""
        try:
            found = self._db.execute("SELECT 1 FROM pictures WHERE msg_id=?", (msg_id,)).fetchone()
        except sqlite3.Error:
            return False
        return found is not None

    def recover_interrupted(self) -> int:
        """Mark rows left ``pending`` by a run that stopped abruptly; return how many."""
        with self._lock:
            try:
                self._busy_wait(OPEN_WAIT_S)
                cur = self._db.execute(
                    "UPDATE pictures SET outcome='failed', reason='interrupted: the bot stopped "
                    "before the reply was sent' WHERE outcome='pending'"
                )
            except sqlite3.Error as exc:
                raise LocalError(
                    f"cannot update the audit log {self.path} ({exc}, for {OPEN_WAIT_S:g} s); "
                    f"{_FIX}"
                ) from exc
            finally:
                self._busy_wait(BUSY_TIMEOUT_S)
            return cur.rowcount

    def _busy_wait(self, seconds: float) -> None:
        """How long a statement waits for another writer's lock."""
        self._db.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    def claim(
        self, msg_id: str, *, chat: str, sender: str, outcome: str = "pending", reason: str = ""
    ) -> bool:
        """Insert the row for a new message; False if this message id was seen before (or the
        log is closed: the bot is stopping and the message is left for the next start)."""
        with self._lock:
            if self._closed or msg_id in self._held_ids:
                return False
            added = self._write(
                "INSERT OR IGNORE INTO pictures (msg_id, seen_at, chat, sender, outcome, reason) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (msg_id, _now(), chat, sender, outcome, reason),
            )
            if added is not None:
                return added == 1
            if self._seen(msg_id):
                return False
            self._held_ids.add(msg_id)
            return True

    def finish(self, msg_id: str, result: Outcome) -> None:
        with self._lock:
            if self._closed:  # a picture that outlived shutdown: its row stays pending
                log.info("picture %s finished after the audit log closed: %s", msg_id, result)
                return
            self._write(
                "UPDATE pictures SET sent_at=COALESCE(?, sent_at), outcome=?, reason=?, sha256=?, "
                "size_bytes=?, label=?, probability=?, model=?, version=?, latency_ms=?, "
                "kind=?, detail=?, model_key=?, counts=? WHERE msg_id=?",
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
                    result.kind,
                    result.detail or None,
                    result.model_key,
                    json.dumps(dict(result.counts), ensure_ascii=False) if result.counts else None,
                    msg_id,
                ),
            )

    def purge(self, keep_days: int) -> int:
        """Delete rows (pictures and questions) seen more than ``keep_days`` ago; 0 keeps all.
        Returns how many went. A log that cannot be written now is purged next time."""
        if keep_days <= 0:
            return 0
        cutoff = (datetime.now().astimezone() - timedelta(days=keep_days)).date().isoformat()
        try:
            return self._delete("seen_at < ?", (cutoff,))
        except sqlite3.Error as exc:
            log.warning("could not purge rows before %s from the audit log %s (%s): next time",
                        cutoff, self.path, exc)  # fmt: skip
            return 0

    def forget(self, sender: str) -> int:
        """Delete every row of one person (by the name the log holds), for the day someone
        asks; returns how many went. Raises LocalError when the log cannot be written now
        (the owner is told so, not "0 rows")."""
        try:
            return self._delete("sender = ?", (sender,))
        except sqlite3.Error as exc:
            raise LocalError(  # no name: this text is logged
                f"the audit log {self.path} cannot be written now ({exc}); try again later"
            ) from exc

    def _delete(self, where: str, params: tuple[str, ...]) -> int:
        """Rows held in memory go to the file first, so that none comes back after."""
        with self._lock:
            if self._closed:
                return 0
            if self._held and not self._flush():
                raise sqlite3.OperationalError(
                    self._failing or "the held rows could not be written"
                )
            gone = self._db.execute(f"DELETE FROM pictures WHERE {where}", params).rowcount
            gone += self._db.execute(f"DELETE FROM questions WHERE {where}", params).rowcount
            return int(gone)

    def span(self) -> tuple[int, str | None]:
        """(rows, the day of the oldest row) for ``check`` and ``stats``."""
        with self._lock:
            try:
                count, oldest = self._db.execute(
                    "SELECT COUNT(*), MIN(seen_at) FROM pictures"
                ).fetchone()
            except sqlite3.Error as exc:
                raise LocalError(f"cannot read the audit log {self.path} ({exc}); {_FIX}") from exc
        return int(count), None if oldest is None else str(oldest)[:10]

    def question(self, row: QuestionRow) -> None:
        """A question's one row (its text only with ``[ask] keep_text``)."""
        with self._lock:
            if self._closed:
                log.info("question %s finished after the audit log closed", row.msg_id)
                return
            self._write(
                "INSERT OR REPLACE INTO questions (msg_id, seen_at, chat, sender, photo, outcome, "
                "reason, model, latency_ms, prompt_tokens, completion_tokens, question, answer) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.msg_id,
                    _now(),
                    row.chat,
                    row.sender,
                    row.photo,
                    row.outcome,
                    row.reason,
                    row.model,
                    row.latency_ms,
                    row.prompt_tokens,
                    row.completion_tokens,
                    row.question,
                    row.answer,
                ),
            )

    def close(self) -> None:
        """Write what is held, waiting up to ``CLOSE_WAIT_S`` for the file to take it (a
        message whose row is lost here is never delivered again), then close."""
        with self._lock:
            self._closed = True
            deadline = time.monotonic() + CLOSE_WAIT_S
            if self._held and not self._flush():
                log.warning(
                    "%d audit rows wait for the audit log %s before the bot stops (up to %g s)",
                    len(self._held), self.path, CLOSE_WAIT_S,
                )  # fmt: skip
                while not self._flush() and time.monotonic() < deadline:
                    time.sleep(CLOSE_RETRY_S)
            if self._held:
                self._lost += len(self._held)
                log.error(
                    "%d audit rows lost: the audit log %s could not be written for %g s before "
                    "the bot stopped (%s); %s",
                    len(self._held), self.path, CLOSE_WAIT_S, self._failing, _FIX,
                )  # fmt: skip
            self._db.close()


def _read_only(db: Path, query: str, params: tuple[str, ...] = ()) -> list[Any]:
    """Rows of ``query`` through a read-only connection: the log is never changed, and this is
    safe while the bot writes (WAL gives a consistent snapshot)."""
    try:
        conn = sqlite3.connect(f"{db.absolute().as_uri()}?mode=ro", uri=True, timeout=10.0)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise LocalError(
            f"cannot read the audit log {db} ({exc}): check that [audit] path names the bot's "
            "audit database and that you may read it"
        ) from exc


def _since(query: str, since: date | None) -> tuple[str, tuple[str, ...]]:
    # Same as row.day >= since for ISO timestamps, and it uses the seen_at index.
    if since is None:
        return query, ()
    return query + " WHERE seen_at >= ?", (since.isoformat(),)


def read_rows(db: Path, *, since: date | None = None) -> list[Row]:
    """Picture rows from ``since`` on, for ``stats``."""
    if not db.exists():
        raise LocalError(f"no audit log at {db} yet: run the bot first, or check [audit] path")
    have = {str(row[1]) for row in _read_only(db, "PRAGMA table_info(pictures)")}
    counts = "counts" if "counts" in have else "NULL"  # a log the bot has not opened since
    query = f"SELECT seen_at, chat, outcome, label, latency_ms, model, {counts} FROM pictures"
    found = _read_only(db, *_since(query, since))
    return [
        Row(
            seen_at=str(seen_at),
            chat=str(chat),
            outcome=str(outcome),
            label=None if label is None else str(label),
            latency_ms=None if latency_ms is None else float(latency_ms),
            model=None if model is None else str(model),
            objects=_counts(found_counts),
        )
        for seen_at, chat, outcome, label, latency_ms, model, found_counts in found
    ]


def _counts(text: object) -> tuple[tuple[str, int], ...]:
    """A row's detections per class, as written by ``finish`` (JSON {"狗": 2})."""
    if not isinstance(text, str):
        return ()
    try:
        doc = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(doc, dict):
        return ()
    return tuple(
        (str(k), v) for k, v in doc.items() if isinstance(v, int) and not isinstance(v, bool)
    )


def read_question_rows(db: Path, *, since: date | None = None) -> list[QuestionStatsRow]:
    """Questions from ``since`` on (none in a log written before [ask] existed)."""
    if not _read_only(db, "SELECT 1 FROM sqlite_master WHERE name = 'questions'"):
        return []
    query = "SELECT seen_at, chat, outcome, latency_ms FROM questions"
    return [
        QuestionStatsRow(str(seen), str(chat), str(outcome), None if ms is None else float(ms))
        for seen, chat, outcome, ms in _read_only(db, *_since(query, since))
    ]


def oldest_day(db: Path) -> str | None:
    """The day of the oldest picture row (how far back ``stats`` can look)."""
    [(oldest,)] = _read_only(db, "SELECT MIN(seen_at) FROM pictures")
    return None if oldest is None else str(oldest)[:10]
