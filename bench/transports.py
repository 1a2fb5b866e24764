"""Transports: arrival-to-reply time of one picture through WeChat and through WeCom.

The real bot process runs once per transport against that transport's stand-in — the Web
WeChat simulator (the real itchat-uos) and the WeCom long-connection stand-in (the real
wecom-aibot-python-sdk over wss on 127.0.0.1) — with the same TF Serving stand-in. Pictures go
one at a time (the next only after the previous reply), so nothing queues; pacing is off
(``min_send_interval_s = 0``, no jitter, no owner/file-helper lines) so the figure is the
transport's, not the sender's.

"Arrival to reply" is measured in the stand-in, on one clock: from just before the stand-in
delivers the picture to when it receives the bot's answer. "Classification" is what the bot
audits as ``latency_ms`` for the picture: bytes in hand to verdict, i.e. preparing the photo
plus the TF Serving call. The rest (receive, download, decrypt, screening, queueing, sending)
is "outside TF Serving".
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import Row, Section, percentile
from bench.harness import GROUPS, MEMBERS, READY, audit_now, simulator, write_config
from tests.botproc import BotProcess, class_photo
from tests.fakes.wecom import WeComStandIn

BOT_ID, SECRET, SECRET_ENV = "aibBenchBot01", "bench-secret", "WECHAT_VISION_BOT_WECOM_SECRET"
WARMUP = 2
CLASSES = (286, 5, 7, 100, 200, 300, 400, 500, 600, 700)
Post = Callable[[bytes], tuple[str, float]]  # picture -> (audit msg_id, seconds to the reply)


def _wait_ready(bot: BotProcess, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while READY not in bot.stdout:
        if bot.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the bot did not get ready:\n{bot.stderr[-4000:]}")
        time.sleep(0.01)


def _measure(bot: BotProcess, db: Path, post: Post, runs: int) -> dict[str, list[float]]:
    """Post ``WARMUP + runs`` pictures one at a time; arrival-to-reply and audited latency."""
    _wait_ready(bot)
    taken: list[tuple[str, float]] = []
    for i in range(WARMUP + runs):
        taken.append(post(class_photo(CLASSES[i % len(CLASSES)])))
    taken = taken[WARMUP:]
    deadline = time.monotonic() + 30
    wanted = {msg_id for msg_id, _ in taken}
    while True:  # the row's latency is written before the reply is sent; wait for all rows
        rows = {str(r["msg_id"]): r for r in audit_now(db) if str(r["msg_id"]) in wanted}
        if len(rows) == len(wanted) and all(r["latency_ms"] is not None for r in rows.values()):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"audit rows missing: {sorted(wanted - set(rows))}")
        time.sleep(0.05)
    return {
        "reply_s": [s for _, s in taken],
        "classify_s": [float(str(rows[m]["latency_ms"])) / 1000 for m, _ in taken],
    }


def _wechat(folder: Path, serving_url: str, runs: int) -> dict[str, list[float]]:
    with simulator() as sim:
        cfg = write_config(
            folder,
            wechat_url=sim.url,
            serving_url=serving_url,
            min_send_interval_s=0,
            send_jitter_s=0,
            filehelper_audit=False,
        )
        bot = BotProcess(cfg)
        sent = 0

        def post(photo: bytes) -> tuple[str, float]:
            nonlocal sent
            start = time.monotonic()
            msg_id = sim.post_picture(GROUPS[0], MEMBERS[0], photo)
            sent += 1
            reply = sim.wait_for_sent(lambda m: m.to_nickname == GROUPS[0], count=sent)[-1]
            return msg_id, reply.time - start

        try:
            return _measure(bot, folder / "audit.sqlite3", post, runs)
        finally:
            bot.stop()


def _wecom(folder: Path, serving_url: str, runs: int) -> dict[str, list[float]]:
    with WeComStandIn(bot_id=BOT_ID, secret=SECRET) as wecom:
        cfg = write_config(
            folder, wechat_url="http://127.0.0.1:9", serving_url=serving_url,
            min_send_interval_s=0, send_jitter_s=0, chat='transport = "wecom"',
        )  # fmt: skip
        cfg.write_text(
            cfg.read_text(encoding="utf-8") + f'[wecom]\nbot_id = "{BOT_ID}"\n'
            f'ws_url = "{wecom.ws_url}"\nca_file = "{wecom.ca_file}"\nchats = ["*"]\n',
            encoding="utf-8",
        )
        bot = BotProcess(cfg, env={SECRET_ENV: SECRET})
        group = wecom.new_chatid()

        def post(photo: bytes) -> tuple[str, float]:
            start = time.monotonic()
            posted = wecom.post_mixed(group, MEMBERS[0], None, [photo])
            reply = wecom.wait_reply(posted.req_id, timeout_s=30)
            return posted.msgid, reply.at - start

        try:
            return _measure(bot, folder / "audit.sqlite3", post, runs)
        finally:
            bot.stop()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def run(*, quick: bool, serving_url: str) -> Section:
    runs = 8 if quick else 30
    figures: dict[str, dict[str, float]] = {}
    rows: list[Row] = []
    for name, measure in (("WeChat", _wechat), ("WeCom", _wecom)):
        with tempfile.TemporaryDirectory(prefix=f"bench-{name.lower()}-") as folder:
            got = measure(Path(folder), serving_url, runs)
        reply, classify = got["reply_s"], got["classify_s"]
        outside = [1 - c / r for r, c in zip(reply, classify, strict=True)]
        fig = {
            "p50_s": statistics.median(reply),
            "p95_s": percentile(reply, 95),
            "classify_p50_s": statistics.median(classify),
            "outside_share": statistics.median(outside),
            "runs": float(len(reply)),
        }
        figures[name] = fig
        rows += [
            Row("transports", f"{name}: arrival to reply, p50 / p95",
                f"{_ms(fig['p50_s'])} / {_ms(fig['p95_s'])}", value=fig["p50_s"]),
            Row("transports", f"{name}: share outside TF Serving (median)",
                f"{fig['outside_share']:.0%} (classification {_ms(fig['classify_p50_s'])})",
                value=fig["outside_share"]),
        ]  # fmt: skip
    ratio = figures["WeCom"]["p50_s"] / figures["WeChat"]["p50_s"]
    rows.append(
        Row("transports", "WeCom ÷ WeChat, arrival to reply p50", f"{ratio:.2f}×", value=ratio)
    )
    notes = (
        f"{runs} pictures per transport (after {WARMUP} warm-up), one at a time, 1440×1080 JPEG, "
        "the same TF Serving stand-in. Arrival to reply is timed in the stand-in; "
        "classification is the bot's audited `latency_ms` (prepare + TF Serving call); the "
        "rest is receive, download (WeCom: AES decrypt), screening and the reply's send."
    )
    return Section("transports", rows, {"runs": runs, **figures}, notes)
