"""The SQLite audit log: private on disk, one row per message id."""

from __future__ import annotations

import stat
from pathlib import Path

from bot.adapters.audit import AuditLog
from bot.core.pictures import Outcome


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
