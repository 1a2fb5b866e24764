"""Soak and chaos (issue 20): the real bot process, for minutes, against a chat stand-in and the
TF Serving stand-in, with pictures, stickers and texts posted without pause in 30 groups (20
whitelisted) and faults injected at random from a printed seed; then a reconciliation of what
the stand-ins recorded (posted, sent) against the audit log. Once over Web WeChat
(``bench/soak_wechat.py``), once over WeCom (``bench/soak_wecom.py``).

Faults, both transports: TF Serving failing (503), dropping connections, down and back, slow;
the audit database held by another writer, or its disk full (every write of the bot fails
for a few seconds);
the bot SIGKILLed and restarted (as systemd would, WeChat with its saved session); SIGTERM
right after a burst (exit 0 expected) and a restart. WeChat also: downloads that trickle, hang
or fail; duplicate MsgIds; malformed sync entries. WeCom also: the connection dropped right
after a burst (mid-reply), a login refused (45009) before the reconnect, media that expired
(403) or do not decrypt, duplicate callbacks.

Reconciliation: every picture posted in a whitelisted group has exactly one row, with a final
outcome and (unless replied) a reason; nothing is answered in a group not whitelisted; the
answers each chat received match the ``replied`` rows (WeChat per group, sender and label,
WeCom per callback): none missing, none twice, across restarts too. Retention: the run starts
with 300 rows 400 days old (the purge at start must take them) and 100 rows 30 days old of one
person (kept), whom the owner forgets at the end by command (all 100 gone, the bot says
so). RSS and open fds are
sampled every second; the longest-lived process (restarts stop after 60 % of the run) is
judged flat when its end is at most its start × 1.5 + 10 MiB and 5 fds.

    python -m bench --only soak [--quick]
    SOAK_SECONDS=600 (per transport; --quick: 75)  SOAK_SEED=7  SOAK_TRANSPORTS=wechat,wecom
    SOAK_KEEP=folder (keep each transport's audit log and every bot process's output there)
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import Row, Section
from bench.soak_base import SoakBase
from bench.soak_wechat import WeChatSoak
from bench.soak_wecom import WeComSoak

KINDS: dict[str, type[SoakBase]] = {"wechat": WeChatSoak, "wecom": WeComSoak}


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()) if v) or "none"


def _one(name: str, seed: int, seconds: float) -> tuple[list[Row], dict[str, object]]:
    print(f"soak {name}: seed {seed}, {seconds:.0f} s (repeat with SOAK_SEED={seed})", flush=True)
    keep = os.environ.get("SOAK_KEEP")
    with TemporaryDirectory(prefix=f"soak-{name}-") as tmp:
        folder = Path(keep) / name if keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        soak = KINDS[name](folder, seed, seconds)
        try:
            result = soak.run()
        finally:
            if keep:  # each bot process's output beside the audit log, to read a violation
                for n, life in enumerate(soak.lives, 1):
                    text = f"--- stdout\n{life.bot.stdout}\n--- stderr\n{life.bot.stderr}"
                    (folder / f"bot-{n}.log").write_text(text, encoding="utf-8")
                print(f"soak {name}: audit log and bot logs kept in {folder}", flush=True)
    rss, fds, flat = soak.memory()
    sec = f"soak {name}"
    posted = soak.posted()
    violations = soak.violations
    shown = "; ".join(violations[:10]) or "none"
    if len(violations) > 10:
        shown += f"; … {len(violations)} in all"
    rows = [
        Row(sec, "seed, seconds", f"{seed}, {seconds:.0f} s"),
        Row(sec, "pictures posted in whitelisted groups", str(posted), value=float(posted)),
        Row(sec, "outcomes", _counts(result["outcomes"])),
        Row(sec, "faults", _counts(soak.faults)),
        Row(sec, "bot processes", str(len(soak.lives)), value=float(len(soak.lives))),
        Row(sec, "also seen", _counts(soak.info)),
        Row(
            sec,
            "violations",
            shown,
            "none",
            not violations,
            float(len(violations)),
        ),
        Row(sec, "RSS start / peak / end (longest-lived process)", rss, "flat", flat),
        Row(sec, "open fds start / peak / end (longest-lived process)", fds, "flat", flat),
    ]
    for line in violations:
        print(f"soak {name}: VIOLATION {line}", flush=True)
    detail = {
        "seed": seed,
        "seconds": seconds,
        "faults": dict(soak.faults),
        "info": dict(soak.info),
        **result,
        "violations": violations,
    }
    return rows, detail


def run(*, quick: bool) -> Section:
    seconds = float(os.environ.get("SOAK_SECONDS", 75 if quick else 600))
    seed = int(os.environ.get("SOAK_SEED", random.randrange(100_000)))
    names = [n.strip() for n in os.environ.get("SOAK_TRANSPORTS", "wechat,wecom").split(",")]
    rows: list[Row] = []
    detail: dict[str, object] = {}
    for name in names:
        if name not in KINDS:
            raise SystemExit(f"SOAK_TRANSPORTS: {name!r} is not one of {', '.join(KINDS)}")
        more, detail[name] = _one(name, seed, seconds)
        rows += more
    return Section("soak", rows, detail)
