"""Burst: 40 pictures posted at once in 4 groups, the real bot against the seed's way.

Both clients are child processes running the real itchat-uos against the Web WeChat simulator;
TF Serving is the test server with every prediction taking ``delay_s`` = 100 ms and at most 4
served at a time. The bot runs with ``workers = 4``, the pacing given, and its default
``queue_size`` and image settings (the rest of its config is the test suite's).

"Classified" is measured two ways. (1) When TF Serving computed the 40th answer, noted inside
the server: the same clock and place for both clients, so the speed-up uses it. (2) For the bot,
when its audit log first shows all 40 classified (a row gets its label as soon as the picture is
classified, or ends ``failed``/``shed``), polled every 10 ms: what the bot itself knew, a few ms
after (1). The seed keeps no log. "Replies sent" is when the simulator received the 40th group
reply; "audited" is when the audit log has a final outcome for all 40 (a row stays ``pending``
until its reply is out, so it follows the paced sender).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import photos
from bench.common import REPO, Row, Section
from bench.harness import GROUPS, MEMBERS, BotRun, TimedServing, audit_now, simulator, write_config
from bot.core.settings import ChatConfig
from tests.fakes.wechat_sim import WeChatSimulator

PICTURES = 40
WORKERS = 4
QUEUE_SIZE = ChatConfig().queue_size  # the bot's default, for the table
FINAL = frozenset({"replied", "low_confidence", "failed", "shed", "ignored"})


@dataclass
class Timeline:
    first_classified_s: float | None = None
    classified_s: float | None = None
    audit_classified_s: float | None = None
    replies_s: float | None = None
    all_sent_s: float | None = None
    audited_s: float | None = None
    outcomes: dict[str, int] | None = None


def _classified(row: dict[str, object]) -> bool:
    return row["label"] is not None or row["outcome"] in ("failed", "shed")


def _post_all(sim: WeChatSimulator, pictures: list[bytes]) -> float:
    start = time.monotonic()
    for i, data in enumerate(pictures):
        group = GROUPS[i % len(GROUPS)]
        sim.post_picture(group, MEMBERS[(i // len(GROUPS)) % len(MEMBERS)], data)
    return start


def _watch(
    sim: WeChatSimulator,
    tfs: TimedServing,
    start: float,
    *,
    sends_expected: int,
    audit_db: Path | None,
    timeout_s: float,
) -> Timeline:
    tl = Timeline()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if tl.first_classified_s is None and tfs.done:
            tl.first_classified_s = min(tfs.done) - start
        if tl.classified_s is None and len(tfs.done) >= PICTURES:
            tl.classified_s = sorted(tfs.done)[PICTURES - 1] - start
        sent = [m for m in list(sim.sent) if m.ok]
        replies = sorted(m.time for m in sent if m.to_nickname in GROUPS)
        if tl.replies_s is None and len(replies) >= PICTURES:
            tl.replies_s = replies[PICTURES - 1] - start
        if tl.all_sent_s is None and len(sent) >= sends_expected:
            tl.all_sent_s = sorted(m.time for m in sent)[sends_expected - 1] - start
        if audit_db is not None and tl.audited_s is None:
            rows = audit_now(audit_db)
            now = time.monotonic() - start
            if tl.audit_classified_s is None and sum(map(_classified, rows)) >= PICTURES:
                tl.audit_classified_s = now
            outcomes = [str(r["outcome"]) for r in rows]
            if len(outcomes) >= PICTURES and all(o in FINAL for o in outcomes):
                tl.audited_s = now
                tl.outcomes = {o: outcomes.count(o) for o in sorted(set(outcomes))}
        done = tl.classified_s is not None and tl.all_sent_s is not None
        if done and (audit_db is None or tl.audited_s is not None):
            return tl
        time.sleep(0.01)
    if audit_db is not None and tl.outcomes is None:
        outcomes = [str(r["outcome"]) for r in audit_now(audit_db)]
        tl.outcomes = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    return tl


def run_bot(
    pictures: list[bytes],
    *,
    interval_s: float,
    jitter_s: float,
    folder: Path,
) -> Timeline:
    """The real bot: 4 workers, the given pacing, everything else at the bot's defaults."""
    tfs = TimedServing(delay_s=0.1, max_concurrent=4)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with simulator() as sim:
            cfg = write_config(
                folder,
                wechat_url=sim.url,
                serving_url=tfs.url,
                workers=WORKERS,
                min_send_interval_s=interval_s,
                send_jitter_s=jitter_s,
            )
            bot = BotRun(cfg)
            try:
                bot.wait_ready()
                time.sleep(0.5)
                tfs.reset()
                start = _post_all(sim, pictures)
                budget = 30.0 + 2 * PICTURES * (interval_s + jitter_s + 0.1)
                return _watch(
                    sim,
                    tfs,
                    start,
                    sends_expected=2 * PICTURES,
                    audit_db=folder / "audit.sqlite3",
                    timeout_s=budget,
                )
            finally:
                bot.stop()
    finally:
        tfs.close()


