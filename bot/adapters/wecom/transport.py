"""The WeCom transport's registry entry (``bot.registry``); its settings are in ``settings``.

Importing this module does not import the WeCom SDK (asyncio, aiohttp, websockets): ``build``
and ``check`` do, when they need it.
"""

from __future__ import annotations

from typing import TextIO

from bot.adapters.wecom.settings import DEFAULT_WECOM_URL, WeComConfig
from bot.core.chat import Chat
from bot.core.sections import Context, Section, names_reader
from bot.core.settings import Config
from bot.core.transport import Finding, Transport


def read(sec: Section, ctx: Context) -> WeComConfig:
    wecom = sec.read({"chats": names_reader(sec, "chats", "chatids or userids", "chat")})
    wecom["secret"] = ctx.env.get(wecom["secret_env"]) or None
    if wecom["ca_file"] is not None:
        wecom["ca_file"] = ctx.base / wecom["ca_file"]
        if not wecom["ca_file"].is_file():
            sec.bad("ca_file", str(wecom["ca_file"]), "no such file; give a PEM CA certificate")
    if not str(wecom["ws_url"]).startswith(("wss://", "ws://")):
        sec.bad("ws_url", wecom["ws_url"], f'must start with wss://, e.g. "{DEFAULT_WECOM_URL}"')
    if ctx.active and wecom["bot_id"] is None:
        sec.bad(
            "bot_id",
            None,
            'is required with [chat] transport = "wecom": the AI bot\'s '
            "Bot ID from the WeCom admin console",
        )
    return WeComConfig(**wecom)


def _settings(config: Config) -> WeComConfig:
    assert isinstance(config.transport, WeComConfig), "the registry pairs them"
    return config.transport


def build(config: Config, out: TextIO) -> Chat:
    # Imported here: the WeCom SDK (asyncio, aiohttp, websockets) is loaded only when used.
    from bot.adapters.wecom.chat import WeComChat

    return WeComChat(
        _settings(config),
        download_timeout_s=config.chat.download_timeout_s,
        max_bytes=config.images.max_bytes,
    )


def check(config: Config) -> list[Finding]:
    from bot.adapters.wecom.chat import WeComChat

    wecom = _settings(config)
    chat = WeComChat(
        wecom, download_timeout_s=config.chat.download_timeout_s, max_bytes=config.images.max_bytes
    )
    lines = [("wecom", chat.probe()), ("secret", f"${wecom.secret_env} is set (not shown)")]
    if wecom.ca_file is not None:
        lines.append(("ca_file", f"{wecom.ca_file}: trusted in addition to the usual CAs"))
    lines.append(("chats", wecom.no_targets_warning() or ", ".join(wecom.chats)))
    if wecom.owner is None:
        lines.append(("owner", "none: no commands and no audit lines in WeCom ([wecom] owner)"))
    else:
        lines.append(("owner", f"{wecom.owner}: commands and audit lines in their single chat"))
    return lines


TRANSPORT = Transport(
    name="wecom",
    settings=WeComConfig,
    read=read,
    build=build,
    check=check,
    health="chat_connected",
)
