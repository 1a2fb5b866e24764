"""Which chats may ask about photos, which are quiet, and keeping their photos for it.

The picture workers hand each photo of an ask-enabled chat to ``PhotoKeeper.keep``: it is
shrunk once (to ``[ask] max_side_px``, the only decode of the original: classification then
prepares from the shrunk JPEG) and remembered in memory for ``remember_s``.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.core.events import Picture, Question
from bot.core.names import normalise_name
from bot.core.photos import Photo, PhotoMemory
from bot.core.settings import AskConfig

Shrink = Callable[[bytes, int], bytes]
"""Picture bytes and a longer side in pixels -> a JPEG no larger; raises ImageError."""


def _listed(names: tuple[str, ...], chat_id: str, chat_name: str) -> bool:
    if "*" in names:
        return True
    wanted = {normalise_name(n) for n in names}
    return chat_id in names or normalise_name(chat_name) in wanted


class PhotoKeeper:
    def __init__(self, *, settings: AskConfig, memory: PhotoMemory, shrink: Shrink) -> None:
        self.settings = settings
        self.memory = memory
        self._shrink = shrink

    def asks_in(self, event: Picture | Question) -> bool:
        """Asking is on in this event's chat."""
        ask = self.settings
        return ask.enabled and _listed(ask.chats, event.chat_id, event.chat_name)

    def quiet_in(self, event: Picture | Question) -> bool:
        """A photo in this chat gets no answer of its own, only questions about it do."""
        quiet = self.settings.quiet_chats
        return (
            bool(quiet) and self.asks_in(event) and _listed(quiet, event.chat_id, event.chat_name)
        )

    def shrink(self, data: bytes) -> bytes:
        return self._shrink(data, self.settings.max_side_px)

    def remember(self, pic: Picture, jpeg: bytes, label: str | None) -> Photo:
        ids = tuple(dict.fromkeys(i for i in (pic.msg_id, *pic.ref_ids) if i))
        photo = Photo(pic.chat_id, ids, pic.sender_id, pic.created_at, jpeg, label)
        self.memory.remember(photo)
        return photo
