"""Reading one TOML table against its settings dataclass (``bot.core.settings``): every key's
value checked against what is declared there, a problem line per bad key.

Pure data in, data out: used by ``bot.config`` for the core's sections and by each transport
adapter for its own section (``Transport.read``).
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.core.settings import default_of

_MISSING = object()


class Section:
    """Reads one TOML table against its dataclass, recording a problem per bad key."""

    def __init__(self, name: str, raw: object, problems: list[str], cls: type) -> None:
        self.name = name
        self.problems = problems
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            problems.append(f"[{name}] must be a table, e.g. a line `[{name}]` followed by keys")
            raw = {}
        self.raw: Mapping[str, Any] = raw
        self.cls = cls
        self.hints = typing.get_type_hints(self.cls)

    def bad(self, key: str, value: object, why: str) -> None:
        self.problems.append(f"[{self.name}] {key} = {value!r}: {why}")

    def read(self, custom: Mapping[str, Callable[[object], object]]) -> dict[str, Any]:
        """Every key's value: the file's (checked) or the declared default."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(self.cls):
            if "doc" not in f.metadata:
                continue
            raw = self.raw.get(f.name, _MISSING)
            if raw is _MISSING:
                values[f.name] = default_of(f)
            elif f.name in custom:
                values[f.name] = custom[f.name](raw)
            else:
                values[f.name] = self._check(f, raw)
        for key in self.raw:
            if key not in values:
                hint = difflib.get_close_matches(key, sorted(values), n=1)
                fix = f'did you mean "{hint[0]}"?' if hint else "remove it"
                self.bad(key, self.raw[key], f"unknown key; {fix}")
        return values

    def _check(self, f: dataclasses.Field[Any], value: object) -> object:
        kind = self.hints[f.name]
        optional = type(None) in typing.get_args(kind)
        if optional:
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        if kind is bool:
            if isinstance(value, bool):
                return value
            return self._fail(f, value, "must be true or false (no quotes)")
        if kind in (int, float):
            return self._number(f, value, whole=kind is int, optional=optional)
        if kind is str or kind is Path:
            return self._text(f, value, optional=optional)
        if kind == tuple[str, ...]:
            if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
                return tuple(value)
            return self._fail(f, value, 'must be a list of names, e.g. ["我们一家"], or ["*"]')
        if kind == Mapping[str, str]:
            if isinstance(value, Mapping) and all(
                isinstance(v, str) and v.strip() for v in value.values()
            ):
                return MappingProxyType(dict(value))
            return self._fail(f, value, 'must be a table of names, e.g. { "狗狗群" = "dogs" }')
        raise AssertionError(f"no reader for [{self.name}] {f.name}: {kind}")  # a bug

    def _fail(self, f: dataclasses.Field[Any], value: object, why: str) -> object:
        self.bad(f.name, value, why)
        return default_of(f)

    def _number(
        self, f: dataclasses.Field[Any], value: object, *, whole: bool, optional: bool
    ) -> object:
        meta = f.metadata
        unit = meta["unit"] or "value"
        noun = f"whole number of {unit}" if whole else f"number of {unit}"
        if unit == "probability":
            noun = "probability"
        ok_type = isinstance(value, int) if whole else isinstance(value, int | float)
        low, high = meta["low"], meta["high"]
        in_range = (
            ok_type
            and not isinstance(value, bool)
            and (low is None or value >= low)
            and (high is None or value <= high)
        )
        if in_range:
            return value if whole else float(value)  # type: ignore[arg-type]
        if high is None:
            why = f"must be a whole number >= {low:g}" + (", or left out" if optional else "")
        else:
            why = f"must be a {noun} from {low:g} to {high:g}"
        return self._fail(f, value, why)

    def _text(self, f: dataclasses.Field[Any], value: object, *, optional: bool) -> object:
        choices: tuple[str, ...] = f.metadata["choices"]
        if choices:
            if isinstance(value, str) and value in choices:
                return value
            return self._fail(f, value, "must be one of " + ", ".join(f'"{c}"' for c in choices))
        if not isinstance(value, str) or not value.strip():
            why = "must be a non-empty string in quotes" + (", or left out" if optional else "")
            return self._fail(f, value, why)
        return value


def url_reader(sec: Section, key: str, example: str) -> Callable[[object], object]:
    def read(value: object) -> object:
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            sec.bad(key, value, f'must start with http:// or https://, e.g. "{example}"')
            return getattr(sec.cls, key)
        return value.rstrip("/")

    return read


def names_reader(sec: Section, key: str, what: str, every: str) -> Callable[[object], object]:
    def read(value: object) -> object:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            sec.bad(key, value, f'must be a list of {what}, e.g. ["我们一家"], or ["*"]')
            return ()
        if "*" in value and len(value) > 1:
            sec.bad(key, value, f'"*" means every {every}; do not list names beside it')
        return tuple(value)

    return read


@dataclass(frozen=True)
class Context:
    """What a section reader may need beyond its table."""

    base: Path
    """The config file's folder: relative paths are resolved against it."""
    env: Mapping[str, str]
    """The environment: secrets are read from the variables the file names."""
    active: bool
    """This section's transport is the configured one (its required keys are required)."""
