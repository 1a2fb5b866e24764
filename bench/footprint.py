"""Footprint: the resident memory of ``run`` as pictures go through it, and its start-up time.

Memory: one bot process (default workers, queue and image settings) answers 1,000 pictures
(1080×1440 JPEGs) posted in batches of 25 across 4 groups; TF Serving answers at once. Pacing is off
(``min_send_interval_s = 0``, ``send_jitter_s = 0``) and so are the file-helper lines
(``filehelper_audit = false``), or 1,000 pictures would take half an hour of paced sends. RSS is
read from /proc (``tests/botproc.rss_mib``) once all replies of a batch are in.

Start-up: from spawning ``python -m bot run`` with an empty state folder until its stdout shows
"Scan this QR code" (the config is read, the label sheet loaded, TF Serving checked, itchat
imported and the QR fetched from the simulator).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import photos
from bench.common import Row, Section
from bench.harness import GROUPS, MEMBERS, BotRun, TimedServing, simulator, write_config
from tests.fakes.wechat_sim import WeChatSimulator

BATCH = 25
CHECKPOINTS = (100, 1000)


def startup_times(runs: int, folder: Path) -> dict[str, list[float]]:
    qr: list[float] = []
    ready: list[float] = []
    tfs = TimedServing()
    try:
        with simulator() as sim:
            for i in range(runs):
                run_dir = folder / f"start-{i}"
                run_dir.mkdir()
                cfg = write_config(run_dir, wechat_url=sim.url, serving_url=tfs.url)
                bot = BotRun(cfg)
                try:
                    qr.append(bot.wait_for("Scan this QR code"))
                    ready.append(bot.wait_ready())
                finally:
                    bot.stop()
    finally:
        tfs.close()
    return {"qr_s": qr, "ready_s": ready}


def _replies(sim: WeChatSimulator) -> int:
    return sum(1 for m in list(sim.sent) if m.ok and m.to_nickname in GROUPS)


def memory_curve(total: int, folder: Path, pictures: list[bytes]) -> dict[str, Any]:
    tfs = TimedServing()
    curve: dict[int, float] = {}
    try:
        with simulator() as sim:
            cfg = write_config(
                folder,
                wechat_url=sim.url,
                serving_url=tfs.url,
                min_send_interval_s=0.0,
                send_jitter_s=0.0,
                filehelper_audit=False,
            )
            bot = BotRun(cfg)
            try:
                bot.wait_ready()
                time.sleep(0.5)
                curve[0] = bot.rss_mib()
                start = time.monotonic()
                posted = 0
                while posted < total:
                    for _ in range(min(BATCH, total - posted)):
                        group = GROUPS[posted % len(GROUPS)]
                        sender = MEMBERS[posted % len(MEMBERS)]
                        sim.post_picture(group, sender, pictures[posted % len(pictures)])
                        posted += 1
                    deadline = time.monotonic() + 60
                    while _replies(sim) < posted:
                        if time.monotonic() > deadline or bot.proc.poll() is not None:
                            raise RuntimeError(
                                f"{_replies(sim)} of {posted} replies; bot stderr:\n"
                                f"{bot.stderr[-3000:]}"
                            )
                        time.sleep(0.005)
                    if posted % 100 == 0:
                        curve[posted] = bot.rss_mib()
                elapsed = time.monotonic() - start
            finally:
                bot.stop()
    finally:
        tfs.close()
    return {"rss_mib": curve, "pictures": total, "elapsed_s": elapsed}


def run(*, quick: bool) -> Section:
    pictures = [photos.photo_jpeg(photos.SMALL, seed) for seed in range(4 if quick else 8)]
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp:
        folder = Path(tmp)
        starts = startup_times(2 if quick else 5, folder)
        mem_dir = folder / "memory"
        mem_dir.mkdir()
        mem = memory_curve(CHECKPOINTS[-1], mem_dir, pictures)
    rss = mem["rss_mib"]
    r100, r1000 = rss[CHECKPOINTS[0]], rss[CHECKPOINTS[1]]
    growth = (r1000 - r100) / r100
    qr = statistics.median(starts["qr_s"])
    ready = statistics.median(starts["ready_s"])
    rate = mem["pictures"] / mem["elapsed_s"]
    sec = "footprint"
    rows = [
        Row(
            sec,
            "RSS of `run`: logged in / after 100 / after 1,000 pictures",
            f"{rss[0]:.1f} / {r100:.1f} / {r1000:.1f} MiB",
            value=r1000,
        ),
        Row(
            sec,
            "RSS growth from 100 to 1,000 pictures (pacing and file helper off)",
            f"{growth:+.1%}",
            "< 20%",
            growth < 0.20,
            growth,
        ),
        Row(
            sec,
            "start-up until the QR code is shown (median)",
            f"{qr:.2f} s (runs: {', '.join(f'{t:.2f}' for t in starts['qr_s'])})",
            value=qr,
        ),
        Row(sec, "start-up until logged in and ready (median)", f"{ready:.2f} s", value=ready),
        Row(sec, "throughput while measuring (unpaced)", f"{rate:.0f} pictures/s", value=rate),
    ]
    detail = {
        "startup": starts,
        "memory": mem,
        "picture_bytes": [len(p) for p in pictures],
        "batch": BATCH,
    }
    return Section("footprint", rows, detail)
