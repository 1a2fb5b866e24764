"""The real, unmodified itchat (itchat-uos 1.4.1) against tests/fakes/wechat_sim.py.

Every test uses its own ``itchat.new_instance()``, a ``qrCallback`` (no viewer is ever opened),
``loginCallback``/``exitCallback``, ``enableCmdQR=False``, ``itchat.config.BASE_URL`` pointed at the
simulator and a hot-reload pickle in ``tmp_path``. Teardown logs every instance out and joins its
``maintain_loop`` and ``reply_fn`` threads.
"""

from __future__ import annotations

import io
import json
import logging
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import itchat
import itchat.config
import pytest
from itchat.content import PICTURE, SHARING, TEXT
from PIL import Image

from tests.fakes.wechat_sim import SentMessage, WeChatSimulator, image_size

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FAMILY = "我们一家"
WORK = "同事群"
FRIEND = "老王"
SYNCCHECK_HOLD_S = 0.5


def jpeg(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="JPEG")
    return buf.getvalue()


def gif(width: int = 32, height: int = 32) -> bytes:
    buf = io.BytesIO()
    Image.new("P", (width, height), 3).save(buf, format="GIF")
    return buf.getvalue()


class Bot:
    """One itchat instance with recording callbacks and a handler for pictures and texts."""

    def __init__(self, pkl: Path) -> None:
        self.core: Any = itchat.new_instance()
        self.pkl = pkl
        self.qr: list[tuple[str, bytes]] = []
        self.login_calls = 0
        self.exit_calls = 0
        self.exited = threading.Event()
        self.received: queue.Queue[Any] = queue.Queue()
        for where in ({"isGroupChat": True}, {"isFriendChat": True}):
            self.core.msg_register([PICTURE, TEXT], **where)(self.received.put)

    def _on_qr(self, uuid: str, status: str, qrcode: bytes) -> None:
        self.qr.append((status, qrcode))

    def _on_login(self) -> None:
        self.login_calls += 1

    def _on_exit(self) -> None:
        self.exit_calls += 1
        self.exited.set()

    def login(self) -> None:
        self.core.auto_login(
            hotReload=True,
            statusStorageDir=str(self.pkl),
            enableCmdQR=False,
            picDir=str(self.pkl.parent / "QR.png"),
            qrCallback=self._on_qr,
            loginCallback=self._on_login,
            exitCallback=self._on_exit,
        )

    def start(self) -> Bot:
        self.login()
        self.core.run(blockThread=False)
        return self

    def next_msg(self, timeout: float = 5.0) -> Any:
        try:
            return self.received.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message reached the handler within {timeout}s") from None

    def kill(self) -> None:
        """Stop like a killed process: no webwxlogout, the server session stays valid."""
        self.core.alive = False
        assert self.exited.wait(5), "receive loop did not stop"

    def stop(self) -> None:
        if self.core.alive:
            self.core.logout()
        if self.login_calls:
            assert self.exited.wait(5), "receive loop did not stop after logout"

    def room(self, nickname: str) -> str:
        rooms = self.core.search_chatrooms(name=nickname)
        assert rooms, f"itchat does not know the group {nickname}"
        return str(rooms[0]["UserName"])


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[WeChatSimulator]:
    with WeChatSimulator(auto_scan_after_s=0.05, synccheck_hold_s=SYNCCHECK_HOLD_S) as s:
        s.add_group(FAMILY, ["小明", "小红"], display_names={"小红": "红红"})
        s.add_group(WORK, [FRIEND, "小李"])
        s.add_friend(FRIEND)
        monkeypatch.setattr(itchat.config, "BASE_URL", s.url)
        yield s


