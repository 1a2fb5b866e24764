"""The real, unmodified wecom-aibot-python-sdk 1.0.2 against tests/fakes/wecom.

The SDK runs in its own thread and event loop, as the bot will run it; the test thread waits on
recorded SDK events and on the stand-in's recorded frames, never on sleeps.
"""

from __future__ import annotations

import asyncio
import io
import logging
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import aibot.api
import aibot.ws
import aiohttp
import pytest
from aibot import WSClient, WSClientOptions
from PIL import Image

from tests.fakes.wecom import Fault, WeComStandIn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BOT_ID = "aibTestBot0001"
SECRET = "s3cret"
T = TypeVar("T")
SDK_EVENTS = (
    "connected", "authenticated", "disconnected", "reconnecting", "error", "message.text",
    "message.image", "message.mixed", "message.voice", "message.file", "event.enter_chat",
    "event.disconnected_event",
)  # fmt: skip


def jpeg(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, format="JPEG")
    return buf.getvalue()


class SdkLog:
    """The SDK's Logger protocol, into ``logging`` (its default prints to stderr)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.log = logging.getLogger("aibot")

    def _emit(self, level: int, message: str, *args: object) -> None:
        text = " ".join([message, *map(str, args)])
        self.lines.append(text)
        self.log.log(level, "%s", text)

    def debug(self, message: str, *args: object) -> None:
        self._emit(logging.DEBUG, message, *args)

    def info(self, message: str, *args: object) -> None:
        self._emit(logging.INFO, message, *args)

    def warn(self, message: str, *args: object) -> None:
        self._emit(logging.WARNING, message, *args)

    def error(self, message: str, *args: object) -> None:
        self._emit(logging.ERROR, message, *args)


class Sdk:
    """One WSClient in its own loop thread, with every event it emits recorded."""

    def __init__(self, url: str, *, secret: str = SECRET, **options: Any) -> None:
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.log_lines: list[str] = []
        self.cond = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        opts = WSClientOptions(
            bot_id=BOT_ID, secret=secret, ws_url=url, logger=SdkLog(self.log_lines), **options
        )
        self.client: WSClient = self.call(self._make(opts))

    async def _make(self, opts: WSClientOptions) -> WSClient:
        client = WSClient(opts)
        for name in SDK_EVENTS:
            client.on(name, self._recorder(name))
        return client

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            with self.cond:
                self.events.append((name, args))
                self.cond.notify_all()

        return record

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def connect(self) -> None:
        self.call(self.client.connect())

    def named(self, name: str) -> list[tuple[Any, ...]]:
        with self.cond:
            return [args for n, args in self.events if n == name]

    def wait(self, name: str, count: int = 1, timeout_s: float = 5.0) -> tuple[Any, ...]:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while len(self.named(name)) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"SDK emitted no {name!r} #{count}; events: {self.events}"
                self.cond.wait(left)
            return self.named(name)[count - 1]

    def wait_log(self, fragment: str, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while not any(fragment in line for line in self.log_lines):
                assert time.monotonic() < deadline, f"no SDK log with {fragment!r}"
                self.cond.wait(0.05)

    def close(self) -> None:
        async def stop() -> None:
            if self.client._started:  # disconnect() on a never-connected client only warns
                self.client.disconnect()
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if rest:
                _, pending = await asyncio.wait(rest, timeout=3)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*rest, return_exceptions=True)

        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def trust(standin: WeComStandIn) -> None:
    """Add the stand-in's CA to the SDK's two certifi-based contexts (WebSocket and download)."""
    aibot.ws._SSL_CONTEXT.load_verify_locations(cafile=str(standin.ca_file))
    aibot.api._SSL_CONTEXT.load_verify_locations(cafile=str(standin.ca_file))


@pytest.fixture
def wecom() -> Iterator[WeComStandIn]:
    with WeComStandIn(bot_id=BOT_ID, secret=SECRET) as standin:
        trust(standin)
        yield standin


@pytest.fixture
def sdk_factory(wecom: WeComStandIn) -> Iterator[Callable[..., Sdk]]:
    made: list[Sdk] = []

    def make(**options: Any) -> Sdk:
        options.setdefault("reconnect_interval", 50)
        sdk = Sdk(wecom.ws_url, **options)
        made.append(sdk)
        return sdk

    yield make
    for sdk in made:
        sdk.close()


@pytest.fixture
def sdk(sdk_factory: Callable[..., Sdk], wecom: WeComStandIn) -> Sdk:
    client = sdk_factory()
    client.connect()
    client.wait("authenticated")
    wecom.wait_subscribed()
    return client


def test_sdk_subscribes_with_bot_id_and_secret_over_wss(sdk: Sdk, wecom: WeComStandIn) -> None:
    sub = wecom.wait_frame(lambda r: r.cmd == "aibot_subscribe")
    assert sub.body == {"bot_id": BOT_ID, "secret": SECRET}
    assert sub.req_id.startswith("aibot_subscribe_")
    assert sub.answer == {"headers": {"req_id": sub.req_id}, "errcode": 0, "errmsg": "ok"}
    assert sdk.client.is_connected


def test_single_chat_image_downloads_to_original_bytes_and_reply_is_recorded(
    sdk: Sdk, wecom: WeComStandIn
) -> None:
    picture = jpeg()
    posted = wecom.post_image("zhangsan", picture)
    (frame,) = sdk.wait("message.image")
    body = frame["body"]
    assert frame["headers"]["req_id"] == posted.req_id
    assert (body["chattype"], body["from"]["userid"], "chatid" in body) == (
        "single",
        "zhangsan",
        False,
    )
    data, filename = sdk.call(
        sdk.client.download_file(body["image"]["url"], body["image"]["aeskey"])
    )
    assert (data, filename) == (picture, None)
    ack = sdk.call(sdk.client.reply_stream(frame, "stream-1", "虎斑猫 92.3%", finish=True))
    assert ack["errcode"] == 0
    reply = wecom.wait_reply(posted.req_id)
    assert reply.body == {
        "msgtype": "stream",
        "stream": {"id": "stream-1", "finish": True, "content": "虎斑猫 92.3%"},
    }
    assert reply.errcode == 0


def test_group_mixed_message_carries_the_at_text_and_every_picture(
    sdk: Sdk, wecom: WeComStandIn
) -> None:
    chatid = wecom.new_chatid()
    pictures = [jpeg((10, 200, 10)), jpeg((10, 10, 200))]
    posted = wecom.post_mixed(chatid, "lisi", "@识图 看看这两张", pictures)
    (frame,) = sdk.wait("message.mixed")
    body = frame["body"]
    assert (body["chatid"], body["chattype"], frame["headers"]["req_id"]) == (
        chatid,
        "group",
        posted.req_id,
    )
    items = body["mixed"]["msg_item"]
    assert items[0] == {"msgtype": "text", "text": {"content": "@识图 看看这两张"}}
    got = [
        sdk.call(sdk.client.download_file(i["image"]["url"], i["image"]["aeskey"]))[0]
        for i in items[1:]
    ]
    assert got == pictures


def test_redeliver_pushes_the_same_message_under_a_new_req_id(
    sdk: Sdk, wecom: WeComStandIn
) -> None:
    posted = wecom.post_mixed(wecom.new_chatid(), "lisi", None, [jpeg()])
    again = wecom.redeliver(posted)
    (first,), (second,) = sdk.wait("message.mixed"), sdk.wait("message.mixed", count=2)
    assert (first["body"], second["body"]) == (posted.body, posted.body)
    assert second["headers"]["req_id"] == again.req_id != posted.req_id
    ack = sdk.call(sdk.client.reply_stream(second, "s-1", "猫", finish=True))
    assert ack["errcode"] == 0  # a callback of its own: it can be answered


def test_quote_voice_and_file_reach_their_sdk_events(sdk: Sdk, wecom: WeComStandIn) -> None:
    chatid = wecom.new_chatid()
    picture = jpeg()
    wecom.post_quote(chatid, "wangwu", "@识图 这是什么", picture)
    wecom.post_voice("wangwu", "你好")
    wecom.post_file("wangwu", b"%PDF-1.4 tiny", "报告.pdf")
    (text,) = sdk.wait("message.text")
    quote = text["body"]["quote"]
    assert (
        sdk.call(sdk.client.download_file(quote["image"]["url"], quote["image"]["aeskey"]))[0]
        == picture
    )
    assert sdk.wait("message.voice")[0]["body"]["voice"] == {"content": "你好"}
    file = sdk.wait("message.file")[0]["body"]["file"]
    assert sdk.call(sdk.client.download_file(file["url"], file["aeskey"])) == (
        b"%PDF-1.4 tiny",
        "报告.pdf",
    )


def test_wrong_secret_gets_853000_error_event_and_the_socket_stays_open(
    sdk_factory: Callable[..., Sdk], wecom: WeComStandIn
) -> None:
    sdk = sdk_factory(secret="wrong")
    sdk.connect()
    (error,) = sdk.wait("error")
    assert "853000" in str(error)
    sub = wecom.wait_frame(lambda r: r.cmd == "aibot_subscribe")
    assert sub.errcode == 853000
    assert sdk.client.is_connected and wecom.connections == 1 and not sdk.named("authenticated")


def test_dropped_connection_is_reconnected_and_resubscribed(sdk: Sdk, wecom: WeComStandIn) -> None:
    wecom.drop()
    sdk.wait("disconnected")
    assert sdk.wait("reconnecting") == (1,)
    sdk.wait("authenticated", count=2)
    wecom.wait_subscribed(count=2)
    assert wecom.connections == 2
    posted = wecom.post_image("zhangsan", jpeg())
    frame = sdk.wait("message.image")[0]
    assert frame["headers"]["req_id"] == posted.req_id


def test_kick_delivers_disconnected_event_and_sdk_1_0_2_does_not_reconnect(
    sdk_factory: Callable[..., Sdk], wecom: WeComStandIn
) -> None:
    sdk = sdk_factory(heartbeat_interval=100)
    sdk.connect()
    wecom.wait_subscribed()
    wecom.kick()
    (frame,) = sdk.wait("event.disconnected_event")
    assert frame["body"]["event"] == {"eventtype": "disconnected_event"}
    # A clean close (1000) ends `async for` without ConnectionClosed: no "disconnected", no
    # reconnect; the heartbeat notices two unanswered pings and stops.
    sdk.wait_log("connection considered dead")
    assert not sdk.named("disconnected") and not sdk.named("reconnecting")
    assert wecom.connections == 1 and not sdk.client.is_connected


def test_second_connection_for_the_same_bot_kicks_the_first(
    sdk_factory: Callable[..., Sdk], wecom: WeComStandIn
) -> None:
    first = sdk_factory()
    first.connect()
    wecom.wait_subscribed()
    second = sdk_factory()
    second.connect()
    second.wait("authenticated")
    first.wait("event.disconnected_event")
    wecom.wait_subscribed(count=2)
    assert not second.named("event.disconnected_event")


def test_expired_media_url_raises_http_error(sdk: Sdk, wecom: WeComStandIn) -> None:
    wecom.post_image("zhangsan", jpeg(), fault=Fault.EXPIRED)
    image = sdk.wait("message.image")[0]["body"]["image"]
    with pytest.raises(aiohttp.ClientResponseError) as err:
        sdk.call(sdk.client.download_file(image["url"], image["aeskey"]))
    assert err.value.status == 403


def test_corrupt_media_fails_decryption(sdk: Sdk, wecom: WeComStandIn) -> None:
    wecom.post_image("zhangsan", jpeg(), fault=Fault.CORRUPT)
    image = sdk.wait("message.image")[0]["body"]["image"]
    with pytest.raises(RuntimeError, match="Decryption failed"):
        sdk.call(sdk.client.download_file(image["url"], image["aeskey"]))


def test_reply_after_the_stream_window_is_refused_846608(sdk: Sdk, wecom: WeComStandIn) -> None:
    wecom.stream_window_s = 0.0
    posted = wecom.post_image("zhangsan", jpeg())
    frame = sdk.wait("message.image")[0]
    with pytest.raises(RuntimeError, match="846608"):
        sdk.call(sdk.client.reply_stream(frame, "s1", "late", finish=True))
    assert wecom.replies(posted.req_id)[0].errcode == 846608


def test_proactive_markdown_goes_to_known_chats_only(sdk: Sdk, wecom: WeComStandIn) -> None:
    wecom.post_text(None, "owner", "/stats")
    sdk.wait("message.text")
    body = {"msgtype": "markdown", "markdown": {"content": "**ok**"}}
    assert sdk.call(sdk.client.send_message("owner", body))["errcode"] == 0
    assert wecom.sent_messages()[0].body == {"chatid": "owner", **body}
    with pytest.raises(RuntimeError, match="40058"):
        sdk.call(sdk.client.send_message("stranger", body))


def test_untrusted_certificate_is_a_tls_error_event(sdk_factory: Callable[..., Sdk]) -> None:
    with WeComStandIn() as other:  # its CA is never loaded
        sdk = Sdk(other.ws_url, max_reconnect_attempts=0)
        try:
            sdk.connect()
            first, last = sdk.wait("error")[0], sdk.wait("error", count=2)[0]
            assert isinstance(first, ssl.SSLCertVerificationError)
            assert str(last) == "Max reconnect attempts exceeded"
        finally:
            sdk.close()


def test_unanswered_pings_make_sdk_1_0_2_close_without_reconnecting(
    sdk_factory: Callable[..., Sdk], wecom: WeComStandIn
) -> None:
    wecom.answer_pings = False
    sdk = sdk_factory(heartbeat_interval=100)
    sdk.connect()
    wecom.wait_subscribed()
    sdk.wait_log("connection considered dead")
    wecom.wait_until(lambda: not wecom.is_subscribed, what="server-side close")
    assert not sdk.named("disconnected") and not sdk.named("reconnecting")
    assert wecom.connections == 1 and not sdk.client.is_connected
