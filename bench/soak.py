"""Soak and chaos (issue 20): the real bot process with the Web WeChat simulator and the TF
Serving stand-in, 30 groups (20 whitelisted), pictures, stickers and texts posted without
pause, and faults injected at random from a printed seed; then a reconciliation of what the
simulator recorded (posted, sent) against the audit log.

Faults: TF Serving failing (503), dropping connections, down and back; downloads that trickle;
duplicate MsgIds (the same message delivered again); mangled sync entries; the bot SIGKILLed and
restarted with its saved session (as systemd would); SIGTERM mid-burst (exit 0 expected) and a
restart. (The audit folder made unwritable needs a non-root user: skipped, said so, as root.)

Reconciliation: every picture posted in a whitelisted group while the bot was up has exactly
one row with a final outcome; nothing is answered in a group not whitelisted; per group, the
answers the simulator received equal the ``replied`` rows (more would be a picture answered
twice). RSS and open fds of the last bot process are sampled: start, peak, end.

    python -m bench --only soak [--quick]        SOAK_SECONDS=600 SOAK_SEED=7 to choose
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from bench.common import Row, Section
from bench.harness import BotRun, audit_now
from tests import gallery
from tests.botproc import rss_mib, write_bot_config
from tests.fakes.tfserving import FakeTFServing, ModelSpec, image_for_class
from tests.fakes.wechat_sim import WeChatSimulator

GROUPS = tuple(f"群{i:02d}" for i in range(30))
LISTED = GROUPS[:20]
MEMBERS = ("小明", "小红", "老王", "小李", "阿强")
FINAL = frozenset({"replied", "failed", "shed", "ignored", "interrupted", "unsure", "skipped"})
FAULTS = ("tfs_fail", "tfs_drop", "tfs_down", "trickle", "duplicate", "mangled", "kill", "term")
ANSWER = "让我猜猜"


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class Soak:
    def __init__(self, folder: Path, seed: int, seconds: float) -> None:
        self.rng = random.Random(seed)
        self.seconds = seconds
        self.folder = folder
        self.photos = [
            gallery.jpeg(image_for_class(1001, c, (640, 480))) for c in (1, 286, 500, 907)
        ]
        self.posted: dict[str, tuple[str, bool]] = {}  # picture MsgId -> (group, bot was up)
        self.faults: Counter[str] = Counter()
        self.violations: list[str] = []
        self.samples: list[tuple[float, float, int]] = []
        self.bot: BotRun | None = None
        self.up = False

    # -- the bot ------------------------------------------------------------------------
    def start_bot(self, config: Path) -> None:
        self.bot = BotRun(config)
        self.bot.wait_ready()
        self.samples = []
        self.up = True

    def sample(self) -> None:
        if self.bot is not None and self.bot.proc.poll() is None:
            pid = self.bot.proc.pid
            self.samples.append((time.monotonic(), rss_mib(pid), _fds(pid)))

    # -- load and faults ----------------------------------------------------------------
    def post(self, sim: WeChatSimulator) -> None:
        group = self.rng.choice(GROUPS)
        sender = self.rng.choice(MEMBERS)
        roll = self.rng.random()
        if roll < 0.7:
            mid = sim.post_picture(group, sender, self.rng.choice(self.photos))
            self.posted[mid] = (group, self.up)
        elif roll < 0.85:
            sim.post_picture(group, sender, self.photos[0], msg_type=47)
        else:
            sim.post_text(group, sender, "哈哈")

    def fault(self, sim: WeChatSimulator, tfs: FakeTFServing, config: Path) -> None:
        name = self.rng.choice(FAULTS)
        self.faults[name] += 1
        assert self.bot is not None
        if name == "tfs_fail":
            tfs.fail_next(503, '{"error": "overloaded"}', count=self.rng.randint(1, 6))
        elif name == "tfs_drop":
            tfs.drop_next(self.rng.randint(1, 3))
        elif name == "tfs_down":
            tfs.stop()
            time.sleep(self.rng.uniform(1, 4))
            tfs.start()
        elif name == "trickle":
            sim.trickle_images(chunk=512, interval_s=0.5)
            time.sleep(self.rng.uniform(1, 3))
            sim.normal_images()
        elif name == "duplicate" and self.posted:
            sim.redeliver(self.rng.choice(list(self.posted)))
        elif name == "mangled":
            sim.post_mangled(self.rng.choice(LISTED), "小明", self.photos[1], {"MsgType": "3x"})
        elif name in ("kill", "term"):
            self.up = False
            if name == "kill":
                self.bot.proc.send_signal(signal.SIGKILL)
                self.bot.proc.wait(30)
            else:
                code = self.bot.stop(signal.SIGTERM, timeout_s=30)
                if code != 0:
                    self.violations.append(f"SIGTERM mid-burst: exit {code}, not 0")
            for _ in range(self.rng.randint(1, 4)):  # posted while the bot is down
                self.post(sim)
            self.start_bot(config)

    # -- the run ------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        with (
            WeChatSimulator(auto_scan_after_s=0.05, synccheck_hold_s=0.5) as sim,
            FakeTFServing(ModelSpec()) as tfs,
        ):
            for group in GROUPS:
                sim.add_group(group, list(MEMBERS))
            config = write_bot_config(
                self.folder,
                wechat_url=sim.url,
                serving_url=tfs.url,
                groups="[" + ", ".join(f'"{g}"' for g in LISTED) + "]",
            )
            self.start_bot(config)
            end = time.monotonic() + self.seconds
            next_fault = time.monotonic() + self.rng.uniform(3, 8)
            last_sample = 0.0
            while time.monotonic() < end:
                self.post(sim)
                now = time.monotonic()
                if now >= next_fault:
                    self.fault(sim, tfs, config)
                    next_fault = time.monotonic() + self.rng.uniform(3, 8)
                if now - last_sample > 1:
                    self.sample()
                    last_sample = now
                time.sleep(self.rng.uniform(0.05, 0.25))
            return self.settle(sim, config)

    def settle(self, sim: WeChatSimulator, config: Path) -> dict[str, Any]:
        db = config.parent / "audit.sqlite3"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until every picture has its final row
            rows = {str(r["msg_id"]): r for r in audit_now(db)}
            waiting = [m for m, (g, up) in self.posted.items() if g in LISTED and up]
            if all(m in rows and rows[m]["outcome"] in FINAL for m in waiting):
                break
            self.sample()
            time.sleep(1)
        assert self.bot is not None
        code = self.bot.stop(signal.SIGTERM, timeout_s=30)
        if code != 0:
            self.violations.append(f"final SIGTERM: exit {code}, not 0")
        return self.reconcile(sim, {str(r["msg_id"]): r for r in audit_now(db)})

    def reconcile(self, sim: WeChatSimulator, rows: dict[str, Any]) -> dict[str, Any]:
        outcomes: Counter[str] = Counter()
        unseen = delivered = 0
        for mid, (group, up) in self.posted.items():
            row = rows.get(mid)
            if group not in LISTED:
                continue
            if row is None:
                if up:
                    self.violations.append(f"picture {mid} in {group}: no audit row")
                else:
                    unseen += 1  # posted while the bot was down: not delivered to it
                continue
            outcomes[str(row["outcome"])] += 1
            delivered += not up
            if row["outcome"] not in FINAL:
                self.violations.append(f"picture {mid} in {group}: outcome {row['outcome']}")
        answers = Counter(s.to_nickname for s in sim.sent if ANSWER in s.content)
        replied = Counter(str(r["chat"]) for r in rows.values() if r["outcome"] == "replied")
        for group in GROUPS:
            if group not in LISTED and answers[group]:
                self.violations.append(f"{answers[group]} answers in {group}, not whitelisted")
            elif answers[group] != replied[group]:
                self.violations.append(
                    f"{group}: {answers[group]} answers sent, {replied[group]} rows replied"
                )
        return {"outcomes": dict(outcomes), "unseen_while_down": unseen, "down_seen": delivered}


def _flat(samples: list[tuple[float, float, int]]) -> tuple[str, str, bool]:
    if len(samples) < 3:
        return "too few samples", "too few samples", True
    warm = samples[len(samples) // 5 :]
    rss = [s[1] for s in warm]
    fds = [s[2] for s in warm]
    flat = rss[-1] <= rss[0] * 1.5 + 20 and fds[-1] <= fds[0] + 10
    return (
        f"{rss[0]:.0f} / {max(rss):.0f} / {rss[-1]:.0f} MiB",
        f"{fds[0]} / {max(fds)} / {fds[-1]}",
        flat,
    )


def run(*, quick: bool) -> Section:
    seconds = float(os.environ.get("SOAK_SECONDS", 120 if quick else 600))
    seed = int(os.environ.get("SOAK_SEED", random.randrange(10_000)))
    print(f"soak: seed {seed}, {seconds:.0f} s (repeat with SOAK_SEED={seed})", flush=True)
    with TemporaryDirectory(prefix="soak-") as tmp:
        soak = Soak(Path(tmp), seed, seconds)
        result = soak.run()
    rss, fds, flat = _flat(soak.samples)
    sec = "soak wechat"
    posted = sum(1 for g, _ in soak.posted.values() if g in LISTED)
    rows = [
        Row(sec, "seed, seconds", f"{seed}, {seconds:.0f} s"),
        Row(sec, "pictures posted in whitelisted groups", str(posted), value=float(posted)),
        Row(sec, "outcomes", ", ".join(f"{k} {v}" for k, v in sorted(result["outcomes"].items()))),
        Row(
            sec,
            "posted while the bot was down: answered after the restart / never delivered",
            f"{result['down_seen']} / {result['unseen_while_down']}",
        ),
        Row(sec, "faults", ", ".join(f"{k} {v}" for k, v in sorted(soak.faults.items()))),
        Row(
            sec,
            "violations",
            "; ".join(soak.violations[:10]) or "none",
            "none",
            not soak.violations,
            float(len(soak.violations)),
        ),
        Row(sec, "RSS start / peak / end (last process)", rss, "flat", flat),
        Row(sec, "open fds start / peak / end (last process)", fds, "flat", flat),
    ]
    detail = {"seed": seed, "seconds": seconds, **result, "violations": soak.violations}
    return Section("soak", rows, detail)
