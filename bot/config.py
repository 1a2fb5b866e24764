"""config.toml -> ``bot.core.settings.Config``, validated whole.

Every key, its default and its bounds are declared once, in ``bot.core.settings``; this module
reads the file against those declarations. Every problem is collected and reported together
in one ``ConfigError`` whose lines read ``[section] key = value: what is wrong and how to fix
it``. Relative paths are resolved against the config file's folder. Secrets never live in the
file: the file names environment variables, which are read here.

``python -m bot.config`` prints the README's configuration table from the declarations.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.core.settings import (
    DEFAULT_LOGIN_URL,
    DEFAULT_WECOM_URL,
    MODEL_LABELS,
    SECTIONS,
    TEMPLATE_FIELDS,
    AuditConfig,
    ChatConfig,
    Config,
    ImagesConfig,
    LabelsConfig,
    ModelConfig,
    ReplyConfig,
    ServingConfig,
    StatusConfig,
    WeChatConfig,
    WeComConfig,
    default_of,
)
from bot.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("config.toml")
_MISSING = object()


def default_state_dir(env: Mapping[str, str]) -> Path:
    """$XDG_STATE_HOME/wechat-vision-bot, else ~/.local/state/wechat-vision-bot."""
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local/state")
    return Path(base) / "wechat-vision-bot"


class _Section:
    """Reads one TOML table against its dataclass, recording a problem per bad key."""

    def __init__(
        self, name: str, raw: object, problems: list[str], cls: type | None = None
    ) -> None:
        self.name = name
        self.problems = problems
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            problems.append(f"[{name}] must be a table, e.g. a line `[{name}]` followed by keys")
            raw = {}
        self.raw: Mapping[str, Any] = raw
        self.cls = cls or SECTIONS[name]
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


def _template(sec: _Section, key: str) -> Callable[[object], object]:
    default = getattr(sec.cls, key)

    def read(value: object) -> object:
        if not isinstance(value, str) or not value.strip():
            sec.bad(key, value, "must be a non-empty string in quotes")
            return default
        try:
            value.format(**dict.fromkeys(TEMPLATE_FIELDS, "x"))
        except (KeyError, IndexError, ValueError) as exc:
            fields = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
            sec.bad(key, value, f"is not a valid template ({exc!r}); use only {fields}")
            return default
        return value

    return read


def _url(sec: _Section, key: str, example: str) -> Callable[[object], object]:
    def read(value: object) -> object:
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            sec.bad(key, value, f'must start with http:// or https://, e.g. "{example}"')
            return getattr(sec.cls, key)
        return value.rstrip("/")

    return read


def _offset(sec: _Section) -> Callable[[object], object]:
    def read(value: object) -> object:
        if value == "auto":
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        sec.bad("offset", value, 'must be "auto" or a whole number >= 0 (1 = background class)')
        return None

    return read


def _listen(sec: _Section) -> Callable[[object], object]:
    def read(value: object) -> object:
        if not isinstance(value, str):
            sec.bad("listen", value, 'must be "host:port" in quotes, e.g. "127.0.0.1:8080"')
            return None
        if not value.strip():
            return None
        host, _, port = value.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            sec.bad("listen", value, 'must be "host:port", e.g. "127.0.0.1:8080", or "" for off')
            return None
        return (host.strip("[]"), int(port))

    return read


def _groups(sec: _Section, key: str, what: str, every: str) -> Callable[[object], object]:
    def read(value: object) -> object:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            sec.bad(key, value, f'must be a list of {what}, e.g. ["我们一家"], or ["*"]')
            return ()
        if "*" in value and len(value) > 1:
            sec.bad(key, value, f'"*" means every {every}; do not list names beside it')
        return tuple(value)

    return read


def _serving(sec: _Section, env: Mapping[str, str]) -> ServingConfig:
    serving = sec.read({"url": _url(sec, "url", "http://127.0.0.1:8501")})
    serving["token"] = env.get(serving["token_env"]) or None
    serving["password"] = env.get(serving["password_env"]) or None
    if serving["version"] is not None and serving["version_label"] is not None:
        sec.bad("version_label", serving["version_label"], "set either version or version_label")
    if serving["username"] is not None and serving["password"] is None:
        sec.bad(
            "username",
            serving["username"],
            f"needs a password in the environment variable {serving['password_env']}",
        )
    return ServingConfig(**serving)


def _labels(sec: _Section, base: Path) -> LabelsConfig:
    labels = sec.read({"offset": _offset(sec)})
    if str(labels["file"]) != MODEL_LABELS:
        labels["file"] = base / labels["file"]
        if not labels["file"].is_file():
            sec.bad(
                "file",
                str(labels["file"]),
                'no such file; give the path of the label spreadsheet, or "model" for the '
                "names the model outputs itself",
            )
    return LabelsConfig(**labels)


def _wecom(sec: _Section, base: Path, env: Mapping[str, str], transport: str) -> WeComConfig:
    wecom = sec.read({"chats": _groups(sec, "chats", "chatids or userids", "chat")})
    wecom["secret"] = env.get(wecom["secret_env"]) or None
    if wecom["ca_file"] is not None:
        wecom["ca_file"] = base / wecom["ca_file"]
        if not wecom["ca_file"].is_file():
            sec.bad("ca_file", str(wecom["ca_file"]), "no such file; give a PEM CA certificate")
    if not str(wecom["ws_url"]).startswith(("wss://", "ws://")):
        sec.bad("ws_url", wecom["ws_url"], f'must start with wss://, e.g. "{DEFAULT_WECOM_URL}"')
    if transport == "wecom" and wecom["bot_id"] is None:
        sec.bad(
            "bot_id",
            None,
            'is required with [chat] transport = "wecom": the AI bot\'s '
            "Bot ID from the WeCom admin console",
        )
    return WeComConfig(**wecom)


def _models(
    raw: object, top: Mapping[str, Any], base: Path, env: Mapping[str, str], problems: list[str]
) -> dict[str, ModelConfig]:
    """[models.NAME] tables: [serving] and [labels] keys of their own over the top-level ones."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append("[models] must hold tables, e.g. [models.dogs.serving] with model = ...")
        return {}
    models = {}
    for name, table in raw.items():
        if not isinstance(table, Mapping) or set(table) - {"serving", "labels"}:
            problems.append(
                f"[models.{name}] may only hold [models.{name}.serving] and "
                f"[models.{name}.labels] tables"
            )
            continue
        parts = {}
        for part in ("serving", "labels"):
            merged = {**(top.get(part) or {}), **(table.get(part) or {})}
            parts[part] = _Section(f"models.{name}.{part}", merged, problems, SECTIONS[part])
        models[str(name)] = ModelConfig(
            serving=_serving(parts["serving"], env), labels=_labels(parts["labels"], base)
        )
    return models


