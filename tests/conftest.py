from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.detector import build_models
from tests.fakes.tfserving import FakeTFServing, ModelSpec
from tests.fakes.tfserving_tf import RealTfServing, real_tf_serving, tensorflow_available

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


@pytest.fixture(scope="session")
def detectors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealTfServing]:
    """The detector SavedModels of tests/fakes/detector, built once (timed on stderr) and
    served over TF Serving's REST API by one real-TensorFlow server."""
    if not tensorflow_available():
        pytest.skip("TensorFlow is not installed: pip install -e '.[test]' installs it")
    work = tmp_path_factory.mktemp("detectors")
    started = time.perf_counter()
    models = build_models(work / "models")
    built = time.perf_counter()
    with real_tf_serving(models, log_path=work / "tfs.log") as server:
        print(
            f"\ndetectors built in {built - started:.1f}s, "
            f"served after {time.perf_counter() - built:.1f}s more"
        )
        yield server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e and tests/standins is end to end: `pytest -m "not e2e"` runs
    the core and adapter tests alone, in seconds."""
    for item in items:
        parts = item.path.relative_to(REPO / "tests").parts
        if parts[0] in ("e2e", "standins"):
            item.add_marker(pytest.mark.e2e)