@pytest.fixture
def bots(sim: WeChatSimulator, tmp_path: Path) -> Iterator[Callable[..., Bot]]:
    before = set(threading.enumerate())
    made: list[Bot] = []

    def make(pkl_name: str = "itchat.pkl") -> Bot:
        bot = Bot(tmp_path / pkl_name)
        made.append(bot)
        return bot

    yield make
    for bot in made:
        bot.stop()
    itchat_threads = [
        t
        for t in threading.enumerate()
        if t not in before and t.name.endswith(("(maintain_loop)", "(reply_fn)"))
    ]
    for t in itchat_threads:
        t.join(timeout=5)
    assert [t.name for t in itchat_threads if t.is_alive()] == []
    assert sim.errors == []


def paths(sim: WeChatSimulator) -> list[str]:
    return [p.rsplit("/", 1)[-1] for _, p in sim.requests_log]


# ---------------------------------------------------------------------------- login


def test_qr_login_completes_without_a_human_and_lists_groups(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    bot = bots().start()

    assert [status for status, _ in bot.qr] == ["0", "201", "200"]
    assert bot.qr[0][1].startswith(b"\x89PNG")
    assert bot.login_calls == 1
    assert sim.logins == 1 and sim.logged_in.is_set()
    assert bot.core.alive and bot.pkl.exists()
    assert bot.core.storageClass.nickName == sim.me
    assert bot.core.storageClass.userName == sim.me_id
    assert sim.last_login_headers["client-version"] == "2.0.0"
    assert "extspam" in sim.last_login_headers
    seen = paths(sim)
    for step in ("jslogin", "login", "webwxnewloginpage", "webwxinit", "webwxstatusnotify"):
        assert step in seen
    assert seen.index("webwxinit") < seen.index("webwxgetcontact")

    rooms = {c["NickName"]: c["UserName"] for c in bot.core.get_chatrooms(update=True)}
    assert rooms == {FAMILY: sim.room_id(FAMILY), WORK: sim.room_id(WORK)}
    assert all(r.startswith("@@") for r in rooms.values())
    assert FRIEND in [f["NickName"] for f in bot.core.get_friends(update=True)]


def test_idle_synccheck_is_held_instead_of_busy_looping(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    bots().start()
    before = sim.count_requests("synccheck")
    began = time.monotonic()
    # Three more polls arrive: the first once the poll in progress ends, the next two each
    # after the simulator held the one before for SYNCCHECK_HOLD_S, as WeChat holds them.
    # A busy loop makes them within milliseconds; a stalled one never.
    while sim.count_requests("synccheck") - before < 3:
        assert time.monotonic() - began < 5.0, "itchat stopped polling synccheck"
        time.sleep(0.01)
    assert time.monotonic() - began >= 2 * SYNCCHECK_HOLD_S - 0.1
    assert sim.count_requests("webwxsync") == 0


def test_refused_login_1203_raises_keyerror_wxsid_and_leaves_the_instance_stuck(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    sim.login_ret = 1203
    bot = bots()
    with pytest.raises(KeyError) as info:
        bot.login()
    assert info.value.args == ("wxsid",)
    assert [s for s, _ in bot.qr] == ["0", "201"]  # '200' is never reported
    assert bot.login_calls == 0 and bot.exit_calls == 0
    assert not bot.core.alive and bot.core.isLogging  # stuck: a retry needs a new instance
    assert not bot.pkl.exists()
    jslogins = sim.count_requests("jslogin")
    assert bot.core.login(qrCallback=bot._on_qr) is None  # "itchat has already logged in."
    assert sim.count_requests("jslogin") == jslogins
    assert sim.logins == 0


def test_missing_wxsid_cookie_raises_the_same_keyerror(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    sim.omit_wxsid = True
    bot = bots()
    with pytest.raises(KeyError) as info:
        bot.login()
    assert info.value.args == ("wxsid",)
    assert bot.core.s.cookies.get("wxuin")  # the other cookies did arrive
    assert sim.logins == 0 and not bot.pkl.exists()


def test_login_without_the_uos_headers_is_refused_like_plain_itchat(
    sim: WeChatSimulator, bots: Callable[..., Bot], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(itchat.config, "UOS_PATCH_EXTSPAM", None)  # requests drops None headers
    with pytest.raises(KeyError):
        bots().login()
    assert "extspam" not in sim.last_login_headers


def test_nobody_scanning_keeps_login_waiting_until_the_qr_callback_raises(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    sim.auto_scan_after_s = None
    sim.login_poll_hold_s = 0.1
    sim.qr_expire_s = 0.3
    bot = bots()
    statuses: list[str] = []

    def give_up_after_the_second_qr(uuid: str, status: str, qrcode: bytes) -> None:
        statuses.append(status)
        if statuses.count("0") == 2:  # the first QR expired (400) and itchat fetched a new one
            raise TimeoutError("nobody scanned")

    with pytest.raises(TimeoutError):
        bot.core.auto_login(
            hotReload=True,
            statusStorageDir=str(bot.pkl),
            qrCallback=give_up_after_the_second_qr,
            loginCallback=bot._on_login,
            exitCallback=bot._on_exit,
        )
    assert statuses[0] == "0" and "408" in statuses and "400" in statuses
    assert sim.count_requests("jslogin") == 2
    assert bot.core.isLogging and not bot.core.alive and sim.logins == 0


def test_manual_scan_completes_a_login_that_waits_for_the_phone(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    sim.auto_scan_after_s = None
    timer = threading.Timer(0.3, sim.scan)
    timer.start()
    bot = bots().start()
    timer.join()
    assert [s for s, _ in bot.qr][-2:] == ["201", "200"] and sim.logins == 1


def test_unreachable_base_url_makes_auto_login_call_sys_exit(
    bots: Callable[..., Bot], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    monkeypatch.setattr(itchat.config, "BASE_URL", f"http://127.0.0.1:{closed_port}")
    bot = bots()
    with pytest.raises(SystemExit) as info:
        bot.login()
    assert info.value.code is None
    assert bot.qr == [] and bot.login_calls == 0


# ---------------------------------------------------------------------------- messages


def test_group_picture_reaches_the_handler_with_sender_group_and_exact_bytes(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    bot = bots().start()
    image = jpeg(64, 48)
    msg_id = sim.post_picture(FAMILY, "小明", image)

    msg = bot.next_msg()
    assert msg["Type"] == "Picture" and msg["MsgType"] == 3
    assert msg["MsgId"] == msg_id
    assert msg["ActualNickName"] == "小明"
    assert msg["ActualUserName"] == sim.user_id("小明")
    assert msg["FromUserName"] == sim.room_id(FAMILY)
    assert msg["ToUserName"] == sim.me_id
    assert msg["User"]["NickName"] == FAMILY
    assert msg["FileName"].endswith(".png")
    assert (msg["ImgWidth"], msg["ImgHeight"]) == (64, 48)
    assert msg["IsAt"] is False
    assert msg.download(None) == image
    assert msg["Text"]() == image

    # the group display name wins over the nickname
    sim.post_picture(FAMILY, "小红", jpeg(10, 10))
    assert bot.next_msg()["ActualNickName"] == "红红"


def test_mention_reply_and_handler_return_value_are_recorded_with_the_group_nickname(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    bot = bots()
    bot.core.msg_register(TEXT, isGroupChat=True)(lambda msg: "收到")
    bot.start()
    room = bot.room(FAMILY)
    assert room == sim.room_id(FAMILY)

    result = bot.core.send("@小明\u2005hi", toUserName=room)
    assert result and result["BaseResponse"]["Ret"] == 0
    [sent] = sim.wait_for_sent(lambda s: s.content.startswith("@小明"))
    assert sent.to_user == room and sent.to_nickname == FAMILY
    assert sent.content == "@小明\u2005hi" and sent.msg_type == 1
    assert sent.from_user == sim.me_id and sent.ok

    sim.post_text(FAMILY, "小明", "你好")
    [reply] = sim.wait_for_sent(lambda s: s.content == "收到")
    assert reply.to_nickname == FAMILY


def test_private_picture_from_a_friend_reaches_the_friend_handler(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    bot = bots().start()
    image = jpeg(20, 30)
    sim.post_picture(None, FRIEND, image)
    msg = bot.next_msg()
    assert msg["Type"] == "Picture"
    assert msg["FromUserName"] == sim.user_id(FRIEND)
    assert msg["User"]["NickName"] == FRIEND
    assert "ActualNickName" not in msg
    assert msg.download(None) == image


def test_stickers_and_app_images_arrive_as_pictures_with_gif_names(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    bot = bots().start()
    sticker = gif()
    assert image_size(sticker) == (32, 32)
    sim.post_picture(FAMILY, "小明", sticker, msg_type=47)
    msg = bot.next_msg()
    assert (msg["Type"], msg["MsgType"]) == ("Picture", 47)
    assert msg["FileName"].endswith(".gif")
    assert msg["ActualNickName"] == "小明"
    assert msg.download(None) == sticker

    sim.post_picture(FAMILY, "小明", sticker, msg_type=49)
    msg = bot.next_msg()
    assert (msg["Type"], msg["MsgType"], msg["AppMsgType"]) == ("Picture", 49, 8)
    assert msg.download(None) == sticker


def test_picture_sent_from_the_owners_phone_is_attributed_to_the_bot(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    bot = bots().start()
    sim.post_picture(FAMILY, sim.me, jpeg())
    msg = bot.next_msg()
    assert msg["FromUserName"] == sim.me_id
    assert msg["ToUserName"] == sim.room_id(FAMILY)
    assert msg["ActualUserName"] == sim.me_id
    assert msg["ActualNickName"] == sim.me
    assert msg["User"]["NickName"] == FAMILY  # a returned reply would still go to FromUserName


def test_file_helper_messages_both_ways(sim: WeChatSimulator, bots: Callable[..., Bot]) -> None:
    bot = bots().start()
    sim.post_text(None, sim.me, "ping <1>\n2", to_filehelper=True)
    msg = bot.next_msg()
    assert (msg["Type"], msg["Text"]) == ("Text", "ping <1>\n2")
    assert msg["ToUserName"] == "filehelper"
    assert bot.core.send("pong", toUserName="filehelper")
    [sent] = sim.wait_for_sent(lambda s: s.to_user == "filehelper")
    assert sent.to_nickname == "filehelper" and sent.content == "pong"


def test_redelivered_message_reaches_the_handler_twice_with_the_same_msgid(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    bot = bots().start()
    image = jpeg()
    msg_id = sim.post_picture(FAMILY, "小明", image)
    assert bot.next_msg()["MsgId"] == msg_id
    sim.redeliver(msg_id)
    again = bot.next_msg()
    assert again["MsgId"] == msg_id and again.download(None) == image


def test_own_sends_echo_back_as_messages_from_the_bot_when_enabled(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    sim.echo_sent = True
    bot = bots().start()
    bot.core.send("我是机器人", toUserName=bot.room(FAMILY))
    msg = bot.next_msg()
    assert msg["Text"] == "我是机器人" and msg["ActualNickName"] == sim.me


def test_image_send_uploads_the_bytes(
    sim: WeChatSimulator, bots: Callable[..., Bot], tmp_path: Path
) -> None:
    bot = bots().start()
    path = tmp_path / "answer.jpg"
    path.write_bytes(jpeg(8, 8))
    assert bot.core.send_image(str(path), toUserName=bot.room(WORK))
    [sent] = sim.wait_for_sent(lambda s: s.msg_type == 3)
    assert sent.to_nickname == WORK and sent.media == path.read_bytes()


# ---------------------------------------------------------------------------- faults


@pytest.mark.parametrize("retcode", [1101, 1102])
def test_server_logout_ends_the_receive_loop_and_calls_exit_callback(
    sim: WeChatSimulator,
    bots: Callable[..., Bot],
    caplog: pytest.LogCaptureFixture,
    retcode: int,
) -> None:
    caplog.set_level(logging.DEBUG, logger="itchat")
    bot = bots().start()
    sim.logout(retcode)
    assert bot.exited.wait(3)
    assert bot.exit_calls == 1 and not bot.core.alive
    assert "webwxlogout" not in paths(sim)  # itchat is already not alive when it logs out
    assert f'retcode:"{retcode}"' in caplog.text  # the only place the retcode shows
    assert bot.core.s.cookies.get_dict() == {}  # logout() cleared the session cookies


def test_failed_send_is_a_falsy_return_value_not_an_exception(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    bot = bots().start()
    room = bot.room(FAMILY)
    sim.send_ret, sim.send_fail_count = 1205, 1
    first = bot.core.send("one", toUserName=room)
    second = bot.core.send("two", toUserName=room)
    assert not first and first["BaseResponse"]["Ret"] == 1205
    assert second
    assert [(s.content, s.ret, s.ok) for s in sim.sent] == [("one", 1205, False), ("two", 0, True)]


def test_download_faults_come_back_as_bytes_without_an_error(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    bot = bots().start()
    sim.post_picture(FAMILY, "小明", jpeg())
    msg = bot.next_msg()
    sim.image_status = 404
    assert msg.download(None).startswith(b"<html>")
    sim.image_status = 200
    sim.image_body_override = b""
    assert msg.download(None) == b""
    sim.image_body_override = b"<html>error</html>"
    assert msg.download(None) == b"<html>error</html>"


def test_dropped_synccheck_connections_do_not_stop_the_loop(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    bot = bots().start()
    sim.drop_connections(2)
    deadline = time.monotonic() + 3
    while sim.pending_drops and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.pending_drops == 0
    assert sim.count_requests("webwxsync") >= 2  # itchat maps the drop to "new messages"
    sim.post_picture(FAMILY, "小明", jpeg())
    assert bot.next_msg()["ActualNickName"] == "小明"
    assert bot.core.alive and bot.exit_calls == 0


def test_synccheck_http_errors_end_the_loop_after_the_retry_budget(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    bot = bots()
    bot.core.receivingRetryCount = 1  # default 5 (6 errors, 1 s apart)
    bot.start()
    sim.fail_synccheck(2, status=500)
    assert bot.exited.wait(5)
    assert not bot.core.alive and bot.exit_calls == 1


# ---------------------------------------------------------------------------- sessions


def test_hot_reload_in_a_new_instance_resumes_without_qr(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    first = bots().start()
    room = first.room(FAMILY)
    first.kill()
    jslogins = sim.count_requests("jslogin")

    second = bots().start()
    assert second.qr == [] and second.login_calls == 1
    assert sim.count_requests("jslogin") == jslogins
    assert sim.count_requests("webwxpushloginurl") == 0
    assert sim.logins == 1  # no webwxinit: the saved session was accepted by webwxsync
    assert second.room(FAMILY) == room == sim.room_id(FAMILY)
    sim.post_picture(FAMILY, "小明", jpeg())
    assert second.next_msg()["FromUserName"] == room
    assert second.core.send("back", toUserName=room)


def test_hot_reload_replays_messages_newer_than_the_pickled_synckey(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    first = bots().start()
    seen = sim.post_picture(FAMILY, "小明", jpeg())
    assert first.next_msg()["MsgId"] == seen
    first.kill()  # the pickle still holds the SyncKey from login time

    second = bots().start()
    replayed = second.next_msg()
    assert replayed["MsgId"] == seen  # the same picture again: the bot must deduplicate
    fresh = sim.post_picture(FAMILY, "小红", jpeg())
    assert second.next_msg()["MsgId"] == fresh


def test_redumping_the_session_after_handling_prevents_replay(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    first = bots().start()
    seen = sim.post_picture(FAMILY, "小明", jpeg())
    assert first.next_msg()["MsgId"] == seen
    first.core.dump_login_status()  # writes the current SyncKey
    first.kill()

    second = bots().start()
    fresh = sim.post_picture(FAMILY, "小红", jpeg())
    assert second.next_msg()["MsgId"] == fresh


def test_hot_reload_after_server_logout_falls_back_to_push_login_with_new_ids(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    first = bots().start()
    old_room = first.room(FAMILY)
    sim.logout(1101)
    assert first.exited.wait(3)

    second = bots().start()
    assert sim.count_requests("webwxpushloginurl") == 1
    assert sim.count_requests("jslogin") == 1  # only the first login drew a QR
    assert [s for s, _ in second.qr] == ["201", "200"]
    assert all(code == b"" for _, code in second.qr)
    assert sim.logins == 2
    new_room = second.room(FAMILY)
    assert new_room != old_room and new_room == sim.room_id(FAMILY)
    sim.post_picture(FAMILY, "小明", jpeg())
    msg = second.next_msg()
    assert msg["FromUserName"] == new_room and msg["ActualNickName"] == "小明"


def test_a_fresh_qr_login_elsewhere_ends_the_old_session(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    first = bots("first.pkl").start()
    old_room = first.room(FAMILY)
    second = bots("second.pkl").start()  # no pickle: a new QR login
    assert [s for s, _ in second.qr] == ["0", "201", "200"]
    assert first.exited.wait(3) and not first.core.alive
    assert second.room(FAMILY) != old_room
    assert sim.sessions_alive() == 1


HOT_RELOAD_CHILD = """
import json, sys
import itchat
itchat.config.BASE_URL = sys.argv[1]
core = itchat.new_instance()
qr = []
core.auto_login(hotReload=True, statusStorageDir=sys.argv[2], enableCmdQR=False,
                qrCallback=lambda uuid, status, qrcode: qr.append(status),
                loginCallback=lambda: None, exitCallback=lambda: None)
rooms = {c["NickName"]: c["UserName"] for c in core.get_chatrooms()}
ok = bool(core.send("from the child", toUserName=rooms[sys.argv[3]]))
print("RESULT " + json.dumps({"qr": qr, "alive": core.alive, "rooms": rooms, "sent": ok}))
"""


def test_hot_reload_in_a_new_process_resumes_without_qr(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    first = bots().start()
    first.kill()
    done = subprocess.run(
        [sys.executable, "-c", HOT_RELOAD_CHILD, sim.url, str(first.pkl), FAMILY],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if "RESULT " in x)
    result = json.loads(line.split("RESULT ", 1)[1])
    assert result["qr"] == [] and result["alive"] and result["sent"]
    assert result["rooms"][FAMILY] == sim.room_id(FAMILY)
    assert sim.count_requests("jslogin") == 1 and sim.logins == 1
    [sent] = sim.wait_for_sent(lambda s: s.content == "from the child")
    assert isinstance(sent, SentMessage) and sent.to_nickname == FAMILY


def test_a_quote_of_a_picture_names_it_by_new_msg_id_and_is_at_when_it_mentions_the_bot(
    sim: WeChatSimulator, bots: Callable[..., Bot]
) -> None:
    bot = bots()
    bot.core.msg_register(SHARING, isGroupChat=True)(bot.received.put)
    bot.start()
    photo_id = sim.post_picture(FAMILY, "小红", jpeg(16, 16))
    photo = bot.next_msg()
    sim.post_quote(FAMILY, "小明", f"@{sim.me}\u2005这是什么品种?", photo_id)

    quote = bot.next_msg()
    assert (quote["Type"], quote["MsgType"], quote["AppMsgType"]) == ("Sharing", 49, 57)
    assert quote["IsAt"] is True  # itchat's own test: "@<bot>\u2005" in the content
    assert f"<svrid>{photo['NewMsgId']}</svrid>" in quote["Content"]
    assert f"<title>@{sim.me}\u2005这是什么品种?</title>" in quote["Content"]
    assert quote["ActualNickName"] == "小明"
