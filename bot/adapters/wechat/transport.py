"""The WeChat transport's registry entry (``bot.registry``); its settings are in ``settings``.

Importing this module does not import itchat: ``build`` does, when ``run`` starts.
"""

from __future__ import annotations

from typing import TextIO

from bot.adapters.wechat.settings import DEFAULT_LOGIN_URL, WeChatConfig
from bot.adapters.wechat.state import prepare_state_dir
from bot.core.chat import Chat
from bot.core.sections import Context, Section, names_reader, url_reader
from bot.core.settings import Config
from bot.core.transport import Finding, Transport


def read(sec: Section, ctx: Context) -> WeChatConfig:
    values = sec.read(
        {
            "groups": names_reader(sec, "groups", "group names", "group"),
            "login_url": url_reader(sec, "login_url", DEFAULT_LOGIN_URL),
        }
    )
    return WeChatConfig(**values)


def _settings(config: Config) -> WeChatConfig:
    assert isinstance(config.transport, WeChatConfig), "the registry pairs them"
    return config.transport


def build(config: Config, out: TextIO) -> Chat:
    from bot.adapters.wechat.chat import WeChatChat  # itchat is imported when used

    return WeChatChat(
        _settings(config),
        state_dir=config.chat.session_dir,
        download_timeout_s=config.chat.download_timeout_s,
        max_bytes=config.images.max_bytes,
        out=out,
    )


def check(config: Config) -> list[Finding]:
    state_dir = config.chat.session_dir
    before = state_dir.lstat().st_mode & 0o777 if state_dir.is_dir() else None
    session = prepare_state_dir(state_dir)
    mode = f"{state_dir.lstat().st_mode & 0o777:o}"
    private = f"private ({mode})"
    if before is not None and before & 0o077:
        private = f"was readable by others ({before:o}), made private ({mode})"
    wechat = _settings(config)
    groups = wechat.no_targets_warning() or ", ".join(wechat.groups)
    return [
        ("state", f"{state_dir}: {private}, session file {session.name}"),
        ("groups", groups),
    ]


TRANSPORT = Transport(
    name="wechat",
    settings=WeChatConfig,
    read=read,
    build=build,
    check=check,
    health="wechat_login",
)
