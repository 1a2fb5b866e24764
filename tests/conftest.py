from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.tfserving import FakeTFServing, ModelSpec

REPO = Path(__file__).resolve().parent.parent
LABELS_XLSX = REPO / "labels" / "imagenet1k.xlsx"

WriteConfig = Callable[..., Path]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e and tests/standins is end to end: `pytest -m "not e2e"` runs
    the core and adapter tests alone, in seconds."""
    for item in items:
        parts = item.path.relative_to(REPO / "tests").parts
        if parts[0] in ("e2e", "standins"):
            item.add_marker(pytest.mark.e2e)
