"""Manual runs: ``python -m tests.fakes.wechat_sim``."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

from tests.fakes.wechat_sim.server import WeChatSimulator


def _demo_jpeg(n: int) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 240), ((n * 53) % 256, (n * 97) % 256, (n * 151) % 256))
    draw = ImageDraw.Draw(img)
    draw.rectangle((40, 40, 280, 200), outline=(255, 255, 255), width=4)
    draw.text((60, 110), f"picture {n} at {time.strftime('%H:%M:%S')}", fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _ticks(period_s: float) -> Iterator[int]:
    n = 0
    while True:
        time.sleep(period_s)
        n += 1
        yield n


def main() -> None:
    with WeChatSimulator() as sim:
        room = sim.add_group("我们一家", ["小明", "小红"])
        print(f"WeChat simulator at {sim.url}", flush=True)
        print(f"  set itchat.config.BASE_URL = {sim.url!r} before auto_login", flush=True)
        print(f"  group 我们一家 = {room} (小明, 小红); 小明 posts a JPEG every 5 s", flush=True)
        shown = 0
        try:
            for n in _ticks(5.0):
                msg_id = sim.post_picture("我们一家", "小明", _demo_jpeg(n))
                print(f"posted picture {n} (MsgId {msg_id}); logins={sim.logins}", flush=True)
                for s in sim.sent[shown:]:
                    print(f"  bot -> {s.to_nickname or s.to_user}: {s.content!r}", flush=True)
                shown = len(sim.sent)
        except KeyboardInterrupt:
            print("bye", flush=True)
