"""WeCom media (a picture's encrypted file), fetched with bounds and decrypted by the SDK.

SDK 1.0.2's ``download_file`` reads the whole body (``response.read()``, ``aibot/api.py:38``)
and decrypts it in memory, bounded only by aiohttp's total timeout: a 400 MB link is held
whole. Here, as for WeChat downloads, the body is read in chunks against:

* ``[images] max_bytes``: a larger announced length is refused before reading, and a body that
  grows past it is dropped at that point (the ciphertext may be ``PAD_BYTES`` longer than the
  picture: PKCS#7 pads to a multiple of 32);
* ``[chat] download_timeout_s`` for the whole download, so a trickling server cannot hold on.

Then the SDK's own ``decrypt_file`` decrypts it (AES-256-CBC, the key the base64 ``aeskey``,
the IV its first 16 bytes, PKCS#7 padding); without an ``aeskey`` the body is the file, as in
the SDK. Failures leave as ``DownloadFailed`` (network, status, time, decryption) or
``ImageError`` (too big), translated here, at the border.
"""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
from aibot.crypto_utils import decrypt_file

from bot.errors import DownloadFailed, ImageError

CHUNK_BYTES = 64 * 1024
PAD_BYTES = 32


async def fetch(
    url: str,
    aeskey: str,
    *,
    ssl_context: ssl.SSLContext,
    timeout_s: float,
    max_bytes: int,
    what: str,
) -> bytes:
    """The decrypted file behind ``url``; ``what`` names it in messages ("picture <msgid>")."""
    try:
        async with asyncio.timeout(timeout_s):
            body = await _read(url, ssl_context, max_bytes, what)
    except TimeoutError as exc:
        raise DownloadFailed(
            f"WeCom did not deliver {what} within [chat] download_timeout_s = {timeout_s:g} s; "
            "WeCom's side or this machine's network is slow"
        ) from exc
    except aiohttp.ClientResponseError as exc:
        raise DownloadFailed(
            f"WeCom refused {what} (HTTP {exc.status}); its link is valid about five minutes, "
            "so it may have expired"
        ) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise DownloadFailed(
            f"WeCom did not deliver {what} ({type(exc).__name__}); it is WeCom's side or this "
            "machine's network, nothing to fix in the bot"
        ) from exc
    if not aeskey:
        return bytes(body)
    try:
        data: bytes = decrypt_file(body, aeskey)
    except (RuntimeError, ValueError) as exc:
        raise DownloadFailed(
            f"{what} from WeCom could not be decrypted with its key; the file was damaged on "
            "WeCom's side, nothing to fix in the bot"
        ) from exc
    if len(data) > max_bytes:
        raise too_big(what, max_bytes, f"{len(data):,} bytes once decrypted")
    return data


async def _read(url: str, ssl_context: ssl.SSLContext, max_bytes: int, what: str) -> bytearray:
    limit = max_bytes + PAD_BYTES
    connector = aiohttp.TCPConnector(ssl=ssl_context)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout()) as session,
        session.get(url) as response,
    ):
        response.raise_for_status()
        declared = response.content_length
        if declared is not None and declared > limit:
            _hang_up(response)
            raise too_big(what, max_bytes, f"WeCom announced {declared:,} bytes")
        body = bytearray()
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            body += chunk
            if len(body) > limit:
                _hang_up(response)
                raise too_big(what, max_bytes, "the body grew past it; the rest was not read")
        return body


def _hang_up(response: aiohttp.ClientResponse) -> None:
    """Drop the connection now: a TLS close would wait for a server still pushing the rest."""
    connection = response.connection
    if connection is not None and connection.transport is not None:
        connection.transport.abort()


def too_big(what: str, max_bytes: int, detail: str) -> ImageError:
    return ImageError(
        f"{what} is larger than [images] max_bytes = {max_bytes:,} bytes ({detail}); raise "
        "max_bytes to accept such pictures"
    )
