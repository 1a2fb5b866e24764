"""The private state folder: the itchat session pickle and the login QR code.

Loading a pickle runs code, so the folder and the session file are vetted before itchat
ever reads them: owned by this user, not a symbolic link, writable by nobody else.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from bot.errors import LocalError

SESSION_FILE = "itchat.pkl"
QR_FILE = "login-qr.png"

log = logging.getLogger(__name__)


def _check_private(path: Path, *, what: str) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise LocalError(
            f"{what} {path} is a symbolic link; refusing it (replace it with a "
            "real folder/file owned by this user)"
        )
    if info.st_uid != os.getuid():
        raise LocalError(
            f"{what} {path} belongs to another user (uid {info.st_uid}); it must be "
            "owned by the user running the bot"
        )
    if info.st_mode & 0o022:
        fix = "chmod 700" if stat.S_ISDIR(info.st_mode) else "chmod 600"
        raise LocalError(
            f"{what} {path} can be written by other users (mode "
            f"{stat.S_IMODE(info.st_mode):o}); the session file is a pickle that "
            f"runs code when loaded: run `{fix} {path}` or delete it"
        )


def prepare_state_dir(state_dir: Path) -> Path:
    """Create the private state folder (0700) and vet the session file before itchat loads it."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise LocalError(
            f"cannot create the state folder {state_dir} ({exc.strerror}); set "
            "[chat] state_dir to a writable folder"
        ) from exc
    _check_private(state_dir, what="state folder")
    tighten(state_dir)
    session = state_dir / SESSION_FILE
    if session.exists() or session.is_symlink():
        _check_private(session, what="session file")
    if not os.access(state_dir, os.W_OK):
        raise LocalError(
            f"the state folder {state_dir} is not writable; fix its permissions or "
            "set [chat] state_dir"
        )
    return session


def tighten(state_dir: Path) -> int | None:
    """Make a state folder others can read or enter (755, 750) private (700): the session in
    it is a login. Returns the mode it had when it was changed, else None."""
    mode = stat.S_IMODE(state_dir.lstat().st_mode)
    if not mode & 0o077:
        return None
    try:
        state_dir.chmod(0o700)
    except OSError as exc:
        raise LocalError(
            f"the state folder {state_dir} can be read by others (mode {mode:o}) and could not "
            f"be made private ({exc.strerror}); run `chmod 700 {state_dir}`"
        ) from exc
    log.warning("state folder %s could be read by others (mode %o): made private (700)",
                state_dir, mode)  # fmt: skip
    return mode
