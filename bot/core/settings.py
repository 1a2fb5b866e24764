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
from typing import Any

from bot.core.audience import ChatSettings

DEFAULT_TEMPLATE = "@{sender}\u2005让我猜猜,你发的这张图片有 {probability} 的概率是: {label}"
DEFAULT_UNSURE_TEMPLATE = "@{sender}\u2005这张图片我不太有把握,可能是: {topk}"
DEFAULT_DETECT_TEMPLATE = "@{sender}\u2005图里有: {counts}"
DEFAULT_APOLOGY = "抱歉,识图服务暂时不可用,请稍后再试。"
TEMPLATE_FIELDS = ("sender", "label", "probability", "topk", "counts")
VALUE_RANGES = ("0_1", "-1_1", "0_255", "caffe")
INPUT_MODES = ("auto", "jpeg", "tensor", "base64_text")
SCORE_KINDS = ("auto", "probabilities", "logits")
TASKS = ("auto", "classify", "detect")
BOX_FORMATS = ("auto", "normalized", "pixels")
IMAGE_FORMATS = ("jpeg", "png")
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
        "`auto` (told apart by their answers) or a protocol registered in `bot.registry`: "
        "`tfserving`, `stfs` (Simple TensorFlow Serving), `v2` (the Open Inference Protocol: "
        "Triton, KServe, MLServer, OpenVINO Model Server)",
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
    task: str = setting(
        "auto",
        "`classify` (one label for the photo), `detect` (objects counted and drawn: an Object "
        "Detection API signature) or `auto` (from the signature's outputs)",
        choices=TASKS,
    )
    boxes: str = setting(
        "auto",
        "detectors: `normalized` (0–1) or `pixels` boxes; `auto`: the OD API's are normalised, "
        "a Model Garden export's are told from each answer",
        choices=BOX_FORMATS,
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
    headers_env: str = setting(
        "WECHAT_VISION_BOT_HEADERS",
        "environment variable holding more HTTP headers as a JSON object, e.g. "
        '`{"Host": "resnet.default.example.com"}` for KServe behind its gateway (never printed)',
    )
    token: str | None = secret("token_env")
    password: str | None = secret("password_env")
    headers: tuple[tuple[str, str], ...] = field(
        default=(), repr=False, metadata={"secret_from": "headers_env"}
    )


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
    unsure_template: str = setting(
        DEFAULT_UNSURE_TEMPLATE,
        "used below `min_confidence` (a detector: nothing above [detect] `min_score`)",
    )
    detect_template: str = setting(
        DEFAULT_DETECT_TEMPLATE,
        "a detector's reply; `{counts}` is e.g. `2 只狗 (97%, 91%)、1 个人 (88%)`",
    )
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
class DetectConfig:
    """[detect]: object-detection models ([serving] task = "detect" or found by `auto`)."""

    max_side_px: int = setting(
        640,
        "the photo sent to a detector is shrunk to this longer side",
        low=64,
        high=4096,
        unit="pixels",
    )
    min_score: float = setting(
        0.5, "detections below this score are not counted", low=0, high=1, unit="score"
    )
    max_classes: int = setting(
        5, "at most this many kinds of object in the reply", low=1, high=20, unit="classes"
    )
    draw: bool = setting(True, "send the photo with the boxes drawn after the text")
    draw_side_px: int = setting(
        1280, "the drawn photo's longer side at most", low=256, high=4096, unit="pixels"
    )
    font: Path | None = setting(
        None,
        "a font with Chinese glyphs for the drawn labels (unset: Debian's Noto CJK, WenQuanYi "
        "or Droid fallback; none found: English labels)",
    )


@dataclass(frozen=True)
class ChatConfig:
    """[chat]: which transport delivers pictures, and what every transport shares: the worker
    pool, the pacing of sends, and the time bounds."""

    transport: str = setting(
        "wechat",
        "`wechat` (personal account, web login) or `wecom` (WeCom AI bot, long connection): "
        "one of the transports registered in `bot.registry`",
    )
    workers: int = setting(2, "pictures worked on at once", low=1, high=32, unit="threads")
    queue_size: int = setting(
        100, "pictures waiting for a worker; more are shed", low=0, high=10_000, unit="pictures"
    )
    min_send_interval_s: float = setting(
        1.0, "least time between two sends", low=0, high=600, unit="seconds"
    )
    send_jitter_s: float = setting(
        0.5, "up to this much random time added to each gap", low=0, high=600, unit="seconds"
    )
    send_retries: int = setting(2, "retries of a failed send", low=0, high=10, unit="retries")
    startup_grace_s: float = setting(
        60.0,
        "pictures older than start-up minus this are not answered",
        low=0,
        high=86400,
        unit="seconds",
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
        "session, QR code and audit log (0700)",
        shown="`$XDG_STATE_HOME/wechat-vision-bot`",
    )

    @property
    def session_dir(self) -> Path:
        """The state folder; ``bot.config`` always fills ``state_dir`` in."""
        assert self.state_dir is not None, "state_dir is set by bot.config"
        return self.state_dir


MOVED_TO_CHAT = (
    "workers",
    "queue_size",
    "min_send_interval_s",
    "send_jitter_s",
    "send_retries",
    "startup_grace_s",
    "download_timeout_s",
    "shutdown_timeout_s",
    "state_dir",
)
"""Keys that were in [wechat] before [chat] held what every transport shares: still read
there, with one warning naming the new place."""


DEFAULT_SYSTEM_PROMPT = (
    "你是群聊里的识图助手。请根据图片回答用户的问题: 简短 (不超过三句话), 使用提问者的语言; "
    "看不清或不确定时直说不确定, 不要编造。"
)
DEFAULT_NO_PHOTO = "@{sender} 先发一张图片, 再 @我 提问 (或引用那张图片提问)。"
DEFAULT_LIMITED = "@{sender} 提问太频繁了, 请稍后再问。"
DEFAULT_ASK_APOLOGY = "@{sender} 抱歉, 问答服务暂时不可用, 请稍后再试。"


@dataclass(frozen=True)
class AskConfig:
    """[ask]: questions about a photo, answered by a vision-language model behind an
    OpenAI-compatible API. Off unless ``url`` is set."""

    url: str | None = setting(
        None, "OpenAI-compatible API base ending in `/v1`, e.g. Ollama's (off when unset)"
    )
    model: str | None = setting(None, "the vision model's name (required with `url`)")
    api_key_env: str = setting(
        "WECHAT_VISION_BOT_ASK_KEY",
        "environment variable holding the API key, sent as a bearer token (unset: no key)",
    )
    timeout_s: float = setting(60.0, "bound on one whole answer", low=1, high=600, unit="seconds")
    remember_s: float = setting(
        600.0, "how long a photo can be asked about", low=10, high=86400, unit="seconds"
    )
    max_side_px: int = setting(
        1024, "the photo sent is shrunk to this longer side", low=128, high=4096, unit="pixels"
    )
    max_answer_chars: int = setting(
        300, "answers are cut at a sentence end to this length", low=20, high=2000, unit="chars"
    )
    system_prompt: str = setting(DEFAULT_SYSTEM_PROMPT, "the instructions the model gets")
    chats: tuple[str, ...] = setting(
        ("*",), 'where asking is on (group names or chat ids); `["*"]` = every chat answered'
    )
    quiet_chats: tuple[str, ...] = setting(
        (), "chats where a photo gets no answer, only questions about it do"
    )
    sender_per_minute: int = setting(
        5, "questions one person may ask a minute (all chats)", low=1, high=1000, unit="questions"
    )
    sender_per_day: int = setting(
        50, "questions one person may ask a day (all chats)", low=1, high=100_000, unit="questions"
    )
    chat_per_minute: int = setting(
        20, "questions one chat may ask a minute", low=1, high=1000, unit="questions"
    )
    include_label: bool = setting(True, "tell the model what the classifier saw, as a hint")
    keep_text: bool = setting(False, "keep question and answer text in the audit log")
    max_photos_per_chat: int = setting(
        20, "photos remembered per chat", low=1, high=1000, unit="photos"
    )
    max_memory_bytes: int = setting(
        32_000_000,
        "bound on all remembered photos (shrunk JPEGs, memory only)",
        low=1_000_000,
        high=1_000_000_000,
        unit="bytes",
    )
    no_photo: str = setting(DEFAULT_NO_PHOTO, "answer to a question with no photo to refer to")
    limited: str = setting(DEFAULT_LIMITED, "answer once per window to someone over a limit")
    apology: str = setting(DEFAULT_ASK_APOLOGY, "answer when the model cannot be reached")
    api_key: str | None = secret("api_key_env")

    @property
    def enabled(self) -> bool:
        return self.url is not None


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
    keep_days: int = setting(
        180,
        "rows older than this are deleted (at start and daily); 0 keeps them forever",
        low=0,
        high=36500,
        unit="days",
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
    detect: DetectConfig
    audit: AuditConfig
    status: StatusConfig
    chat: ChatConfig
    transport: ChatSettings
    ask: AskConfig
    """The configured transport's own section ([wechat], [wecom], ...), read by its adapter."""
    models: Mapping[str, ModelConfig] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    """What was read but should be written otherwise (keys that moved), one line each."""


SECTIONS: dict[str, type] = {
    "serving": ServingConfig,
    "labels": LabelsConfig,
    "images": ImagesConfig,
    "reply": ReplyConfig,
    "detect": DetectConfig,
    "chat": ChatConfig,
    "ask": AskConfig,
    "audit": AuditConfig,
    "status": StatusConfig,
}
"""The core's sections; each transport's section comes from its adapter (``bot.registry``)."""
