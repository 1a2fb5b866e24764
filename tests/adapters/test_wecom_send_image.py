"""``WeComChat.send`` with an ``Image``: the real SDK 1.0.2 (``reply_stream(msg_item=...)``)
against the WeCom stand-in, in this process. A picture answers a message's callback on a
stream of its own; anywhere else, or in a form WeCom does not take, it is refused for good."""

from __future__ import annotations

import base64
import hashlib
import io
import queue
from collections.abc import Iterator

import pytest
from PIL import Image as Pil

from bot.adapters.wecom.chat import WeComChat
from bot.adapters.wecom.replies import PICTURE_MAX_BYTES
from bot.adapters.wecom.settings import WeComConfig
from bot.core.chat import Image, Sent, Text
from bot.core.events import Picture
from tests.fakes.wecom import WeComStandIn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
OWNER = "boss"


def png(color: tuple[int, int, int] = (20, 160, 90)) -> bytes:
    out = io.BytesIO()
    Pil.new("RGB", (32, 24), color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def wecom() -> Iterator[WeComStandIn]:
    with WeComStandIn() as standin:
        yield standin


@pytest.fixture(scope="module")
def connected(wecom: WeComStandIn) -> Iterator[tuple[WeComChat, queue.Queue[object]]]:
    cfg = WeComConfig(
        bot_id=wecom.bot_id, ws_url=wecom.ws_url, ca_file=wecom.ca_file, chats=("*",),
        owner=OWNER, secret=wecom.secret,
    )  # fmt: skip
    chat = WeComChat(cfg, download_timeout_s=5.0, max_bytes=1_000_000)
    events: queue.Queue[object] = queue.Queue()
    chat.preflight()
    chat.connect(on_event=events.put, on_qr=lambda *args: None, on_phase=lambda phase: None)
    yield chat, events
    chat.stop()
    chat.close()


def picture_event(wecom: WeComStandIn, events: queue.Queue[object]) -> tuple[str, Picture]:
    posted = wecom.post_image("xiaoming", png((200, 0, 0)))
    event = events.get(timeout=10)
    assert isinstance(event, Picture) and event.reply_to is not None
    return posted.req_id, event


def test_a_picture_answers_the_callback_with_its_bytes_and_md5(
    wecom: WeComStandIn, connected: tuple[WeComChat, queue.Queue[object]]
) -> None:
    chat, events = connected
    req_id, event = picture_event(wecom, events)
    drawn = png()
    assert event.reply_to is not None
    assert chat.send(event.reply_to, Text("一张图片 → 猫")) == Sent(True)
    assert chat.send(event.reply_to, Image(drawn, "answer.png")) == Sent(True)
    text, picture = wecom.replies(req_id)
    assert (text.errcode, picture.errcode) == (0, 0)
    assert picture.finish and picture.stream["id"] != text.stream["id"]
    [item] = picture.stream["msg_item"]
    assert base64.b64decode(item["image"]["base64"]) == drawn
    assert item["image"]["md5"] == hashlib.md5(drawn, usedforsecurity=False).hexdigest()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"GIF89a" + bytes(100), "JPEG or PNG pictures only"),
        (png() + bytes(PICTURE_MAX_BYTES), "WeCom takes at most 10,485,760"),
    ],
    ids=["gif", "over-10-MB"],
)
def test_a_picture_wecom_would_not_take_is_refused_for_good_without_sending(
    wecom: WeComStandIn, connected: tuple[WeComChat, queue.Queue[object]], data: bytes, why: str
) -> None:
    chat, events = connected
    req_id, event = picture_event(wecom, events)
    assert event.reply_to is not None
    sent = chat.send(event.reply_to, Image(data))
    assert (sent.ok, sent.final) == (False, True) and why in sent.reason
    assert wecom.replies(req_id) == []


def test_a_picture_to_the_owners_chat_is_refused_for_good(
    connected: tuple[WeComChat, queue.Queue[object]],
) -> None:
    chat, _ = connected
    sent = chat.send(OWNER, Image(png()))
    assert (sent.ok, sent.final) == (False, True)
    assert "only as the answer to a message" in sent.reason
