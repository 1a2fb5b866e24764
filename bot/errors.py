"""The error tree. Every message says where, what, and how to fix it.

    BotError                      anything the user can act on (CLI exit code 2)
    ├── ConfigError               config.toml is wrong: file, key, fix
    ├── UsageError                a command-line argument is wrong (stats --since, --group)
    ├── ReloadRefused             the owner's reload asks for what only a restart can do
    ├── LocalError                this machine: a file, folder or port cannot be used
    ├── LabelError                the label table cannot be read or does not fit the model
    ├── ImageError                a picture cannot be used (empty, not an image, too big, a bomb)
    ├── ServingError              TF Serving
    │   ├── ServingUnavailable    could not reach it (refused, timed out, 503/504 after retries)
    │   ├── ServingRejected       it answered no (400, 404, 500, ...), with the server's message
    │   ├── BadPrediction         it answered nonsense (missing keys, NaN, wrong shape)
    │   └── ModelNotLoaded        a chat is routed to a model the bot did not load at start
    ├── ModelMismatch             the model is reachable but does not fit the configuration
                                  (its signature, [serving] input/output, [labels] file)
    ├── AskError                  the vision-language model behind [ask] url
    │   ├── AskUnavailable        could not reach it, 5xx, timed out, or 429 twice
    │   └── AskRefused            it said no for a reason to fix: the key, the model name, or
    │                             a model that takes no images (``fix`` says which)
    └── ChatError                 the chat side
        ├── LoginRefused          the chat service refused the login (1203, no wxsid, bad secret)
        ├── SessionEnded          the chat service ended a running session (1100/1101/1102)
        ├── ReceiveFailed         the receive loop stopped on this machine's side (exit 75)
        └── DownloadFailed        a picture could not be downloaded from the chat service

Foreign exceptions are translated once, at the adapter that meets them, with ``raise ... from``.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error a user can act on."""


class ConfigError(BotError):
    """The configuration is wrong. ``problems`` holds one line per wrong key."""

    def __init__(self, path: object, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = list(problems)
        if len(self.problems) == 1:
            text = f"{self.path} {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            text = f"{self.path} has {len(self.problems)} problems:\n{lines}"
        super().__init__(text)


class UsageError(BotError):
    """A command-line argument is wrong."""


class ReloadRefused(BotError):
    """The owner's ``reload`` changed settings that only a restart applies; nothing changed."""


class LocalError(BotError):
    """A local file, folder or port cannot be used (state folder, audit log, status page)."""


class LabelError(BotError):
    """The label table is unreadable or does not match the model."""


class ImageError(BotError):
    """A picture cannot be classified. ``reason`` is a short, chat-safe phrase."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ServingError(BotError):
    """The model server failed (TF Serving, STFS, ...): worth trying again later."""


class ServingUnavailable(ServingError):
    """TF Serving could not be reached or stayed overloaded through every retry. ``status``
    and ``server_message``: the last HTTP answer when the server did answer (429/503/504)."""

    def __init__(self, text: str, status: int | None = None, server_message: str = "") -> None:
        self.status = status
        self.server_message = server_message
        super().__init__(text)


class ServingRejected(ServingError):
    """The server answered with an error status: ``status`` is the real HTTP status."""

    def __init__(self, status: int, server_message: str, text: str) -> None:
        self.status = status
        self.server_message = server_message
        super().__init__(text)


class BadPrediction(ServingError):
    """TF Serving answered 200 with something that is not a usable prediction."""


class ModelNotLoaded(ServingError):
    """A chat is routed to a [models.NAME] that the running bot did not load."""


class ModelMismatch(BotError):
    """The model answers, but not in a way the configuration can use: a fix in config.toml or
    the export, not a wait. ``run`` stops on it at start; it is never retried."""


class AskError(BotError):
    """The [ask] model failed."""


class AskUnavailable(AskError):
    """The [ask] model could not be reached, failed (5xx) or did not finish in time."""


class AskRefused(AskError):
    """The [ask] model refused for a reason only the owner can fix. ``fix`` is one of "key",
    "model", "images", "request"."""

    def __init__(self, fix: str, text: str) -> None:
        self.fix = fix
        super().__init__(text)


class ChatError(BotError):
    """The chat connection failed."""


class LoginRefused(ChatError):
    """The chat service refused to log in."""


class SessionEnded(ChatError):
    """The chat service ended a session that was running."""


class ReceiveFailed(ChatError):
    """The receive loop stopped on errors of this machine or its network, or on a service's
    temporary trouble after the bot's own retries (WeCom), not on the service's final word:
    worth an automatic restart (the CLI exits 75, which systemd restarts)."""


class DownloadFailed(ChatError):
    """A picture could not be downloaded from the chat service."""
