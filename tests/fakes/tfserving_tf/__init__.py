"""TF Serving's REST API over real TensorFlow, for tests that need a real SavedModel run.

No ``tensorflow_model_server`` binary can be installed here (PyPI's tensorflow-serving-api is
the client stubs only; Debian has no TF Serving package), so :mod:`.server` serves SavedModels
with real TF sessions -- loaded exactly as TF Serving does, through the v1 SavedModel loader --
behind TF Serving's REST surface as described in shared/docs/tfserving-rest.md:

  GET  /v1/models/NAME[/versions/N]              model_version_status
  GET  /v1/models/NAME[/versions/N]/metadata     signature_def, TF Serving's JSON shape
  POST /v1/models/NAME[/versions/N]:predict      ``instances`` (row) or ``inputs`` (columnar),
                                                 {"b64": ...} decoded with the *standard*
                                                 alphabet only (absl::Base64Unescape)
  errors                                         {"error": "..."} with TF's own messages
                                                 (C++ status text, without the Python
                                                 "Graph execution error" preamble)

Each base path holds numeric version folders; the highest is served (TF Serving's default).

Tests start it in a child process (this module does not import TensorFlow)::

    with real_tf_serving({"det": base_path}, log_path=tmp_path / "tfs.log") as tfs:
        requests.get(f"{tfs.url}/v1/models/det/metadata")

or by hand: ``python -m tests.fakes.tfserving_tf --port 8501 --model det=BASE_PATH``.
``scripts/interop/tfs_server.py`` is the same server under its old name.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
LISTENING = "listening on http://"


def tensorflow_available() -> bool:
    """Whether this interpreter can import TensorFlow (the test extras may lack it)."""
    return importlib.util.find_spec("tensorflow") is not None


@dataclass
class RealTfServing:
    """A running server: its base URL (``http://127.0.0.1:PORT``) and its child process."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """What the server wrote so far (model loads, one line per request, TF's warnings)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_real_tf_serving(
    models: Mapping[str, str | Path],
    *,
    log_path: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    python: str = sys.executable,
    timeout_s: float = 120.0,
) -> RealTfServing:
    """Start the server on ``models`` (``{name: base_path}``) and wait until it listens.

    Raises RuntimeError, with the server's log, if it exits or is not listening within
    ``timeout_s`` (loading TensorFlow alone takes a few seconds)."""
    command = [python, "-m", "tests.fakes.tfserving_tf", "--host", host, "--port", str(port)]
    for name, path in models.items():
        command += ["--model", f"{name}={path}"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    server = RealTfServing("", process, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in server.log().splitlines():
            if line.startswith(LISTENING):
                server.url = "http://" + line[len(LISTENING) :].strip()
                return server
        if process.poll() is not None:
            break
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"the real-TF server did not start ({' '.join(command)}):\n{server.log()}")


@contextmanager
def real_tf_serving(
    models: Mapping[str, str | Path],
    *,
    log_path: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    python: str = sys.executable,
    timeout_s: float = 120.0,
) -> Iterator[RealTfServing]:
    """:func:`start_real_tf_serving` as a context manager that stops the server at exit."""
    server = start_real_tf_serving(
        models, log_path=log_path, host=host, port=port, python=python, timeout_s=timeout_s
    )
    try:
        yield server
    finally:
        server.stop()


__all__ = ["RealTfServing", "real_tf_serving", "start_real_tf_serving", "tensorflow_available"]