def _read_sections(
    raw: Mapping[str, Any], base: Path, env: Mapping[str, str], problems: list[str]
) -> dict[str, Any]:
    secs = {name: _Section(name, raw.get(name), problems) for name in SECTIONS}
    r, w = secs["reply"], secs["wechat"]
    reply = r.read({k: _template(r, k) for k in ("template", "unsure_template")})
    wechat = w.read(
        {
            "groups": _groups(w, "groups", "group names", "group"),
            "login_url": _url(w, "login_url", DEFAULT_LOGIN_URL),
        }
    )
    wechat["state_dir"] = (
        base / wechat["state_dir"] if wechat["state_dir"] else default_state_dir(env)
    )
    audit = secs["audit"].read({})
    audit["path"] = base / audit["path"] if audit["path"] else wechat["state_dir"] / "audit.sqlite3"
    status = secs["status"].read({"listen": _listen(secs["status"])})
    chat = ChatConfig(**secs["chat"].read({}))
    models = _models(raw.get("models"), raw, base, env, problems)
    wecom = _wecom(secs["wecom"], base, env, chat.transport)
    for key, table in (
        ("[wechat] group_models", wechat["group_models"]),
        ("[wecom] chat_models", wecom.chat_models),
    ):
        for where, model in table.items():
            if model not in models:
                problems.append(
                    f"{key} {where!r} = {model!r}: no [models.{model}] table; add one or use one "
                    f"of: {', '.join(models) or '(none defined)'}"
                )
    return {
        "serving": _serving(secs["serving"], env),
        "labels": _labels(secs["labels"], base),
        "images": ImagesConfig(**secs["images"].read({})),
        "reply": ReplyConfig(**reply),
        "wechat": WeChatConfig(**wechat),
        "audit": AuditConfig(**audit),
        "status": StatusConfig(**status),
        "chat": chat,
        "wecom": wecom,
        "models": models,
    }


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate ``path``; raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            path, ["does not exist: pass --config PATH or create it from the example config.toml"]
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot be read: {exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"is not valid TOML: {exc}"]) from exc
    problems: list[str] = []
    sections = _read_sections(raw, path.resolve().parent, env, problems)
    for name in raw:
        if name not in SECTIONS and name != "models":
            hint = difflib.get_close_matches(name, [*SECTIONS, "models"], n=1)
            fix = f'did you mean "[{hint[0]}]"?' if hint else "remove it"
            problems.append(f"[{name}]: unknown section; {fix}")
    if problems:
        raise ConfigError(path, problems)
    return Config(path=path, **sections)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\u2005", "\\u2005") + '"'
    if isinstance(value, Path):
        return f'"{value.as_posix()}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return repr(value)


def reference_rows() -> list[tuple[str, str, str]]:
    """(key, default as written in TOML, doc) for every key, in declaration order."""
    rows = []
    for name, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            if "doc" in f.metadata:
                shown = f.metadata["shown"] or (
                    "–" if default_of(f) is None else f"`{_toml(default_of(f))}`"
                )
                rows.append((f"`[{name}] {f.name}`", shown, f.metadata["doc"]))
    return rows


def reference_table() -> str:
    lines = ["| key | default | meaning |", "|---|---|---|"]
    lines += [f"| {key} | {default} | {doc} |" for key, default, doc in reference_rows()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference_table(), end="")
