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
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot.core.audience import ChatSettings
from bot.core.sections import Context, Section, url_reader
from bot.core.settings import (
    MODEL_LABELS,
    MOVED_TO_CHAT,
    SECTIONS,
    TEMPLATE_FIELDS,
    AskConfig,
    AuditConfig,
    ChatConfig,
    Config,
    DetectConfig,
    ImagesConfig,
    LabelsConfig,
    ModelConfig,
    ReplyConfig,
    ServingConfig,
    StatusConfig,
    default_of,
)
from bot.errors import ConfigError
from bot.registry import AUTO, TRANSPORTS, protocol_names

DEFAULT_CONFIG_PATH = Path("config.toml")
SHIPPED_LABELS = "labels/imagenet1k.xlsx"
_MISSING = object()


def default_state_dir(env: Mapping[str, str]) -> Path:
    """$XDG_STATE_HOME/wechat-vision-bot, else ~/.local/state/wechat-vision-bot."""
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local/state")
    return Path(base) / "wechat-vision-bot"


def _template(sec: Section, key: str) -> Callable[[object], object]:
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


def _offset(sec: Section) -> Callable[[object], object]:
    def read(value: object) -> object:
        if value == "auto":
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        sec.bad("offset", value, 'must be "auto" or a whole number >= 0 (1 = background class)')
        return None

    return read


def _listen(sec: Section) -> Callable[[object], object]:
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


def _serving(sec: Section, env: Mapping[str, str]) -> ServingConfig:
    serving = sec.read({"url": url_reader(sec, "url", "http://127.0.0.1:8501")})
    known = (AUTO, *protocol_names())
    if serving["protocol"] not in known:
        choices = ", ".join(f'"{name}"' for name in known)
        sec.bad("protocol", serving["protocol"], f"must be one of {choices}")
        serving["protocol"] = AUTO
    serving["token"] = env.get(serving["token_env"]) or None
    serving["password"] = env.get(serving["password_env"]) or None
    serving["headers"] = _headers(sec, serving["headers_env"], env.get(serving["headers_env"]))
    if serving["version"] is not None and serving["version_label"] is not None:
        sec.bad("version_label", serving["version_label"], "set either version or version_label")
    if serving["username"] is not None and serving["password"] is None:
        sec.bad(
            "username",
            serving["username"],
            f"needs a password in the environment variable {serving['password_env']}",
        )
    return ServingConfig(**serving)


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")


def _headers(sec: Section, var: str, value: str | None) -> tuple[tuple[str, str], ...]:
    """More HTTP headers from the environment: a JSON object of names to values. The values
    are secrets (a gateway's key): messages name the variable, never what it holds."""
    if not value or not value.strip():
        return ()
    try:
        doc = json.loads(value)
    except ValueError:
        doc = None
    pairs = list(doc.items()) if isinstance(doc, dict) else None
    if pairs is None or not all(
        isinstance(v, str) and _HEADER_NAME.fullmatch(k) and "\r" not in v and "\n" not in v
        for k, v in pairs
    ):
        sec.bad(
            "headers_env",
            var,
            f"the environment variable {var} must hold a JSON object of header names to one-line "
            'text values, e.g. {"Host": "resnet.default.example.com"} (its value is not shown)',
        )
        return ()
    return tuple((str(k), str(v)) for k, v in pairs)


def _ask(sec: Section, env: Mapping[str, str]) -> AskConfig:
    ask = sec.read({"url": url_reader(sec, "url", "http://127.0.0.1:11434/v1")})
    ask["api_key"] = env.get(ask["api_key_env"]) or None
    if ask["url"] is not None and ask["model"] is None:
        sec.bad(
            "model", None, 'is required with [ask] url: the vision model\'s name, e.g. "qwen2.5vl"'
        )
    if ask["url"] is not None and not str(ask["url"]).endswith("/v1"):
        sec.bad(
            "url",
            ask["url"],
            'must be the API base ending in /v1, e.g. "http://127.0.0.1:11434/v1" (Ollama)',
        )
    return AskConfig(**ask)


def _labels(sec: Section, base: Path) -> LabelsConfig:
    labels = sec.read({"offset": _offset(sec)})
    if str(labels["file"]) != MODEL_LABELS:
        labels["file"] = base / labels["file"]
        if not labels["file"].is_file():
            sec.bad(
                "file",
                str(labels["file"]),
                "no such file; give the path of the label spreadsheet (the bot ships "
                f'"{SHIPPED_LABELS}" for ImageNet models), or "model" for the names the model '
                "outputs itself",
            )
    return LabelsConfig(**labels)


