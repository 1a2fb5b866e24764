"""``LiveRecogniser``: the ``AnswerSource`` port, connecting to the model lazily and again
after failures, so the bot logs in and keeps running while the model server is down."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Protocol

from bot.core.answers import Answerer
from bot.errors import (
    BadPrediction,
    BotError,
    ModelMismatch,
    ModelNotLoaded,
    ServingError,
    ServingUnavailable,
)

log = logging.getLogger(__name__)


class Model(Protocol):
    """A model reached and read: its recogniser, and a cheap "are you there?" call."""

    @property
    def recogniser(self) -> Answerer: ...

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
        # The last failure as its class and text: a new exception is raised each time, so no
        # traceback grows and no picture's frames are kept alive by a cached exception.
        self._last_error: Callable[[], BotError] | None = None

    def model(self) -> Model:
        """The connected model; raises ServingError (again the last one, within ``retry_s``)
        or ModelMismatch."""
        with self._lock:
            if self._model is not None:
                return self._model
            if self._last_error is not None and self._clock() < self._next_try:
                raise self._last_error()
            try:
                model = self._connect()
            except (ServingError, ModelMismatch) as exc:
                self._last_error = _again(exc)
                self._next_try = self._clock() + self._retry_s
                raise
            log.info("model ready: %s", model.description)
            self._model = model
            return model

    def get(self, model: str | None = None) -> Answerer:
        return self.model().recogniser

    def ping(self) -> None:
        """Check the model answers now; raises ServingError if not."""
        self.model().ping()


def _again(exc: BotError) -> Callable[[], BotError]:
    """A maker of a fresh exception saying what ``exc`` said (its own class where it takes the
    text alone, else the plain ``ServingUnavailable``)."""
    text = str(exc)
    if isinstance(exc, ModelMismatch):
        return lambda: ModelMismatch(text)
    if type(exc) in (ServingUnavailable, BadPrediction):
        kind = type(exc)
        return lambda: kind(text)
    return lambda: ServingUnavailable(text)


class ModelSet:
    """The ``AnswerSource`` port over the default model and the named ones."""

    def __init__(self, default: LiveRecogniser, named: Mapping[str, LiveRecogniser]) -> None:
        self.default = default
        self.named = dict(named)

    def get(self, model: str | None) -> Answerer:
        """The named model's answerer (None: the default); raises ServingError."""
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
