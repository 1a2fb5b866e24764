"""The server object: :class:`FakeTFServing` (lifecycle, models, records)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import deque
from collections.abc import Sequence

from PIL import Image

from tests.fakes.tfserving.faults import _Fault
from tests.fakes.tfserving.routing import _Router
from tests.fakes.tfserving.spec import ModelSpec, RecordedRequest
from tests.fakes.tfserving.wire import _HTTPServer


class FakeTFServing(_Router):
    """Threaded fake TF Serving REST server; usable as a context manager.

    Starts listening on construction (``autostart=True``).  Fault injection knobs can be
    changed at any time from the test thread.
    """

    def __init__(
        self,
        models: ModelSpec | Sequence[ModelSpec] | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        autostart: bool = True,
        image_log_limit: int = 64,
        record_json_limit: int = 4 << 20,
    ) -> None:
        if models is None:
            models = ModelSpec()
        specs = [models] if isinstance(models, ModelSpec) else list(models)
        if not specs:
            raise ValueError("at least one ModelSpec is required")
        self._models: dict[str, ModelSpec] = {}
        for spec in specs:
            if spec.name in self._models:
                raise ValueError(f"duplicate model name {spec.name!r}")
            self._models[spec.name] = spec
        self._host = host
        self._port = port
        self.image_log_limit = image_log_limit
        self.record_json_limit = record_json_limit

        # Fault injection / behaviour knobs (plain attributes, read on every request).
        self.delay_s: float = 0.0
        self.max_concurrent: int | None = None
        self.override_predict_json: object | None = None
        self.loading: bool = False

        self._lock = threading.Lock()
        self._cond = threading.Condition(threading.Lock())
        self._faults: deque[_Fault] = deque()
        self._requests: list[RecordedRequest] = []
        self._images: deque[Image.Image] = deque(maxlen=max(1, image_log_limit))
        self._ranges: list[tuple[float, float]] = []
        self._in_flight = 0
        self.peak_concurrent = 0
        self.connections_accepted = 0
        self._open_conns: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._closed = False
        if autostart:
            self.start()

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start listening (again) on the same port."""
        if self._closed:
            raise RuntimeError("server is closed")
        if self._httpd is not None:
            return
        httpd = _HTTPServer((self._host, self._port), self)
        self._port = int(httpd.server_address[1])
        self._stop_event.clear()
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-tfserving-{self._port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and reset every open connection (port is kept for :meth:`start`)."""
        httpd = self._httpd
        if httpd is None:
            return
        self._httpd = None
        self._stop_event.set()
        with self._cond:
            self._cond.notify_all()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._open_conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._closed = True

    def __enter__(self) -> FakeTFServing:
        if self._httpd is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    # ---- models ----------------------------------------------------------------------------

    @property
    def spec(self) -> ModelSpec:
        """The first (usually only) model."""
        return next(iter(self._models.values()))

    @property
    def models(self) -> dict[str, ModelSpec]:
        with self._lock:
            return dict(self._models)

    def set_model(self, spec: ModelSpec) -> None:
        """Add or replace a model (e.g. to emulate a new version being loaded)."""
        with self._lock:
            self._models[spec.name] = spec

    def remove_model(self, name: str) -> None:
        with self._lock:
            self._models.pop(name, None)

    # ---- records ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of every request received so far (oldest first)."""
        with self._lock:
            return list(self._requests)

    @property
    def predict_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and ":predict" in r.path.lower()]

    @property
    def predict_images(self) -> list[Image.Image]:
        """Images decoded from successful predict requests (last ``image_log_limit``)."""
        with self._lock:
            return list(self._images)

    @property
    def tensor_ranges(self) -> list[tuple[float, float]]:
        """(min, max) of the raw values of each tensor instance received by predict."""
        with self._lock:
            return list(self._ranges)

    def reset_records(self) -> None:
        with self._lock:
            self._requests.clear()
            self._images.clear()
            self._ranges.clear()
            self.peak_concurrent = 0

    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(rec)

    def _register_connection(self, conn: socket.socket, opened: bool) -> None:
        with self._lock:
            if opened:
                self._open_conns.add(conn)
                self.connections_accepted += 1
            else:
                self._open_conns.discard(conn)
