"""Encrypted media over HTTPS, the way WeCom hands pictures and files to an AI bot.

Each message gets its own 32-byte key. ``aeskey`` is its base64 form without the ``=`` padding
(the SDKs pad it back: aibot/crypto_utils.py:31-32, "Node's Buffer.from tolerates the missing
'='"); the IV is the first 16 bytes of the key; the plaintext is PKCS#7-padded to a multiple of
32 bytes (aibot-node-sdk src/crypto.ts: "文档要求 PKCS#7 填充至 32 字节的倍数").

``Fault.HUGE`` serves ``huge_bytes`` of noise without a Content-Length (or announcing it, with
``announce_huge``), as a hostile or broken link would; ``sent_bytes`` tells how much of it the
client took before it hung up.

The URL lives ``media_ttl_s`` (the docs say five minutes). After that, or for ``Fault.EXPIRED``,
the server answers ``expired_status`` (403 by default, an assumption: the real CDN's answer is not
documented) so the SDK's ``raise_for_status`` raises ``aiohttp.ClientResponseError``.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import os
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.fakes.wecom.frames import Media

PAD_BLOCK = 32
NOISE_CHUNK_BYTES = 64 * 1024


class Fault(enum.Enum):
    """How one piece of media is served."""

    NONE = "none"
    EXPIRED = "expired"  # HTTP ``expired_status``, as after the URL's lifetime
    CORRUPT = "corrupt"  # 200 with bytes that do not decrypt (invalid PKCS#7 padding)
    HUGE = "huge"  # 200 with ``huge_bytes`` of noise, streamed


def aeskey_of(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii").rstrip("=")


def encrypt(plaintext: bytes, key: bytes) -> bytes:
    """AES-256-CBC, IV = key[:16], PKCS#7 to a multiple of 32 bytes."""
    pad = PAD_BLOCK - len(plaintext) % PAD_BLOCK
    padded = plaintext + bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def decrypt(ciphertext: bytes, key: bytes) -> bytes:
    """The inverse of :func:`encrypt`; raises ``ValueError`` on a bad padding."""
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    pad = padded[-1] if padded else 0
    if not 1 <= pad <= PAD_BLOCK or padded[-pad:] != bytes([pad]) * pad:
        raise ValueError("bad PKCS#7 padding")
    return padded[:-pad]


def corrupt_ciphertext(plaintext: bytes, key: bytes) -> bytes:
    """Bytes of the right length that the SDK's decrypt_file rejects (bad padding)."""
    while True:
        other = encrypt(plaintext, os.urandom(32))
        try:
            decrypt(other, key)
        except ValueError:
            return other


@dataclass
class _Item:
    key: bytes
    plaintext: bytes
    filename: str | None
    fault: Fault
    created: float
    downloads: int = 0
    sent_bytes: int = 0


class MediaStore:
    """Media by token, served by :meth:`app`'s single route ``GET /cos/{token}``."""

    def __init__(self) -> None:
        self.base_url = ""  # set once the server has a port
        self.media_ttl_s = 300.0
        self.expired_status = 403
        self.huge_bytes = 64 * 1024 * 1024
        self.announce_huge = False
        self._items: dict[str, _Item] = {}
        self._lock = threading.Lock()

    def add(
        self, plaintext: bytes, *, filename: str | None = None, fault: Fault = Fault.NONE
    ) -> Media:
        key = os.urandom(32)
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._items[token] = _Item(key, plaintext, filename, fault, time.monotonic())
        return Media(url=f"{self.base_url}/cos/{token}", aeskey=aeskey_of(key), plaintext=plaintext)

    def set_fault(self, media: Media, fault: Fault) -> None:
        with self._lock:
            self._items[media.url.rsplit("/", 1)[1]].fault = fault

    def downloads(self, media: Media) -> int:
        with self._lock:
            return self._items[media.url.rsplit("/", 1)[1]].downloads

    def sent_bytes(self, media: Media) -> int:
        """Bytes of the body written to the client (for ``Fault.HUGE``: before it hung up)."""
        with self._lock:
            return self._items[media.url.rsplit("/", 1)[1]].sent_bytes

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cos/{token}", self._serve)
        return app

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            item = self._items.get(request.match_info["token"])
            if item is not None:
                item.downloads += 1
        if item is None:
            return web.Response(status=404, text="not found")
        expired = time.monotonic() - item.created > self.media_ttl_s
        if expired or item.fault is Fault.EXPIRED:
            return web.Response(status=self.expired_status, text="url expired")
        if item.fault is Fault.HUGE:
            return await self._stream_noise(request, item)
        if item.fault is Fault.CORRUPT:
            body = corrupt_ciphertext(item.plaintext, item.key)
        else:
            body = encrypt(item.plaintext, item.key)
        headers = {"Content-Type": "application/octet-stream"}
        if item.filename is not None:
            headers["Content-Disposition"] = (
                f"attachment; filename*=UTF-8''{quote(item.filename, safe='')}"
            )
        return web.Response(body=body, headers=headers)

    async def _stream_noise(self, request: web.Request, item: _Item) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        if self.announce_huge:
            resp.content_length = self.huge_bytes
        await resp.prepare(request)
        chunk = os.urandom(NOISE_CHUNK_BYTES)
        left = self.huge_bytes
        try:
            while left > 0:
                # Once the client is gone, asyncio's TLS transport drops writes without an
                # error, and a write that need not wait never yields to the event loop, so the
                # hang-up would go unseen while the rest "went" into the void at full speed:
                # yield, then look.
                await asyncio.sleep(0)
                if request.transport is None or request.transport.is_closing():
                    break
                await resp.write(chunk[:left])  # waits while the client does not read
                with self._lock:
                    item.sent_bytes += min(left, len(chunk))
                left -= len(chunk)
            await resp.write_eof()
        except (ConnectionError, RuntimeError):  # the client hung up: that is the point
            pass
        return resp
