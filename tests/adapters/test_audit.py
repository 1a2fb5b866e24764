"""The SQLite audit log: private on disk, one row per message id."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from bot.adapters import audit
from bot.adapters.audit import AuditLog
from bot.core.askdesk import QuestionRow
from bot.core.pictures import Outcome
from bot.errors import LocalError


def test_the_audit_log_and_its_wal_files_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "audit.sqlite3"
    log = AuditLog(path)
    assert log.claim("m1", chat="我们一家", sender="小明")
    log.finish("m1", Outcome("replied", label="虎斑猫", probability=0.9))
    files = sorted(path.parent.glob("audit.sqlite3*"))
    assert path in files
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    log.close()


def test_a_message_id_is_claimed_once(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite3")
    assert log.claim("m1", chat="g", sender="s") is True
    assert log.claim("m1", chat="g", sender="s") is False
    log.close()


def rows(path: Path) -> dict[str, tuple[str, str | None, str | None]]:
    conn = sqlite3.connect(path)
    try:
        found = conn.execute("SELECT msg_id, outcome, label, kind FROM pictures").fetchall()
    finally:
        conn.close()
    return {msg_id: (outcome, label, kind) for msg_id, outcome, label, kind in found}


def test_rows_wait_in_memory_while_the_log_is_locked_and_are_written_after(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.sqlite3"
    log = AuditLog(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another writer holds the database: every write fails

    assert log.claim("m1", chat="g", sender="s") is True
    assert log.claim("m1", chat="g", sender="s") is False  # still answered once
    log.finish("m1", Outcome("replied", label="猫", probability=0.9, kind="classify"))
    trouble = log.trouble()
    assert trouble is not None
    assert "cannot be written (database is locked): 2 rows held in memory, 0 lost" in trouble
    assert str(path) in trouble

    other.execute("ROLLBACK")
    assert log.claim("m2", chat="g", sender="s") is True

    assert rows(path) == {"m1": ("replied", "猫", "classify"), "m2": ("pending", None, None)}
    assert log.trouble() is None
    assert log.claim("m1", chat="g", sender="s") is False  # from the file now
    log.close()
    other.close()


def test_beyond_the_bound_a_row_is_lost_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "MAX_HELD", 2)
    path = tmp_path / "audit.sqlite3"
    log = AuditLog(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")

    for n in range(3):
        assert log.claim(f"m{n}", chat="g", sender="s") is True

    assert "2 rows held in memory, 1 lost" in (log.trouble() or "")
    other.execute("ROLLBACK")
    log.close()
    other.close()
    assert sorted(rows(path)) == ["m0", "m1"]


def test_rows_held_at_close_wait_for_the_log_and_are_written_before_it_closes(
    tmp_path: Path,
) -> None:
    """SIGTERM while another writer holds the log: the held rows are not dropped at once
    (WeChat never delivers those messages again), but written once the lock goes, within
    ``CLOSE_WAIT_S`` (found by the soak run, issue 20)."""
    path = tmp_path / "audit.sqlite3"
    log = AuditLog(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    assert log.claim("m1", chat="g", sender="s") is True
    log.finish("m1", Outcome("replied", label="猫", probability=0.9, kind="classify"))
    released = threading.Timer(1.0, lambda: other.execute("ROLLBACK"))
    released.start()
    log.close()
    released.join()
    other.close()
    assert rows(path) == {"m1": ("replied", "猫", "classify")}
    assert audit.CLOSE_WAIT_S >= 2.0


def test_a_start_while_another_writer_holds_the_log_waits_for_it(tmp_path: Path) -> None:
    """A lock held for a few seconds at start must not stop the bot (exit 2, which systemd
    does not restart): opening and marking interrupted rows wait up to ``OPEN_WAIT_S``
    (found by the soak run, issue 20)."""
    path = tmp_path / "audit.sqlite3"
    first = AuditLog(path)
    assert first.claim("m1", chat="g", sender="s")  # pending: the run was killed
    first.close()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    released = threading.Timer(1.5, lambda: other.execute("ROLLBACK"))
    released.start()
    log = AuditLog(path)
    assert log.recover_interrupted() == 1
    released.join()
    other.close()
    log.close()
    assert rows(path)["m1"][0] == "failed"
    assert audit.OPEN_WAIT_S >= 5.0


def test_a_log_written_by_an_older_version_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    conn.execute(
        "INSERT INTO pictures (msg_id, seen_at, chat, sender, outcome) "
        "VALUES ('old', '2026-01-01T00:00:00', 'g', 's', 'replied')"
    )
    conn.commit()
    conn.close()

    log = AuditLog(path)
    assert log.claim("new", chat="g", sender="s")
    log.finish("new", Outcome("replied", label="猫", kind="classify", detail="猫 90.0%"))
    log.close()
    assert rows(path) == {"old": ("replied", None, None), "new": ("replied", "猫", "classify")}


OLD_SCHEMA = """
CREATE TABLE pictures (
    msg_id TEXT PRIMARY KEY, seen_at TEXT NOT NULL, sent_at TEXT, chat TEXT NOT NULL,
    sender TEXT NOT NULL, sha256 TEXT, size_bytes INTEGER, label TEXT, probability REAL,
    model TEXT, version TEXT, latency_ms REAL, outcome TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
"""


def test_rows_older_than_keep_days_are_purged_and_a_person_can_be_forgotten(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.sqlite3"
    log = AuditLog(path)
    for msg_id, sender in (("old", "小明"), ("new", "小明"), ("other", "小红")):
        assert log.claim(msg_id, chat="g", sender=sender)
    log.question(QuestionRow("q1", "g", "小明", "answered"))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE pictures SET seen_at = '2020-01-01T00:00:00.000+08:00' WHERE msg_id='old'")
    conn.close()

    assert log.purge(0) == 0  # 0 keeps everything
    assert log.purge(180) == 1
    assert sorted(rows(path)) == ["new", "other"]
    assert log.span() == (2, rows_day(path))

    assert log.forget("小明") == 2  # the picture and the question
    assert sorted(rows(path)) == ["other"]
    log.close()


def rows_day(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        (day,) = conn.execute("SELECT MIN(seen_at) FROM pictures").fetchone()
    finally:
        conn.close()
    return str(day)[:10]


def test_forget_while_the_log_cannot_be_written_says_so_and_leaves_no_row_behind(
    tmp_path: Path,
) -> None:
    """Not "0 rows deleted" while the file is locked; and a row of that person held in
    memory is written before the delete, so it cannot come back after it."""
    path = tmp_path / "audit.sqlite3"
    log = AuditLog(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    assert log.claim("m1", chat="g", sender="小明")  # held in memory
    with pytest.raises(LocalError, match="cannot be written now .database is locked.; try again"):
        log.forget("小明")
    other.execute("ROLLBACK")
    other.close()
    assert log.forget("小明") == 1  # the held row, written first, then deleted
    log.close()
    assert rows(path) == {}


def test_a_detectors_counts_are_kept_and_read_back_for_stats(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    log = AuditLog(path)
    assert log.claim("d1", chat="家庭群", sender="小明")
    found = (("狗", 2), ("人", 1))
    log.finish(
        "d1",
        Outcome("replied", label="狗", kind="detect", detail="狗×2, 人×1", counts=found),
    )
    assert log.claim("c1", chat="家庭群", sender="小明")
    log.finish("c1", Outcome("replied", label="猫", kind="classify", detail="猫 90.0%"))
    log.close()
    read = {row.label: row.objects for row in audit.read_rows(path)}
    assert read == {"狗": found, "猫": ()}
    with sqlite3.connect(path) as conn:
        [(detail, counts)] = conn.execute("SELECT detail, counts FROM pictures WHERE msg_id='d1'")
    assert (detail, counts) == ("狗×2, 人×1", '{"狗": 2, "人": 1}')
