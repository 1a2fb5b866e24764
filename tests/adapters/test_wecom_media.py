"""WeCom media downloads (``bot.adapters.wecom.media``) against the stand-in's media server: the
body streamed against ``[images] max_bytes`` and a deadline, then decrypted by the SDK's own
``decrypt_file``; every failure one ``DownloadFailed`` or ``ImageError`` with its reason."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from bot.adapters.wecom import media
from bot.errors import DownloadFailed, ImageError
from tests.fakes.wecom import Fault, WeComStandIn

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def wecom() -> Iterator[WeComStandIn]:
    with WeComStandIn() as standin:
        yield standin


def fetch(wecom: WeComStandIn, url: str, aeskey: str, *, max_bytes: int = MiB) -> bytes:
    context = ssl.create_default_context(cafile=str(wecom.ca_file))
    return asyncio.run(
        media.fetch(
            url, aeskey, ssl_context=context, timeout_s=5.0, max_bytes=max_bytes, what="picture 7"
        )
    )


def test_a_picture_is_fetched_and_decrypted_to_its_bytes(wecom: WeComStandIn) -> None:
    picture = bytes(range(256)) * 1000
    item = wecom.media.add(picture)
    assert fetch(wecom, item.url, item.aeskey) == picture


def test_a_picture_of_exactly_max_bytes_is_taken(wecom: WeComStandIn) -> None:
    item = wecom.media.add(b"\xff" * MiB)  # its ciphertext is 32 bytes longer
    assert len(fetch(wecom, item.url, item.aeskey, max_bytes=MiB)) == MiB


@pytest.mark.parametrize("announced", [False, True], ids=["streamed", "announced"])
def test_a_huge_body_is_refused_at_max_bytes_and_the_rest_never_read(
    wecom: WeComStandIn, announced: bool
) -> None:
    wecom.media.announce_huge = announced
    try:
        item = wecom.media.add(b"unused", fault=Fault.HUGE)  # 64 MiB of noise
        with pytest.raises(ImageError) as caught:
            fetch(wecom, item.url, item.aeskey, max_bytes=MiB)
    finally:
        wecom.media.announce_huge = False
    detail = "WeCom announced 67,108,864 bytes" if announced else "the rest was not read"
    assert "picture 7 is larger than [images] max_bytes = 1,048,576 bytes" in str(caught.value)
    assert detail in str(caught.value)
    assert wecom.media.sent_bytes(item) < 16 * MiB


@pytest.mark.parametrize(
    ("fault", "reason"),
    [(Fault.EXPIRED, "refused picture 7 (HTTP 403)"), (Fault.CORRUPT, "could not be decrypted")],
    ids=["expired", "corrupt"],
)
def test_expired_or_corrupt_media_fails_with_the_reason(
    wecom: WeComStandIn, fault: Fault, reason: str
) -> None:
    item = wecom.media.add(b"picture bytes", fault=fault)
    with pytest.raises(DownloadFailed, match=reason.replace("(", r"\(").replace(")", r"\)")):
        fetch(wecom, item.url, item.aeskey)


def test_a_server_that_never_answers_fails_at_the_deadline() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/cos/t"
        started = time.monotonic()
        with pytest.raises(DownloadFailed, match=r"download_timeout_s = 0\.5 s"):
            context = ssl.create_default_context()
            fetching = media.fetch(
                url, "", ssl_context=context, timeout_s=0.5, max_bytes=MiB, what="picture 7"
            )
            asyncio.run(fetching)
    assert time.monotonic() - started < 3
