"""The soak run over Web WeChat: the real bot, the WeChat simulator and the TF Serving stand-in.

Messages posted while the bot is stopped or starting wait in the simulator, as they wait on
WeChat's servers for an offline client: the next login's sync delivers them (a hot reload with
the saved session replays everything since the saved SyncKey). So every picture posted in a
whitelisted group must end with a row, whenever it was posted.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from bench.soak_base import INTERRUPTED_SEND, TFS_FAULTS, SoakBase
from tests.botproc import write_bot_config
from tests.fakes.tfserving import FakeTFServing, ModelSpec
from tests.fakes.wechat_sim import WeChatSimulator

GROUPS = tuple(f"群{i:02d}" for i in range(30))
LISTED = frozenset(GROUPS[:20])
MEMBERS = ("小明", "小红", "老王", "小李", "阿强")
ANSWER = "让我猜猜"
FAULTS = (
    *TFS_FAULTS, "trickle", "hang", "dl_fail", "duplicate", "mangled", "audit_locked", "audit_full",
    "kill", "term",
)  # fmt: skip


@dataclass(frozen=True)
class Posted:
    group: str
    sender: str
    state: str  # the bot's state when it was posted: up, starting, stopping, down


class WeChatSoak(SoakBase):
    transport = "wechat"
    FAULTS = FAULTS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pics: dict[str, Posted] = {}
        self.sim: WeChatSimulator | None = None

    # -- traffic ---------------------------------------------------------------------------
    def post(self) -> None:
        sim = self.sim
        assert sim is not None
        if self.rng.random() < 0.01:  # a burst: one sync batch of pictures
            self.info["bursts"] += 1
            with sim.batch():
                for _ in range(self.rng.randint(10, 30)):
                    self.one(sim, picture=True)
        else:
            self.one(sim)

    def one(self, sim: WeChatSimulator, *, picture: bool = False) -> None:
        group, sender = self.rng.choice(GROUPS), self.rng.choice(MEMBERS)
        roll = 0.0 if picture else self.rng.random()
        if roll < 0.7:
            mid = sim.post_picture(group, sender, self.rng.choice(self.photos))
            self.pics[mid] = Posted(group, sender, self.state)
        elif roll < 0.85:
            sim.post_picture(group, sender, self.photos[0], msg_type=47)
        else:
            sim.post_text(group, sender, "哈哈")

    def transport_fault(self, name: str) -> None:
        sim = self.sim
        assert sim is not None
        if name in ("trickle", "hang"):  # every download meanwhile: slow, or next to nothing
            chunk, interval = (512, 0.5) if name == "trickle" else (1, 30.0)
            sim.trickle_images(chunk=chunk, interval_s=interval)
            self.later(self.chaos.uniform(1, 4), name, sim.normal_images)
        elif name == "dl_fail":
            sim.image_status = 404

            def ok() -> None:
                sim.image_status = 200

            self.later(self.chaos.uniform(0.5, 2), name, ok)
        elif name == "duplicate" and self.pics:
            for mid in self.rng.sample(list(self.pics), min(3, len(self.pics))):
                sim.redeliver(mid)
        elif name == "mangled":
            group = self.chaos.choice(GROUPS)
            mangle = self.chaos.choice(({"MsgType": "3x"}, {"Content": None}, {"CreateTime": "x"}))
            mid = sim.post_mangled(group, MEMBERS[0], self.photos[1], mangle)
            self.info["mangled entries"] += 1
            self.pics.pop(mid, None)  # not a picture the bot can be asked to answer
        elif name == "kill":
            self.kill()
        elif name == "term":  # mid-burst: SIGTERM once the bot has fetched a batch of pictures
            syncs = sim.count_requests("webwxsync")
            with sim.batch():
                for _ in range(self.chaos.randint(5, 15)):
                    self.one(sim, picture=True)
            deadline = time.monotonic() + 2
            while sim.count_requests("webwxsync") == syncs and time.monotonic() < deadline:
                time.sleep(0.005)
            self.term()

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        with (
            WeChatSimulator(auto_scan_after_s=0.05, synccheck_hold_s=0.5) as sim,
            FakeTFServing(ModelSpec()) as tfs,
        ):
            self.sim, self.tfs = sim, tfs
            for group in GROUPS:
                sim.add_group(group, list(MEMBERS))
            self.config = write_bot_config(
                self.folder,
                wechat_url=sim.url,
                serving_url=tfs.url,
                groups="[" + ", ".join(f'"{g}"' for g in GROUPS if g in LISTED) + "]",
                wechat="download_timeout_s = 8\nqueue_size = 30\nshutdown_timeout_s = 5",
            )
            self.db = self.folder / "audit.sqlite3"
            self.loop()
            self.settle(self.settled)
            return self.reconcile(sim)

    def send_owner(self, text: str) -> None:
        sim = self.sim
        assert sim is not None
        sim.post_text(None, sim.me, text, to_filehelper=True)

    def settled(self, rows: dict[str, dict[str, object]]) -> bool:
        return all(
            m in rows and rows[m]["outcome"] != "pending"
            for m, p in self.pics.items()
            if p.group in LISTED
        )

    def reconcile(self, sim: WeChatSimulator) -> dict[str, Any]:
        rows = self.rows()
        outcomes: Counter[str] = Counter()
        by_state: Counter[str] = Counter()
        for mid, p in self.pics.items():
            row = rows.get(mid)
            if p.group not in LISTED:
                if row is not None and row["outcome"] == "replied":
                    self.violations.append(f"picture {mid} in {p.group} (not whitelisted) replied")
                continue
            self.check_row(mid, p.group, row)
            if row is not None:
                outcomes[str(row["outcome"])] += 1
                by_state[p.state] += 1
                if p.state != "up":
                    self.info[f"posted while the bot was {p.state}, row after the restart"] += 1
        # Answers the simulator received, per (group, sender, label), against the rows.
        answers: Counter[tuple[str, str, str]] = Counter()
        for s in sim.sent:
            if s.ok and ANSWER in s.content:
                sender = s.content[1:].split("\u2005", 1)[0]
                answers[(s.to_nickname, sender, s.content.rsplit(": ", 1)[-1])] += 1
        replied: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        interrupted: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for mid, row in rows.items():
            key = (str(row["chat"]), str(row["sender"]), str(row["label"]))
            if row["outcome"] == "replied":
                replied[key].append(mid)
            elif row["reason"] == INTERRUPTED_SEND and row["label"] is not None:
                interrupted[key].append(mid)
        for key in sorted(set(answers) | set(replied)):
            group, n, r, i = key[0], answers[key], replied[key], interrupted[key]
            if group not in LISTED:
                self.violations.append(f"{n} answers in {group}, not whitelisted")
            elif n < len(r):
                self.violations.append(f"{key}: {len(r)} rows replied {r}, {n} answers in the chat")
            elif n > len(r) + len(i):
                self.violations.append(
                    f"{key}: {n} answers for {len(r)} rows replied {r}: answered twice"
                )
            else:  # SIGKILL between the send and the row that says so: the row says why
                self.info["answered, row interrupted by SIGKILL before it said so"] += n - len(r)
        return {"outcomes": dict(outcomes), "posted while": dict(by_state)}

    def posted(self) -> int:
        return sum(1 for p in self.pics.values() if p.group in LISTED)
