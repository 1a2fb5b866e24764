"""``LiveRecogniser``: the ``RecogniserSource`` port, connecting to the model lazily and again
after failures, so the bot logs in and keeps running while TF Serving is down."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Protocol

from bot.core.pipeline import Recogniser
from bot.errors import ModelNotLoaded, ServingError

log = logging.getLogger(__name__)


class Model(Protocol):
    """A model reached and read: its recogniser, and a cheap "are you there?" call."""

    @property
    def recogniser(self) -> Recogniser: ...

    @property
    def description(self) -> str: ...

    def ping(self) -> None:
        """Raise ServingError unless the server answers now."""
        ...


class LiveRecogniser:
    def __init__(
        self, connect: Callable[[], Model], *, retry_s: float, clock: Callable[[], float]
    ) -> None:
        self._connect = connect
        self._retry_s = retry_s
        self._clock = clock
        self._lock = threading.Lock()
        self._model: Model | None = None
        self._next_try = 0.0
        self._last_error: ServingError | None = None

    def model(self) -> Model:
        """The connected model; raises ServingError (the last one, within ``retry_s``)."""
        with self._lock:
            if self._model is not None:
                return self._model
            if self._last_error is not None and self._clock() < self._next_try:
                raise self._last_error
            try:
                model = self._connect()
            except ServingError as exc:
                self._last_error = exc
                self._next_try = self._clock() + self._retry_s
                raise
            log.info("TF Serving ready: %s", model.description)
            self._model = model
            return model

    def get(self, model: str | None = None) -> Recogniser:
        return self.model().recogniser

    def ping(self) -> None:
        """Check the model answers now; raises ServingError if not."""
        self.model().ping()


class ModelSet:
    """The ``RecogniserSource`` port over the default model and the named ones."""

    def __init__(self, default: LiveRecogniser, named: Mapping[str, LiveRecogniser]) -> None:
        self.default = default
        self.named = dict(named)

    def get(self, model: str | None) -> Recogniser:
        """The named model's recogniser (None: the default); raises ServingError."""
        if model is None:
            return self.default.get()
        if model not in self.named:
            raise ModelNotLoaded(
                f"this chat is routed to model {model!r}, which the running bot did not load "
                f"(loaded: {', '.join(self.named) or 'only the default'}); add [models.{model}] "
                "and restart the bot"
            )
        return self.named[model].get()

    def all(self) -> dict[str | None, LiveRecogniser]:
        models: dict[str | None, LiveRecogniser] = {None: self.default}
        models.update(self.named)
        return models
