"""Asking about photos (``[ask]``): the photo memory, the model client and the ask desk, built
only when ``[ask] url`` is set (part of the wiring, ``bot.app``). The ``openai`` SDK is imported
only then."""

from __future__ import annotations

import time

from bot.adapters.imaging import shrink_longer_side
from bot.core.askdesk import AskDesk, QuestionEvents, QuestionLog
from bot.core.asking import AskLimits, sanitise_answer
from bot.core.chat import Chat
from bot.core.keeper import PhotoKeeper
from bot.core.photos import PhotoMemory
from bot.core.pictures import Outbox
from bot.core.questions import QuestionDesk
from bot.core.settings import Config
from bot.core.transport import Finding
from bot.errors import AskRefused


def photo_keeper(config: Config) -> PhotoKeeper | None:
    """The memory of photos to ask about; None while asking is off."""
    ask = config.ask
    if not ask.enabled:
        return None
    memory = PhotoMemory(
        remember_s=ask.remember_s,
        max_per_chat=ask.max_photos_per_chat,
        max_bytes=ask.max_memory_bytes,
        clock=time.time,  # photos carry the time they were sent (seconds since the epoch)
    )
    images = config.images
    return PhotoKeeper(
        settings=ask,
        memory=memory,
        shrink=lambda data, side: shrink_longer_side(data, side, images),
    )


def ask_desk(
    config: Config,
    keeper: PhotoKeeper,
    *,
    outbox: Outbox,
    log_to: QuestionLog,
    events: QuestionEvents,
    hints: QuestionDesk,
    chat: Chat,
) -> AskDesk:
    from bot.adapters.ask import OpenAIAsker, client_for  # the openai SDK: only when asked

    ask = config.ask
    return AskDesk(
        keeper=keeper,
        asker=OpenAIAsker(ask, client=client_for(ask), sleep=time.sleep),
        audience=config.transport,
        reply=config.reply,
        limits=AskLimits(
            sender_per_minute=ask.sender_per_minute,
            sender_per_day=ask.sender_per_day,
            chat_per_minute=ask.chat_per_minute,
            clock=time.monotonic,
        ),
        outbox=outbox,
        log_to=log_to,
        events=events,
        otherwise=hints.offer,
        owner_chat=chat.owner_chat,
        drafts=chat.send if chat.streams else None,
        clock=time.monotonic,
    )


def check_ask(config: Config, picture: bytes) -> list[Finding]:
    """``check`` with [ask] url: the models offered, then one small question with ``picture``
    (shrunk as a real photo would be); raises AskError saying what to fix."""
    from bot.adapters.ask import OpenAIAsker, client_for, served_models

    ask = config.ask
    if not ask.enabled:
        return [("ask", "off ([ask] url is not set)")]
    client = client_for(ask)
    models = served_models(client, ask)
    if ask.model not in models:
        raise AskRefused(
            "model",
            f"[ask] model = {ask.model!r} is not served at {ask.url}; it offers: "
            f"{', '.join(models[:20]) or '(none)'}",
        )
    key = f"${ask.api_key_env} is set (not shown)" if ask.api_key else "no key (none set)"
    photo = shrink_longer_side(picture, ask.max_side_px, config.images)
    asked = OpenAIAsker(ask, client=client, sleep=time.sleep).ask(
        photo=photo, question="用一个词说这是什么?", hint=None
    )
    answer = sanitise_answer(asked.text, max_chars=60) or "(an empty answer)"
    return [
        ("ask", f"{ask.url}: model {ask.model!r} served ({len(models)} models); {key}"),
        (
            "ask",
            f"test picture ({len(photo):,} bytes) -> {answer!r} in {asked.latency_ms:.0f} ms",
        ),
    ]
