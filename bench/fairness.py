"""Fair replies: group B's one picture while one member of group A floods 30 (issue 12.11).

Two measurements in one run:

- end to end, the real ``wechat-vision-bot run`` (real itchat, the Web WeChat simulator, the
  TF Serving stand-in), 1 s pacing as shipped (jitter 0 so runs compare): A posts 30 pictures,
  then B posts one; B's arrival-to-reply time, and A's last reply for scale;
- the paced sender alone, the same traffic with per-group lanes (as shipped) and with every
  message in one lane (how the bot queued replies before: first come, first served), at the
  same pacing. This is the before/after comparison: the sender is the only thing that changed.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import Row, Section
from bench.harness import GROUPS, BotRun, TimedServing, simulator, write_config
from bot.core.pacing import PacedSender
from tests.botproc import class_photo

FLOOD = 30
A, B = GROUPS[0], GROUPS[1]


class _Recorder:
    """A text sender that notes when each message reached it."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.lock = threading.Lock()

    def send_text(self, chat_id: str, text: str) -> bool:
        with self.lock:
            self.times.setdefault(chat_id, []).append(time.monotonic())
        return True


def sender_only(*, interval_s: float, fair: bool) -> tuple[float, float]:
    """(B's wait, A's last) in seconds with the real PacedSender and a recording transport."""
    rec = _Recorder()
    sender = PacedSender(
        rec,
        min_interval_s=interval_s,
        jitter_s=0.0,
        retries=0,
        clock=time.monotonic,
        sleep=time.sleep,
        rng=random.Random(1),
    )
    start = time.monotonic()
    for i in range(FLOOD):
        sender.post(A, f"a{i}", lane=A if fair else "all")
    b_posted = time.monotonic()
    sender.post(B, "b", lane=B if fair else "all")
    sender.close(interval_s * (FLOOD + 5) + 5)
    return rec.times[B][0] - b_posted, rec.times[A][-1] - start


def end_to_end(folder: Path, *, interval_s: float) -> tuple[float, float]:
    """(B's arrival-to-reply, A's last reply after the flood began) in seconds, real bot."""
    tfs = TimedServing()
    try:
        with simulator() as sim:
            cfg = write_config(
                folder,
                wechat_url=sim.url,
                serving_url=tfs.url,
                min_send_interval_s=interval_s,
                send_jitter_s=0.0,
                filehelper_audit=False,
            )
            bot = BotRun(cfg)
            try:
                bot.wait_ready()
                photo = class_photo(281, size=(640, 480))
                start = time.monotonic()
                for _ in range(FLOOD):
                    sim.post_picture(A, "小明", photo)
                b_posted = time.monotonic()
                sim.post_picture(B, "小红", photo)
                deadline = time.monotonic() + 60 + FLOOD * (interval_s + 1)
                while time.monotonic() < deadline:
                    sent = [m for m in list(sim.sent) if m.ok]
                    to_a = [m.time for m in sent if m.to_nickname == A]
                    to_b = [m.time for m in sent if m.to_nickname == B]
                    if to_b and len(to_a) >= FLOOD:
                        return to_b[0] - b_posted, max(to_a) - start
                    time.sleep(0.05)
                raise RuntimeError("the flood was not answered in time")
            finally:
                bot.stop()
    finally:
        tfs.close()


def run(*, quick: bool) -> Section:
    interval = 0.2 if quick else 1.0
    fifo_b, fifo_a = sender_only(interval_s=interval, fair=False)
    fair_b, fair_a = sender_only(interval_s=interval, fair=True)
    with TemporaryDirectory(prefix="bench-fair-") as tmp:
        e2e_b, e2e_a = end_to_end(Path(tmp), interval_s=interval)
    pacing = f"{interval:g} s pacing, {FLOOD} pictures from A first"
    rows = [
        Row(
            "fairness",
            f"sender, one queue (before): group B's reply waits ({pacing})",
            f"{fifo_b:.2f} s",
            value=fifo_b,
        ),
        Row(
            "fairness",
            "sender, a lane per group (after): group B's reply waits",
            f"{fair_b:.2f} s ({fifo_b / max(fair_b, 1e-3):.0f}× sooner)",
            target=f"≤ {2 * interval + 0.5:g} s",
            passed=fair_b <= 2 * interval + 0.5,
            value=fair_b,
        ),
        Row(
            "fairness",
            "real bot (after): group B's arrival-to-reply while A floods",
            f"{e2e_b:.2f} s (A's 30th reply after {e2e_a:.1f} s)",
            target=f"≤ {3 * interval + 2:g} s",
            passed=e2e_b <= 3 * interval + 2,
            value=e2e_b,
        ),
    ]
    detail = {
        "interval_s": interval,
        "flood": FLOOD,
        "sender_fifo_b_s": fifo_b,
        "sender_fifo_last_a_s": fifo_a,
        "sender_fair_b_s": fair_b,
        "sender_fair_last_a_s": fair_a,
        "e2e_b_s": e2e_b,
        "e2e_last_a_s": e2e_a,
    }
    return Section("fairness", rows, detail)
