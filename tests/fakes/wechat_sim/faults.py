"""Hostile-server faults: pictures served slowly or hugely, and malformed AddMsgList entries."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator, Mapping

from tests.fakes.wechat_sim.media import _Media
from tests.fakes.wechat_sim.models import MISSING, Json, _Msg
from tests.fakes.wechat_sim.sync import _Sync
from tests.fakes.wechat_sim.wire import _Request, _Response


class _Faults(_Sync, _Media):
    """Fault injection for :class:`WeChatSimulator` on top of the sync and media endpoints.

    ``trickle_images(chunk, interval_s)``: every picture download sends ``chunk`` bytes every
    ``interval_s`` seconds, for as long as the client reads (``declared_length`` announced).
    ``huge_images(size, declare_length=...)``: every picture download is a JPEG-looking body of
    ``size`` bytes, generated as it is sent (never held in memory), with or without a
    Content-Length. ``normal_images()`` ends both. ``post_mangled``: an AddMsgList entry with
    keys replaced or (``MISSING``) removed. ``batch()``: messages posted inside it reach the
    client in one webwxsync answer.
    """

    _image_stream: tuple[str, int, float, int | None] | None = None
    image_downloads_started = 0

    def trickle_images(
        self, *, chunk: int = 1024, interval_s: float = 2.0, declared_length: int = 10_000_000
    ) -> None:
        with self._cond:
            self._image_stream = ("trickle", chunk, interval_s, declared_length)

    def huge_images(self, size: int, *, declare_length: bool = True) -> None:
        with self._cond:
            self._image_stream = ("huge", size, 0.0, size if declare_length else None)

    def normal_images(self) -> None:
        with self._cond:
            self._image_stream = None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the message stream: everything posted inside arrives in one webwxsync."""
        with self._cond:
            yield

    def post_mangled(
        self, group: str | None, sender: str, image: bytes, mangle: Mapping[str, object]
    ) -> str:
        """Like ``post_picture``, with these AddMsgList keys replaced (``MISSING``: removed)."""
        with self._cond:
            msg_id = self.post_picture(group, sender, image)
            last = self._messages[-1]
            self._messages[-1] = dataclasses.replace(last, mangle=tuple(mangle.items()))
            return msg_id

    def _render(self, m: _Msg, gen: int) -> Json:
        entry = super()._render(m, gen)
        for key, value in m.mangle:
            if value is MISSING:
                entry.pop(key, None)
            else:
                entry[key] = value
        return entry

    def _getmsgimg(self, req: _Request) -> _Response:
        with self._cond:
            stream = self._image_stream
            if stream is not None:
                self.image_downloads_started += 1
                self._cond.notify_all()
        if stream is None:
            return super()._getmsgimg(req)
        kind, n, interval_s, length = stream
        chunks = self._trickle(n, interval_s) if kind == "trickle" else _huge(n)
        return _Response(body=b"", content_type="image/jpeg", chunks=chunks, length=length)

    def wait_for_image_downloads(self, count: int, *, timeout_s: float = 10.0) -> None:
        """Wait until ``count`` streamed (trickled or huge) downloads have begun."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self.image_downloads_started < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} streamed downloads, got {self.image_downloads_started}"
                    )
                self._cond.wait(remaining)

    def _trickle(self, chunk: int, interval_s: float) -> Iterator[bytes]:
        yield b"\xff\xd8\xff\xe0" + b"\0" * max(0, chunk - 4)
        while not self._closing:
            until = time.monotonic() + interval_s
            with self._cond:
                while not self._closing and (left := until - time.monotonic()) > 0:
                    self._cond.wait(left)
            yield b"\0" * chunk


def _huge(size: int) -> Iterator[bytes]:
    block = b"\0" * (1 << 20)
    yield b"\xff\xd8\xff\xe0"
    left = size - 4
    while left > 0:
        piece = block if left >= len(block) else block[:left]
        left -= len(piece)
        yield piece
