from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.tfserving import FakeTFServing, ModelSpec

REPO = Path(__file__).resolve().parent.parent
LABELS_XLSX = REPO / "labels" / "imagenet1k.xlsx"

WriteConfig = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write a config.toml into tmp_path; ``extra`` TOML is appended, ``serving_url`` set."""

    def write(
        extra: str = "",
        *,
        serving_url: str = "http://127.0.0.1:9",
        labels: Path = LABELS_XLSX,
        serving: str = "",
        name: str = "config.toml",
    ) -> Path:
        path = tmp_path / name
        path.write_text(
            f'[serving]\nurl = "{serving_url}"\nmodel = "resnet"\nretry_backoff_s = 0.01\n'
            f"{serving}\n"
            f'[labels]\nfile = "{labels.as_posix()}"\n' + extra,
            encoding="utf-8",
        )
        return path

    return write


@pytest.fixture
def tfs() -> Iterator[FakeTFServing]:
    """A TF Serving stand-in serving the official ResNet-50's signature (1001 classes)."""
    with FakeTFServing(ModelSpec()) as srv:
        yield srv
