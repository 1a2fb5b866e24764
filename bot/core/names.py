"""Names chosen by chat users, made safe to compare and to write.

A group or member name is hostile input: it may hold newlines, ANSI escapes or bidi controls
that forge log lines or flip what a reader sees. ``printable`` neutralises them wherever a
name is written (logs, file-helper lines, terminal tables); ``normalise_name`` compares
names as people see them.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_CHARS = 64

# Never let a name move the cursor or flip the line.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def normalise_name(name: str) -> str:
    """Compare group names as people see them: NFKC, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).split())


def printable(text: str) -> str:
    """``text`` with every control character (C0, C1, DEL, line and bidi controls) as U+FFFD."""
    return "".join(
        "\ufffd" if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI_CONTROLS else ch
        for ch in text
    )


def display_name(text: str, *, limit: int = MAX_NAME_CHARS) -> str:
    """A name for one line of output: printable, at most ``limit`` characters."""
    safe = printable(text)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def display_width(text: str) -> int:
    """Terminal columns: East Asian wide and fullwidth characters take two, marks none."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def log_safe(text: str) -> str:
    """A log message that cannot forge log lines: control characters neutralised, and every
    line after the first indented (a traceback stays readable, never looks like a new entry)."""
    return "\n    ".join(printable(line) for line in text.splitlines() or [""])
