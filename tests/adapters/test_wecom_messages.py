"""WeCom callback frames -> ``Inbound``: a peer's timestamp is read at the border, whatever its
unit, so nothing downstream meets a date 50,000 years away."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.adapters.wecom.messages import inbound

NOW = time.time()


def picture_frame(create_time: Any) -> dict[str, Any]:
    body = {
        "msgid": "7f3c", "aibotid": "aibBOT", "chattype": "single", "from": {"userid": "xiaoming"},
        "msgtype": "image", "image": {"url": "https://127.0.0.1/cos/t", "aeskey": "k"},
    }  # fmt: skip
    if create_time is not None:
        body["create_time"] = create_time
    return {"cmd": "aibot_msg_callback", "headers": {"req_id": "r1"}, "body": body}


@pytest.mark.parametrize(
    "create_time", [int(NOW), int(NOW * 1000)], ids=["seconds", "milliseconds"]
)
def test_create_time_in_seconds_or_milliseconds_becomes_seconds(create_time: int) -> None:
    msg = inbound(picture_frame(create_time))
    assert msg is not None
    assert abs(msg.created_at - NOW) < 2


@pytest.mark.parametrize(
    "create_time",
    [None, "soon", -5, 0, float("nan"), 10**30, [1]],
    ids=["missing", "text", "negative", "zero", "nan", "far-future", "list"],
)
def test_a_create_time_that_makes_no_sense_becomes_now(create_time: Any) -> None:
    before = time.time()
    msg = inbound(picture_frame(create_time))
    assert msg is not None
    assert before - 1 <= msg.created_at <= time.time() + 1
