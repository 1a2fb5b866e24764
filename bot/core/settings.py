"""Every setting in config.toml, declared once: section, key, default, bounds and a one-line doc.

Plain frozen dataclasses (standard library only), so the core and the adapters take these types
directly. ``bot.config`` reads config.toml into them and validates every value against the
metadata declared here; the README's configuration table is generated from the same metadata
(``python -m bot.config``), and a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from bot.core.names import normalise_name

if TYPE_CHECKING:
    from bot.core.pictures import Picture

DEFAULT_TEMPLATE = "@{sender}\u2005让我猜猜,你发的这张图片有 {probability} 的概率是: {label}"
DEFAULT_UNSURE_TEMPLATE = "@{sender}\u2005这张图片我不太有把握,可能是: {topk}"
DEFAULT_APOLOGY = "抱歉,识图服务暂时不可用,请稍后再试。"
DEFAULT_LOGIN_URL = "https://login.weixin.qq.com"
TEMPLATE_FIELDS = ("sender", "label", "probability", "topk")
VALUE_RANGES = ("0_1", "-1_1", "0_255", "caffe")
INPUT_MODES = ("auto", "jpeg", "tensor", "base64_text")
SCORE_KINDS = ("auto", "probabilities", "logits")
PROTOCOLS = ("auto", "tfserving", "stfs")
IMAGE_FORMATS = ("jpeg", "png")
STICKER_MODES = ("ignore", "classify")
TRANSPORTS = ("wechat", "wecom")
DEFAULT_WECOM_URL = "wss://openws.work.weixin.qq.com"
DEFAULT_HINT = "@{sender} 发一张图片并 @我, 我来猜猜是什么。"
MODEL_LABELS = "model"


def setting(
    default: Any,
    doc: str,
    *,
    low: float | None = None,
    high: float | None = None,
    unit: str = "",
    choices: tuple[str, ...] = (),
    shown: str | None = None,
) -> Any:
    """A config key: its default, a one-line doc, and what values are valid.

    ``shown`` is how the README writes a default that is computed (e.g. a folder in $HOME).
    """
    meta = {"doc": doc, "low": low, "high": high, "unit": unit, "choices": choices, "shown": shown}
    if isinstance(default, Mapping):  # a table: each instance gets its own (read-only) copy
        frozen = dict(default)
        return field(default_factory=lambda: MappingProxyType(frozen), metadata=meta)
    return field(default=default, metadata=meta)


def default_of(f: Any) -> Any:
    """The declared default of a dataclass field, whether a value or a factory."""
    return f.default_factory() if f.default is MISSING else f.default


def secret(env_key: str) -> Any:
    """A value read from the environment variable named by the key ``env_key``, never the file."""
    return field(default=None, repr=False, metadata={"secret_from": env_key})


@dataclass(frozen=True)
class ServingConfig:
    """[serving]: the TF Serving model that classifies pictures."""

    url: str = setting("http://127.0.0.1:8501", "TF Serving's (or STFS's) REST address")
    protocol: str = setting(
        "auto",
        "`tfserving`, `stfs` (Simple TensorFlow Serving) or `auto` (told apart by its answers)",
        choices=PROTOCOLS,
    )
    model: str = setting("resnet", "model name (TF Serving's `MODEL_NAME`)")
    timeout_s: float = setting(
        10.0, "seconds to wait for one answer", low=0.1, high=600, unit="seconds"
    )
    version: int | None = setting(None, "pin a version number (not with `version_label`)", low=1)
    version_label: str | None = setting(None, "pin a version label (not with `version`)")
    signature: str = setting("serving_default", "signature to call")
    input: str = setting(
        "auto",
        "`auto` (from the signature), `jpeg` (bytes in `b64`), `tensor`, or `base64_text` "
        "(web-safe base64 text of the picture, as seed 000's model takes)",
        choices=INPUT_MODES,
    )
    value_range: str = setting(
        "0_1",
        "tensor models only: `0_1`, `-1_1`, `0_255`, `caffe` (BGR minus ImageNet means)",
        choices=VALUE_RANGES,
    )
    output: str = setting(
        "auto", "output holding the scores (`probabilities`, `scores`, or the only output)"
    )
    scores: str = setting(
        "auto",
        "`probabilities`, `logits` (softmax applied) or `auto` (from the signature and values)",
        choices=SCORE_KINDS,
    )
    retries: int = setting(
        2, "retries for refused connections, 429, 503, 504", low=0, high=10, unit="retries"
    )
    retry_backoff_s: float = setting(
        0.5, "first wait between retries, doubling each time", low=0, high=60, unit="seconds"
    )
    token_env: str = setting(
        "WECHAT_VISION_BOT_TOKEN", "environment variable holding a bearer token"
    )
    username: str | None = setting(None, "basic-auth user name (the password from `password_env`)")
    password_env: str = setting(
        "WECHAT_VISION_BOT_PASSWORD", "environment variable holding the basic-auth password"
    )
    token: str | None = secret("token_env")
    password: str | None = secret("password_env")


@dataclass(frozen=True)
class LabelsConfig:
    """[labels]: the table that names the model's classes."""

    file: Path = setting(Path("labels/imagenet1k.xlsx"), "label table: `.xlsx`, `.csv` or `.tsv`")
    column: str = setting("class_ZH", "the names to reply with (`class_EN` for English)")
    id_column: str = setting("class_NO", "0-based class numbers (row order if absent)")
    offset: int | None = setting(
        None,
        "model class − table row; `auto`: 1 for 1001-class models with background, 0 when equal",
        low=0,
        shown='`"auto"`',
    )