def run_seed(pictures: list[bytes], *, folder: Path) -> Timeline:
    tfs = TimedServing(delay_s=0.1, max_concurrent=4)
    try:
        with simulator() as sim:
            cmd = [sys.executable, "-m", "bench.seedbot", sim.url, tfs.url, str(folder / "seed")]
            log = (folder / "seed.out").open("wb")
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 60
                while b"Logged in" not in (folder / "seed.out").read_bytes():
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError((folder / "seed.out").read_text(errors="replace"))
                    time.sleep(0.01)
                time.sleep(0.5)
                tfs.reset()
                start = _post_all(sim, pictures)
                return _watch(
                    sim, tfs, start, sends_expected=2 * PICTURES, audit_db=None, timeout_s=120
                )
            finally:
                proc.terminate()
                proc.wait(10)
                log.close()
    finally:
        tfs.close()


def run(*, quick: bool) -> Section:
    distinct = 8 if quick else PICTURES
    base = [photos.photo_jpeg(photos.SMALL, seed) for seed in range(distinct)]
    pictures = [base[i % distinct] for i in range(PICTURES)]
    interval_s, jitter_s = (0.1, 0.0) if quick else (1.0, 0.5)
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
        seed = run_seed(pictures, folder=Path(tmp))
        bot = run_bot(pictures, interval_s=interval_s, jitter_s=jitter_s, folder=Path(tmp) / "bot")
    speedup = (
        seed.classified_s / bot.classified_s if seed.classified_s and bot.classified_s else 0.0
    )
    outcomes = bot.outcomes or {}
    accounted = sum(n for o, n in outcomes.items() if o in FINAL)
    pacing = f"pacing {interval_s:g} s + ≤{jitter_s:g} s jitter"
    if quick:
        pacing += " (lowered for --quick; default 1 s + 0.5 s)"

    def fmt(v: float | None) -> str:
        return f"{v:.2f} s" if v is not None else "did not finish"

    sec = "burst 40 pictures, 4 groups"
    rows = [
        Row(
            sec,
            f"bot (workers {WORKERS}, default queue_size {QUEUE_SIZE}): all classified, "
            "TF Serving's clock",
            fmt(bot.classified_s),
            value=bot.classified_s,
        ),
        Row(
            sec,
            "bot: all classified, from its audit log (label written; 10 ms polling)",
            fmt(bot.audit_classified_s),
            value=bot.audit_classified_s,
        ),
        Row(
            sec,
            "seed style (one at a time, new connection): all classified, TF Serving's clock",
            fmt(seed.classified_s),
            value=seed.classified_s,
        ),
        Row(
            sec,
            "bot speed-up in classification (TF Serving's clock, the same for both)",
            f"{speedup:.1f}×",
            "≥ 3×",
            speedup >= 3.0,
            speedup,
        ),
        Row(
            sec,
            f"bot: all 40 replies sent ({pacing})",
            fmt(bot.replies_s),
            value=bot.replies_s,
        ),
        Row(
            sec,
            "bot: all 80 messages sent (40 replies + 40 file-helper lines)",
            fmt(bot.all_sent_s),
            value=bot.all_sent_s,
        ),
        Row(
            sec,
            "seed style: all 40 replies sent (unpaced)",
            fmt(seed.replies_s),
            value=seed.replies_s,
        ),
        Row(
            sec,
            "bot: pictures with a final outcome in the audit log",
            f"{accounted}/{PICTURES} ({', '.join(f'{k} {v}' for k, v in outcomes.items())}) "
            f"after {fmt(bot.audited_s)}",
            f"{PICTURES}/{PICTURES}",
            accounted == PICTURES,
            float(accounted),
        ),
    ]
    detail: dict[str, Any] = {
        "pictures": PICTURES,
        "distinct_pictures": distinct,
        "picture_bytes": sorted({len(p) for p in base}),
        "serving_delay_s": 0.1,
        "serving_max_concurrent": 4,
        "bot_workers": WORKERS,
        "bot_queue_size": QUEUE_SIZE,
        "pacing_interval_s": interval_s,
        "pacing_jitter_s": jitter_s,
        "bot": bot.__dict__,
        "seed_style": seed.__dict__,
        "speedup": speedup,
    }
    return Section("burst", rows, detail)
