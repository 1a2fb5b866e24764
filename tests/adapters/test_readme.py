"""The README's configuration reference is the settings' own declaration."""

from __future__ import annotations

from bot.config import reference_rows, reference_table
from tests.conftest import REPO


def test_the_readme_lists_every_key_with_its_real_default_and_doc() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [
        f"| {key} | {default} | {doc} |"
        for key, default, doc in reference_rows()
        if f"| {key} | {default} | {doc} |" not in readme
    ]
    assert missing == [], "run `.venv/bin/python -m bot.config` and paste its table into README.md"
    assert reference_table() in readme