@dataclass(frozen=True)
class ImagesConfig:
    """[images]: how a picture is checked and shrunk before it is sent."""

    short_side_px: int = setting(
        320,
        "shrink pictures to this shorter side before sending (never enlarge)",
        low=32,
        high=4096,
        unit="pixels",
    )
    max_bytes: int = setting(
        20_000_000, "refuse larger files", low=1024, high=500_000_000, unit="bytes"
    )
    max_pixels: int = setting(
        60_000_000,
        "refuse pictures declaring more pixels (decompression bombs)",
        low=10_000,
        high=500_000_000,
        unit="pixels",
    )
    jpeg_quality: int = setting(
        95,
        "quality of the JPEG sent (95 keeps the model's answers; 90 sends a third fewer bytes)",
        low=30,
        high=100,
        unit="percent",
    )
    format: str = setting(
        "jpeg",
        "format sent to `jpeg` and `base64_text` models (`png` for graphs that call decode_png)",
        choices=IMAGE_FORMATS,
    )


@dataclass(frozen=True)
class ReplyConfig:
    """[reply]: what the group is told."""

    template: str = setting(
        DEFAULT_TEMPLATE, "fields `{sender}`, `{label}`, `{probability}` (`92.3%`), `{topk}`"
    )
    unsure_template: str = setting(DEFAULT_UNSURE_TEMPLATE, "used below `min_confidence`")
    top_k: int = setting(3, "guesses in `{topk}`", low=1, high=10, unit="labels")
    min_confidence: float = setting(
        0.2, "threshold for the sure template", low=0, high=1, unit="probability"
    )
    apology: str = setting(DEFAULT_APOLOGY, "what a group is told when the model is down")
    apology_interval_s: float = setting(
        600.0,
        "at most one apology per group in this time (0 = never)",
        low=0,
        high=86400 * 7,
        unit="seconds",
    )


@dataclass(frozen=True)
class WeChatConfig:
    """[wechat]: the account, the groups answered, the worker pool and the pacing of sends."""

    groups: tuple[str, ...] = setting((), 'group names to answer in; `["*"]` = every group')
    group_models: Mapping[str, str] = setting(
        MappingProxyType({}),
        'a named model per group, e.g. `{ "狗狗群" = "dogs" }` (others: the default model)',
    )
    stickers: str = setting(
        "ignore", 'also answer stickers with `"classify"`', choices=STICKER_MODES
    )
    private_chats: bool = setting(False, "also answer pictures in private chats")
    filehelper_audit: bool = setting(True, "one line per picture to your file helper")
    min_send_interval_s: float = setting(
        1.0, "least time between two sends", low=0, high=600, unit="seconds"
    )
    send_jitter_s: float = setting(
        0.5, "up to this much random time added to each gap", low=0, high=600, unit="seconds"
    )
    send_retries: int = setting(2, "retries of a failed send", low=0, high=10, unit="retries")
    workers: int = setting(2, "pictures worked on at once", low=1, high=32, unit="threads")
    queue_size: int = setting(
        100, "pictures waiting for a worker; more are shed", low=0, high=10_000, unit="pictures"
    )
    startup_grace_s: float = setting(
        60.0,
        "pictures older than start-up minus this are not answered",
        low=0,
        high=86400,
        unit="seconds",
    )
    login_timeout_s: float = setting(
        600.0, "give up when nobody scans the QR code", low=5, high=86400, unit="seconds"
    )
    download_timeout_s: float = setting(
        30.0, "bound on one picture's download", low=1, high=600, unit="seconds"
    )
    shutdown_timeout_s: float = setting(
        15.0,
        "bound on finishing the pictures in hand at shutdown",
        low=0,
        high=600,
        unit="seconds",
    )
    state_dir: Path | None = setting(
        None,
        "session and QR code (0700)",
        shown="`$XDG_STATE_HOME/wechat-vision-bot`",
    )
    login_url: str = setting(
        DEFAULT_LOGIN_URL, "WeChat's login host; point it at a simulator for tests/staging"
    )

    @property
    def session_dir(self) -> Path:
        """The state folder; ``bot.config`` always fills ``state_dir`` in."""
        assert self.state_dir is not None, "state_dir is set by bot.config"
        return self.state_dir

    def refuse(self, pic: Picture) -> str | None:
        """Why these settings leave the picture out, or None to answer it."""
        if pic.is_sticker and self.stickers != "classify":
            return 'sticker ([wechat] stickers = "ignore")'
        if not pic.is_group and not self.private_chats:
            return "private chat ([wechat] private_chats = false)"
        if pic.is_group and not self._listed(pic.chat_name):
            return "group not in [wechat] groups"
        return None

    def _listed(self, group: str) -> bool:
        return "*" in self.groups or normalise_name(group) in map(normalise_name, self.groups)

    def label(self, pic: Picture) -> str | None:
        """The group's name for metrics when the bot answers there; None otherwise."""
        if not pic.is_group:
            return "private" if self.private_chats else None
        return normalise_name(pic.chat_name) if self._listed(pic.chat_name) else None

    def model_for(self, pic: Picture) -> str | None:
        """The named model for this picture's group, or None for the default model."""
        wanted = normalise_name(pic.chat_name)
        for group, model in self.group_models.items():
            if normalise_name(group) == wanted:
                return model
        return None


