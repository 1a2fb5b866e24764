"""The private state folder: the itchat session pickle and the login QR code.

Loading a pickle runs code, so the folder and the session file are vetted before itchat
ever reads them: owned by this user, not a symbolic link, writable by nobody else.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bot.errors import LocalError

SESSION_FILE = "itchat.pkl"
QR_FILE = "login-qr.png"


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
            "[wechat] state_dir to a writable folder"
        ) from exc
    _check_private(state_dir, what="state folder")
    session = state_dir / SESSION_FILE
    if session.exists() or session.is_symlink():
        _check_private(session, what="session file")
    if not os.access(state_dir, os.W_OK):
        raise LocalError(
            f"the state folder {state_dir} is not writable; fix its permissions or "
            "set [wechat] state_dir"
        )
    return session
