"""config.toml -> frozen dataclasses, validated whole.

Every problem in the file is collected and reported together in one ``ConfigError``
whose lines read ``[section] key = value: what is wrong and how to fix it``.
Relative paths are resolved against the config file's folder. Secrets never live in
the file: the file names environment variables, which are read here.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("config.toml")
VALUE_RANGES = ("0_1", "-1_1", "0_255", "caffe")
INPUT_MODES = ("auto", "jpeg", "tensor")
DEFAULT_TEMPLATE = "@{sender}\u2005让我猜猜,你发的这张图片有 {probability} 的概率是: {label}"
DEFAULT_UNSURE_TEMPLATE = "@{sender}\u2005这张图片我不太有把握,可能是: {topk}"
DEFAULT_APOLOGY = "抱歉,识图服务暂时不可用,请稍后再试。"
TEMPLATE_FIELDS = ("sender", "label", "probability", "topk")


@dataclass(frozen=True)
class ServingConfig:
    url: str = "http://127.0.0.1:8501"
    model: str = "resnet"
    timeout_s: float = 10.0
    version: int | None = None
    version_label: str | None = None
    signature: str = "serving_default"
    input: str = "auto"
    value_range: str = "0_1"
    output: str = "auto"
    retries: int = 2
    retry_backoff_s: float = 0.5
    token_env: str = "WECHAT_VISION_BOT_TOKEN"
    username: str | None = None
    password_env: str = "WECHAT_VISION_BOT_PASSWORD"
    token: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class LabelsConfig:
    file: Path
    column: str = "class_ZH"
    id_column: str = "class_NO"
    offset: int | None = None  # None = "auto"


@dataclass(frozen=True)
class ImagesConfig:
    short_side_px: int = 320
    max_bytes: int = 20_000_000
    max_pixels: int = 60_000_000
    jpeg_quality: int = 95


@dataclass(frozen=True)
class ReplyConfig:
    template: str = DEFAULT_TEMPLATE
    unsure_template: str = DEFAULT_UNSURE_TEMPLATE
    top_k: int = 3
    min_confidence: float = 0.2
    apology: str = DEFAULT_APOLOGY
    apology_interval_s: float = 600.0


STICKER_MODES = ("ignore", "classify")
DEFAULT_LOGIN_URL = "https://login.weixin.qq.com"


def default_state_dir(env: Mapping[str, str]) -> Path:
    """$XDG_STATE_HOME/wechat-vision-bot, else ~/.local/state/wechat-vision-bot."""
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local/state")
    return Path(base) / "wechat-vision-bot"


@dataclass(frozen=True)
class WeChatConfig:
    state_dir: Path
    login_url: str = DEFAULT_LOGIN_URL
    groups: tuple[str, ...] = ()
    stickers: str = "ignore"
    private_chats: bool = False
    filehelper_audit: bool = True
    min_send_interval_s: float = 1.0
    send_jitter_s: float = 0.5
    send_retries: int = 2
    startup_grace_s: float = 60.0
    login_timeout_s: float = 600.0
    workers: int = 2
    queue_size: int = 100
    shutdown_timeout_s: float = 15.0
    download_timeout_s: float = 30.0


@dataclass(frozen=True)
class AuditConfig:
    path: Path


@dataclass(frozen=True)
class StatusConfig:
    listen: tuple[str, int] | None = None  # None = no status page
    healthy_within_s: float = 120.0
    probe_interval_s: float = 30.0


@dataclass(frozen=True)
class Config:
    path: Path
    serving: ServingConfig
    labels: LabelsConfig
    images: ImagesConfig
    reply: ReplyConfig
    wechat: WeChatConfig
    audit: AuditConfig
    status: StatusConfig


class _Section:
    """Reads one TOML table, recording a problem per bad key instead of stopping."""

    def __init__(self, name: str, raw: object, problems: list[str]) -> None:
        self.name = name
        self.problems = problems
        self.seen: set[str] = set()
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            problems.append(f"[{name}] must be a table, e.g. a line `[{name}]` followed by keys")
            raw = {}
        self.raw: Mapping[str, Any] = raw

    def _bad(self, key: str, value: object, why: str) -> None:
        self.problems.append(f"[{self.name}] {key} = {value!r}: {why}")

    def _get(self, key: str) -> Any:
        self.seen.add(key)
        return self.raw.get(key)

    def text(self, key: str, default: str, *, choices: tuple[str, ...] = ()) -> str:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, str) or (not value.strip() and not choices):
            self._bad(key, value, "must be a non-empty string in quotes")
            return default
        if choices and value not in choices:
            self._bad(key, value, "must be one of " + ", ".join(f'"{c}"' for c in choices))
            return default
        return value

    def optional_text(self, key: str) -> str | None:
        value = self._get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self._bad(key, value, "must be a non-empty string in quotes, or left out")
            return None
        return value

    def number(
        self, key: str, default: float, *, minimum: float, maximum: float, unit: str
    ) -> float:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._bad(key, value, f"must be a number of {unit}")
            return default
        if not minimum <= value <= maximum:
            self._bad(key, value, f"must be a number of {unit} from {minimum} to {maximum}")
            return default
        return float(value)

    def integer(self, key: str, default: int, *, minimum: int, maximum: int, unit: str) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self._bad(key, value, f"must be a whole number of {unit}")
            return default
        if not minimum <= value <= maximum:
            self._bad(key, value, f"must be a whole number of {unit} from {minimum} to {maximum}")
            return default
        return value

    def optional_integer(self, key: str, *, minimum: int) -> int | None:
        value = self._get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self._bad(key, value, f"must be a whole number >= {minimum}, or left out")
            return None
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self._bad(key, value, "must be true or false (no quotes)")
            return default
        return value

    def names(self, key: str) -> tuple[str, ...]:
        value = self._get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self._bad(key, value, 'must be a list of group names, e.g. ["我们一家"], or ["*"]')
            return ()
        return tuple(value)

    def template(self, key: str, default: str) -> str:
        value = self.text(key, default)
        sample = dict.fromkeys(TEMPLATE_FIELDS, "x")
        try:
            value.format(**sample)
        except (KeyError, IndexError, ValueError) as exc:
            fields = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
            self._bad(key, value, f"is not a valid template ({exc!r}); use only {fields}")
            return default
        return value

    def finish(self) -> None:
        for key in self.raw:
            if key not in self.seen:
                hint = difflib.get_close_matches(key, sorted(self.seen), n=1)
                fix = f'did you mean "{hint[0]}"?' if hint else "remove it"
                self._bad(key, self.raw[key], f"unknown key; {fix}")


def _serving(sec: _Section, env: Mapping[str, str]) -> ServingConfig:
    url = sec.text("url", ServingConfig.url)
    if not url.startswith(("http://", "https://")):
        sec._bad("url", url, 'must start with http:// or https://, e.g. "http://127.0.0.1:8501"')
    token_env = sec.text("token_env", ServingConfig.token_env)
    password_env = sec.text("password_env", ServingConfig.password_env)
    cfg = ServingConfig(
        url=url.rstrip("/"),
        model=sec.text("model", ServingConfig.model),
        timeout_s=sec.number("timeout_s", 10.0, minimum=0.1, maximum=600, unit="seconds"),
        version=sec.optional_integer("version", minimum=1),
        version_label=sec.optional_text("version_label"),
        signature=sec.text("signature", ServingConfig.signature),
        input=sec.text("input", "auto", choices=INPUT_MODES),
        value_range=sec.text("value_range", "0_1", choices=VALUE_RANGES),
        output=sec.text("output", "auto"),
        retries=sec.integer("retries", 2, minimum=0, maximum=10, unit="retries"),
        retry_backoff_s=sec.number("retry_backoff_s", 0.5, minimum=0, maximum=60, unit="seconds"),
        token_env=token_env,
        username=sec.optional_text("username"),
        password_env=password_env,
        token=env.get(token_env) or None,
        password=env.get(password_env) or None,
    )
    if cfg.version is not None and cfg.version_label is not None:
        sec._bad(
            "version_label", cfg.version_label, "set either version or version_label, not both"
        )
    if cfg.username is not None and cfg.password is None:
        sec._bad(
            "username", cfg.username, f"needs a password in the environment variable {password_env}"
        )
    return cfg


def _labels(sec: _Section, base: Path) -> LabelsConfig:
    file = base / sec.text("file", "labels/imagenet1k.xlsx")
    if not file.is_file():
        sec._bad("file", str(file), "no such file; give the path of the label spreadsheet")
    offset_raw = sec._get("offset")
    offset: int | None = None
    if isinstance(offset_raw, int) and not isinstance(offset_raw, bool) and offset_raw >= 0:
        offset = offset_raw
    elif offset_raw not in (None, "auto"):
        sec._bad(
            "offset", offset_raw, 'must be "auto" or a whole number >= 0 (1 = background class)'
        )
    return LabelsConfig(
        file=file,
        column=sec.text("column", LabelsConfig.column),
        id_column=sec.text("id_column", LabelsConfig.id_column),
        offset=offset,
    )


def _images(sec: _Section) -> ImagesConfig:
    return ImagesConfig(
        short_side_px=sec.integer("short_side_px", 320, minimum=32, maximum=4096, unit="pixels"),
        max_bytes=sec.integer(
            "max_bytes", 20_000_000, minimum=1024, maximum=500_000_000, unit="bytes"
        ),
        max_pixels=sec.integer(
            "max_pixels", 60_000_000, minimum=10_000, maximum=500_000_000, unit="pixels"
        ),
        jpeg_quality=sec.integer("jpeg_quality", 95, minimum=30, maximum=100, unit="percent"),
    )


def _reply(sec: _Section) -> ReplyConfig:
    return ReplyConfig(
        template=sec.template("template", DEFAULT_TEMPLATE),
        unsure_template=sec.template("unsure_template", DEFAULT_UNSURE_TEMPLATE),
        top_k=sec.integer("top_k", 3, minimum=1, maximum=10, unit="labels"),
        min_confidence=sec.number("min_confidence", 0.2, minimum=0, maximum=1, unit="probability"),
        apology=sec.text("apology", DEFAULT_APOLOGY),
        apology_interval_s=sec.number(
            "apology_interval_s", 600.0, minimum=0, maximum=86400 * 7, unit="seconds"
        ),
    )


def _wechat(sec: _Section, base: Path, env: Mapping[str, str]) -> WeChatConfig:
    state = sec.optional_text("state_dir")
    login_url = sec.text("login_url", DEFAULT_LOGIN_URL)
    if not login_url.startswith(("http://", "https://")):
        sec._bad(
            "login_url",
            login_url,
            f'must start with http:// or https://, e.g. "{DEFAULT_LOGIN_URL}"',
        )
    groups = sec.names("groups")
    if "*" in groups and len(groups) > 1:
        sec._bad("groups", list(groups), '"*" means every group; do not list names beside it')
    interval = sec.number("min_send_interval_s", 1.0, minimum=0, maximum=600, unit="seconds")
    return WeChatConfig(
        state_dir=base / state if state else default_state_dir(env),
        login_url=login_url.rstrip("/"),
        groups=groups,
        stickers=sec.text("stickers", "ignore", choices=STICKER_MODES),
        private_chats=sec.flag("private_chats", False),
        filehelper_audit=sec.flag("filehelper_audit", True),
        min_send_interval_s=interval,
        send_jitter_s=sec.number("send_jitter_s", 0.5, minimum=0, maximum=600, unit="seconds"),
        send_retries=sec.integer("send_retries", 2, minimum=0, maximum=10, unit="retries"),
        startup_grace_s=sec.number(
            "startup_grace_s", 60.0, minimum=0, maximum=86400, unit="seconds"
        ),
        login_timeout_s=sec.number(
            "login_timeout_s", 600.0, minimum=5, maximum=86400, unit="seconds"
        ),
        workers=sec.integer("workers", 2, minimum=1, maximum=32, unit="threads"),
        queue_size=sec.integer("queue_size", 100, minimum=0, maximum=10_000, unit="pictures"),
        shutdown_timeout_s=sec.number(
            "shutdown_timeout_s", 15.0, minimum=0, maximum=600, unit="seconds"
        ),
        download_timeout_s=sec.number(
            "download_timeout_s", 30.0, minimum=1, maximum=600, unit="seconds"
        ),
    )


def _audit(sec: _Section, base: Path, state_dir: Path) -> AuditConfig:
    path = sec.optional_text("path")
    return AuditConfig(path=base / path if path else state_dir / "audit.sqlite3")


def _status(sec: _Section) -> StatusConfig:
    listen = sec._get("listen")
    address: tuple[str, int] | None = None
    if listen is not None and not isinstance(listen, str):
        sec._bad("listen", listen, 'must be "host:port" in quotes, e.g. "127.0.0.1:8080"')
    elif listen and listen.strip():
        host, _, port = listen.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            sec._bad("listen", listen, 'must be "host:port", e.g. "127.0.0.1:8080", or "" for off')
        else:
            address = (host.strip("[]"), int(port))
    return StatusConfig(
        listen=address,
        healthy_within_s=sec.number(
            "healthy_within_s", 120.0, minimum=1, maximum=86400, unit="seconds"
        ),
        probe_interval_s=sec.number(
            "probe_interval_s", 30.0, minimum=1, maximum=3600, unit="seconds"
        ),
    )


SECTIONS = ("serving", "labels", "images", "reply", "wechat", "audit", "status")


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate ``path``; raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            path, ["does not exist: pass --config PATH or create it from the example config.toml"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot be read: {exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"is not valid TOML: {exc}"]) from exc
    problems: list[str] = []
    sections = {name: _Section(name, raw.get(name), problems) for name in SECTIONS}
    base = path.resolve().parent
    wechat = _wechat(sections["wechat"], base, env)
    config = Config(
        path=path,
        serving=_serving(sections["serving"], env),
        labels=_labels(sections["labels"], base),
        images=_images(sections["images"]),
        reply=_reply(sections["reply"]),
        wechat=wechat,
        audit=_audit(sections["audit"], base, wechat.state_dir),
        status=_status(sections["status"]),
    )
    for sec in sections.values():
        sec.finish()
    for name in raw:
        if name not in SECTIONS:
            hint = difflib.get_close_matches(name, SECTIONS, n=1)
            fix = f'did you mean "[{hint[0]}]"?' if hint else "remove it"
            problems.append(f"[{name}]: unknown section; {fix}")
    if problems:
        raise ConfigError(path, problems)
    return config