@dataclass(frozen=True)
class ChatConfig:
    """[chat]: which transport delivers pictures."""

    transport: str = setting(
        "wechat",
        "`wechat` (personal account, web login) or `wecom` (WeCom AI bot, long connection)",
        choices=TRANSPORTS,
    )


@dataclass(frozen=True)
class WeComConfig:
    """[wecom]: the WeCom (企业微信) AI bot, with ``[chat] transport = "wecom"``."""

    bot_id: str | None = setting(None, "the AI bot's Bot ID (required for `wecom`)")
    secret_env: str = setting(
        "WECHAT_VISION_BOT_WECOM_SECRET", "environment variable holding the bot's Secret"
    )
    ws_url: str = setting(DEFAULT_WECOM_URL, "WeCom's long-connection address")
    chats: tuple[str, ...] = setting(
        (), 'group chatids and single-chat userids to answer; `["*"]` = every chat'
    )
    chat_models: Mapping[str, str] = setting(
        {}, "a named model per chatid or userid (others: the default model)"
    )
    owner: str | None = setting(
        None, "userid whose single chat gives commands and gets one audit line per picture"
    )
    hint: str = setting(DEFAULT_HINT, "answer to an @ without a picture (once per interval)")
    ca_file: Path | None = setting(None, "an extra CA certificate to trust (a TLS proxy)")
    secret: str | None = secret("secret_env")

    def refuse(self, pic: Picture) -> str | None:
        if "*" in self.chats or pic.chat_id in self.chats:
            return None
        return f"chat {pic.chat_id} not in [wecom] chats"

    def model_for(self, pic: Picture) -> str | None:
        return self.chat_models.get(pic.chat_id)

    def label(self, pic: Picture) -> str | None:
        return pic.chat_id if self.refuse(pic) is None else None


@dataclass(frozen=True)
class ModelConfig:
    """[models.NAME]: a named model, with [serving] and [labels] keys of its own.

    Keys left out are taken from the top-level [serving] and [labels].
    """

    serving: ServingConfig
    labels: LabelsConfig


@dataclass(frozen=True)
class AuditConfig:
    """[audit]: the SQLite log of every picture."""

    path: Path | None = setting(
        None, "the SQLite audit log", shown="`audit.sqlite3` in `state_dir`"
    )

    @property
    def file(self) -> Path:
        assert self.path is not None, "path is set by bot.config"
        return self.path


@dataclass(frozen=True)
class StatusConfig:
    """[status]: the local status page, /healthz and /metrics."""

    listen: tuple[str, int] | None = setting(
        None,
        '`"127.0.0.1:8080"` serves the status page, `/healthz` and `/metrics`',
        shown='`""` (off)',
    )
    allowed_hosts: tuple[str, ...] = setting(
        (),
        'more `Host` names the page answers to, e.g. `["bot.lan"]` (always: its listen '
        "address, and `localhost` on loopback); others get 421",
    )
    healthy_within_s: float = setting(
        120.0,
        "how recent TF Serving's last answer must be for `/healthz`",
        low=1,
        high=86400,
        unit="seconds",
    )
    probe_interval_s: float = setting(
        30.0, "how often TF Serving is asked", low=1, high=3600, unit="seconds"
    )


@dataclass(frozen=True)
class Config:
    """The whole config.toml, validated."""

    path: Path
    serving: ServingConfig
    labels: LabelsConfig
    images: ImagesConfig
    reply: ReplyConfig
    wechat: WeChatConfig
    audit: AuditConfig
    status: StatusConfig
    chat: ChatConfig = field(default_factory=ChatConfig)
    wecom: WeComConfig = field(default_factory=WeComConfig)
    models: Mapping[str, ModelConfig] = field(default_factory=dict)


SECTIONS: dict[str, type] = {
    "serving": ServingConfig,
    "labels": LabelsConfig,
    "images": ImagesConfig,
    "reply": ReplyConfig,
    "wechat": WeChatConfig,
    "audit": AuditConfig,
    "status": StatusConfig,
    "chat": ChatConfig,
    "wecom": WeComConfig,
}