def _detect(sec: Section, base: Path) -> DetectConfig:
    detect = sec.read({})
    if detect["font"] is not None:
        detect["font"] = base / detect["font"]
        if not detect["font"].is_file():
            sec.bad(
                "font",
                str(detect["font"]),
                "no such file; give a .ttf/.otf/.ttc font with Chinese glyphs (Debian: "
                "`apt install fonts-noto-cjk`), or leave it out to use one found on the system",
            )
    return DetectConfig(**detect)


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
            own = table.get(part)
            if own is not None and not isinstance(own, Mapping):
                problems.append(
                    f"[models.{name}] {part} = {own!r}: must be a table, e.g. a line "
                    f"`[models.{name}.{part}]` followed by its keys"
                )
                own = None
            inherited = top.get(part)
            merged = {
                **(inherited if isinstance(inherited, Mapping) else {}),
                **(own or {}),
            }
            parts[part] = Section(f"models.{name}.{part}", merged, problems, SECTIONS[part])
        models[str(name)] = ModelConfig(
            serving=_serving(parts["serving"], env), labels=_labels(parts["labels"], base)
        )
    return models


def _chat(
    raw: Mapping[str, Any], base: Path, env: Mapping[str, str], problems: list[str]
) -> tuple[ChatConfig, list[str]]:
    """[chat], taking the keys every transport shares from [wechat] where an older file has
    them there (with one warning naming the new place)."""
    table = raw.get("chat")
    legacy = raw.get("wechat")
    warnings = []
    if isinstance(legacy, Mapping) and (table is None or isinstance(table, Mapping)):
        given = table or {}
        moved = {k: legacy[k] for k in MOVED_TO_CHAT if k in legacy and k not in given}
        if moved:
            table = {**given, **moved}
            warnings.append(
                f"[wechat] {', '.join(moved)}: these keys now belong in [chat], as every "
                "transport shares them; read from [wechat] this time, please move them"
            )
    sec = Section("chat", table, problems, ChatConfig)
    values = sec.read({})
    if values["transport"] not in TRANSPORTS:
        known = ", ".join(f'"{name}"' for name in TRANSPORTS)
        sec.bad("transport", values["transport"], f"must be one of {known}")
        values["transport"] = ChatConfig.transport
    state_dir = values["state_dir"]
    values["state_dir"] = base / state_dir if state_dir else default_state_dir(env)
    return ChatConfig(**values), warnings


def _transports(
    raw: Mapping[str, Any],
    chat: ChatConfig,
    base: Path,
    env: Mapping[str, str],
    problems: list[str],
) -> dict[str, ChatSettings]:
    """Every registered transport's section, each read by its adapter (the inactive ones too,
    so a mistake shows before the day the transport is switched)."""
    found = {}
    for name, transport in TRANSPORTS.items():
        table = raw.get(name)
        if name == "wechat" and isinstance(table, Mapping):
            table = {k: v for k, v in table.items() if k not in MOVED_TO_CHAT}
        sec = Section(name, table, problems, transport.settings)
        found[name] = transport.read(sec, Context(base, env, active=name == chat.transport))
    return found


def _read_sections(
    raw: Mapping[str, Any], base: Path, env: Mapping[str, str], problems: list[str]
) -> dict[str, Any]:
    secs = {name: Section(name, raw.get(name), problems, SECTIONS[name]) for name in SECTIONS}
    r = secs["reply"]
    templates = ("template", "unsure_template", "detect_template")
    reply = r.read({k: _template(r, k) for k in templates})
    chat, warnings = _chat(raw, base, env, problems)
    audit = secs["audit"].read({})
    audit["path"] = base / audit["path"] if audit["path"] else chat.session_dir / "audit.sqlite3"
    status = secs["status"].read({"listen": _listen(secs["status"])})
    models = _models(raw.get("models"), raw, base, env, problems)
    transports = _transports(raw, chat, base, env, problems)
    for name, settings in transports.items():
        for where, model in settings.model_routes.items():
            if model not in models:
                problems.append(
                    f"[{name}] {where!r} = {model!r}: no [models.{model}] table; add one or use "
                    f"one of: {', '.join(models) or '(none defined)'}"
                )
    return {
        "serving": _serving(secs["serving"], env),
        "labels": _labels(secs["labels"], base),
        "images": ImagesConfig(**secs["images"].read({})),
        "reply": ReplyConfig(**reply),
        "detect": _detect(secs["detect"], base),
        "audit": AuditConfig(**audit),
        "status": StatusConfig(**status),
        "ask": _ask(secs["ask"], env),
        "chat": chat,
        "transport": transports[chat.transport],
        "models": models,
        "warnings": tuple(warnings),
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
        if name not in SECTIONS and name not in TRANSPORTS and name != "models":
            hint = difflib.get_close_matches(name, [*SECTIONS, *TRANSPORTS, "models"], n=1)
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
    sections = {**SECTIONS, **{name: t.settings for name, t in TRANSPORTS.items()}}
    for name, cls in sections.items():
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
