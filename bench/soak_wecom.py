"""The soak run over WeCom: the real bot and SDK, the WeCom long-connection stand-in and the TF
Serving stand-in.

WeCom pushes a message to the connection that is up and keeps no queue for a bot that is
away, so nothing is posted while no connection is subscribed (counted, not a fault). A push
that was under way when the connection ended (dropped, the bot killed) may be lost in the
socket: a picture posted up to ``AT_RISK_S`` before that and never seen is counted as such;
any other picture without a row is a violation. After a SIGTERM the bot takes no more messages
but audits those that still arrive (as ignored), until its audit log closes; the socket closes
an instant later, so a picture pushed up to ``AT_EXIT_S`` before the process was seen to end
may have met neither. Replies are matched to pictures exactly: each
answer is a stream reply on the picture's callback (``req_id``).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.soak_base import INTERRUPTED_SEND, TFS_FAULTS, SoakBase
from tests.botproc import write_bot_config
from tests.fakes.tfserving import FakeTFServing, ModelSpec
from tests.fakes.wecom import Fault, Posted, WeComStandIn
from tests.fakes.wecom.frames import ERR_FREQ_LIMIT, ERRMSG_FREQ_LIMIT

BOT_ID, SECRET, SECRET_ENV = "aibSoakBot0001", "soak-secret", "WECHAT_VISION_BOT_WECOM_SECRET"
MEMBERS = ("xiaoming", "xiaohong", "laowang", "xiaoli", "aqiang")
OWNER = "boss"
ANSWER = "让我猜猜"
AT_RISK_S = 2.0
AT_EXIT_S = 0.6  # after SIGTERM: between the audit log's close and the socket's (+ a tick)
NOT_SENT = "the reply could not be sent"
FAULTS = (*TFS_FAULTS, "drop", "refused", "duplicate", "audit_locked", "audit_full", "kill", "term")


@dataclass
class Pic:
    chat: str
    listed: bool
    posted: float
    state: str
    pushes: list[Posted] = field(default_factory=list)  # the first push, then redeliveries


class WeComSoak(SoakBase):
    transport = "wecom"
    FAULTS = FAULTS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pics: dict[str, Pic] = {}
        self.chats: list[str] = []
        self.listed: set[str] = set()
        self.cut: list[float] = []  # when a connection ended under the bot's feet
        self.env = {SECRET_ENV: SECRET}
        self.wecom: WeComStandIn | None = None

    # -- traffic ---------------------------------------------------------------------------
    def push(self, post: Any) -> Posted | None:
        """Push if a connection is subscribed; None (counted) when nothing could be pushed."""
        wecom = self.wecom
        assert wecom is not None
        if not wecom.is_subscribed:
            self.info["not posted: no connection"] += 1
            return None
        try:
            posted: Posted = post()
        except Exception:  # the connection ended under the push
            self.info["not posted: connection ended under the push"] += 1
            return None
        return posted

    def picture(self) -> None:
        wecom = self.wecom
        assert wecom is not None
        chat, sender = self.rng.choice(self.chats), self.rng.choice(MEMBERS)
        fault = Fault.NONE
        if self.rng.random() < 0.05:
            fault = self.rng.choice((Fault.EXPIRED, Fault.CORRUPT))
        photo = self.rng.choice(self.photos)
        posted = self.push(lambda: wecom.post_mixed(chat, sender, None, [photo], fault=fault))
        if posted is None:
            return
        if fault is not Fault.NONE:
            self.faults[f"media_{fault.value}"] += 1
        self.pics[posted.msgid] = Pic(
            chat, chat in self.listed, time.monotonic(), self.state, [posted]
        )

    def post(self) -> None:
        wecom = self.wecom
        assert wecom is not None
        if self.rng.random() < 0.01:
            self.info["bursts"] += 1
            for _ in range(self.rng.randint(10, 30)):
                self.picture()
        elif self.rng.random() < 0.8:
            self.picture()
        else:
            chat = self.rng.choice(self.chats)
            self.push(lambda: wecom.post_text(chat, self.rng.choice(MEMBERS), "@识图 哈哈"))

    def instead(self, name: str) -> str:
        wecom = self.wecom
        assert wecom is not None
        if name == "refused" and self.faults[name]:  # once: the bot then waits out a backoff
            name = "drop"
        if name in ("drop", "refused") and not wecom.is_subscribed:
            name = "tfs_fail"
        return name

    def transport_fault(self, name: str) -> None:
        wecom = self.wecom
        assert wecom is not None
        if name == "drop":  # mid-reply: a burst, then the connection cut while it is answered
            for _ in range(self.chaos.randint(3, 8)):
                self.picture()
            self.cut.append(time.monotonic())
            wecom.drop()
        elif name == "refused":  # the next login is refused (rate limit), then one more drop
            wecom.refuse_subscribes.append((ERR_FREQ_LIMIT, ERRMSG_FREQ_LIMIT))
            self.cut.append(time.monotonic())
            wecom.drop()
        elif name == "duplicate" and self.pics:
            for mid in self.rng.sample(list(self.pics), min(3, len(self.pics))):
                pic = self.pics[mid]
                again = self.push(lambda p=pic: wecom.redeliver(p.pushes[0]))
                if again is not None:
                    pic.pushes.append(again)
        elif name == "kill":
            self.cut.append(time.monotonic())
            self.kill()
        elif name == "term":
            for _ in range(self.chaos.randint(5, 15)):
                self.picture()
            self.term()

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        with (
            WeComStandIn(bot_id=BOT_ID, secret=SECRET) as wecom,
            FakeTFServing(ModelSpec()) as tfs,
        ):
            self.wecom, self.tfs = wecom, tfs
            self.chats = [wecom.new_chatid() for _ in range(30)]
            self.listed = set(self.chats[:20])
            cfg = write_bot_config(
                self.folder,
                wechat_url="http://127.0.0.1:9",
                serving_url=tfs.url,
                chat='transport = "wecom"',
                wechat="download_timeout_s = 8\nqueue_size = 30\nshutdown_timeout_s = 5",
            )
            listed = ", ".join(f'"{c}"' for c in self.chats[:20])
            cfg.write_text(
                cfg.read_text(encoding="utf-8") + f'[wecom]\nbot_id = "{BOT_ID}"\n'
                f'ws_url = "{wecom.ws_url}"\nca_file = "{wecom.ca_file}"\nchats = [{listed}]\n'
                f'owner = "{OWNER}"\n',
                encoding="utf-8",
            )
            self.config, self.db = cfg, self.folder / "audit.sqlite3"
            self.loop()
            self.settle(self.settled)
            return self.reconcile(wecom)

    def send_owner(self, text: str) -> None:
        wecom = self.wecom
        assert wecom is not None
        wecom.post_text(None, OWNER, text)

    def at_risk(self, pic: Pic) -> bool:
        return any(0 <= t - pic.posted <= AT_RISK_S for t in [*self.cut, *self.exits]) or any(
            0 <= t - pic.posted <= AT_EXIT_S for t in self.stops
        )

    def settled(self, rows: dict[str, dict[str, object]]) -> bool:
        return all(
            (m in rows and rows[m]["outcome"] != "pending") or (m not in rows and self.at_risk(p))
            for m, p in self.pics.items()
            if p.listed
        )

    def reconcile(self, wecom: WeComStandIn) -> dict[str, Any]:
        rows = self.rows()
        outcomes: Counter[str] = Counter()
        for mid, pic in self.pics.items():
            row = rows.get(mid)
            taken = [
                r
                for push in pic.pushes
                for r in wecom.replies(push.req_id)
                if r.errcode == 0 and r.finish
            ]
            answers = [r for r in taken if ANSWER in str(r.stream.get("content", ""))]
            if not pic.listed:
                if taken:
                    self.violations.append(f"picture {mid} in {pic.chat} (not listed) answered")
                continue
            if row is None and self.at_risk(pic):
                self.info["lost with the connection (pushed as it ended)"] += 1
                continue
            self.check_row(mid, pic.chat, row)
            if row is None:
                continue
            outcomes[str(row["outcome"])] += 1
            reason = str(row["reason"])
            if row["outcome"] == "replied" and len(answers) != 1:
                self.violations.append(f"picture {mid}: replied, {len(answers)} answers")
            elif row["outcome"] != "replied" and len(answers) > 1:
                self.violations.append(f"picture {mid}: {row['outcome']}, {len(answers)} answers")
            elif row["outcome"] != "replied" and answers:
                if reason == INTERRUPTED_SEND:
                    self.info["answered, row interrupted by SIGKILL before it said so"] += 1
                elif reason.startswith(NOT_SENT) and self.cut:
                    self.info["answered, its ack lost with the connection"] += 1
                else:
                    self.violations.append(f"picture {mid}: {row['outcome']} ({reason}), answered")
        return {"outcomes": dict(outcomes)}

    def posted(self) -> int:
        return sum(1 for p in self.pics.values() if p.listed)
