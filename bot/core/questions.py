"""Texts addressed to the bot, and the one place each neutral event goes.

Until a model answers questions about photos, a question in a chat the bot serves gets the
transport's usage hint (``Audience.hint``: WeCom says "send a picture and @ me"; WeChat has
none, so it stays quiet), at most once per ``[reply] apology_interval_s`` per chat, through
the same paced sender as every reply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.core.audience import Audience
from bot.core.chat import Text
from bot.core.events import Command, Event, Picture, Question
from bot.core.names import display_name
from bot.core.pictures import Outbox
from bot.core.settings import ReplyConfig
from bot.core.sharing import Apologies

log = logging.getLogger(__name__)


class QuestionTaker(Protocol):
    """Where questions go: the usage hint (``QuestionDesk``), or the ask desk with [ask]."""

    def offer(self, question: Question) -> None: ...

    def update(self, *, reply: ReplyConfig, audience: Audience) -> None: ...


class QuestionDesk:
    def __init__(
        self,
        *,
        audience: Audience,
        reply: ReplyConfig,
        outbox: Outbox,
        pictures: Callable[[Picture], None],
        clock: Callable[[], float],
    ) -> None:
        self.audience, self.reply = audience, reply
        self._outbox = outbox
        self._pictures = pictures
        self._hints = Apologies(clock)

    def update(self, *, reply: ReplyConfig, audience: Audience) -> None:
        self.reply, self.audience = reply, audience

    def offer(self, question: Question) -> None:
        where = display_name(question.chat_name)
        if question.from_self:
            return
        if question.pictures:  # no model answers questions here: the pictures are answered
            for pic in question.pictures:
                self._pictures(pic)
            return
        hint = self.audience.usage_hint(question)
        if hint is None:
            log.info("text %s in %s: not for the bot to answer", question.msg_id, where)
            return
        if not self._hints.due(question.chat_id, self.reply.apology_interval_s):
            log.info("text %s in %s: no hint (one was sent recently)", question.msg_id, where)
            return
        log.info("text %s in %s from %s: usage hint", question.msg_id, where, question.sender)
        self._outbox.post(question.answer_to, Text(hint), lane=question.chat_id)


@dataclass(frozen=True)
class Dispatch:
    """The ``EventHandler`` a chat is connected with: each kind of event to its desk."""

    pictures: Callable[[Picture], None]
    questions: Callable[[Question], None]
    commands: Callable[[Command], None]

    def __call__(self, event: Event) -> None:
        if isinstance(event, Picture):
            self.pictures(event)
        elif isinstance(event, Question):
            self.questions(event)
        else:
            self.commands(event)
