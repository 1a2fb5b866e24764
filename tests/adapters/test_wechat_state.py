"""The private state folder: one others can read or enter is made private before use."""

from __future__ import annotations

from pathlib import Path

from bot.adapters.wechat.state import prepare_state_dir, tighten


def test_a_state_folder_others_can_read_is_made_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)

    prepare_state_dir(state)

    assert state.stat().st_mode & 0o777 == 0o700
    assert tighten(state) is None  # already private: nothing to do


def test_tighten_says_which_mode_it_had(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o750)
    assert tighten(state) == 0o750
