"""Telemetry: counts, health and the Prometheus text, driven directly with a fake clock."""

from __future__ import annotations

from bot.adapters.telemetry import Telemetry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def telemetry(
    clock: Clock, *, receiving: bool = True, audit_trouble: str | None = None
) -> Telemetry:
    return Telemetry(
        healthy_within_s=120.0,
        receiving=lambda: receiving,
        paused=lambda: False,
        send_queue=lambda: 3,
        audit_trouble=lambda: audit_trouble,
        clock=clock,
    )


def test_group_names_with_quotes_are_escaped_in_the_metrics_text() -> None:
    t = telemetry(Clock())
    t.picture('群 "引号"', "replied", 120.0, "resnet")
    text = t.metrics().decode()
    labels = 'group="群 \\"引号\\"",model="resnet",outcome="replied"'
    assert f"wechat_vision_bot_pictures_total{{{labels}}} 1.0" in text
    assert "wechat_vision_bot_send_queue 3.0" in text
    assert t.snapshot().counts == {"replied": 1}


def test_tf_serving_is_healthy_only_within_healthy_within_s_of_its_last_answer() -> None:
    clock = Clock()
    t = telemetry(clock)
    t.logged_in("我", [])
    assert t.snapshot().health == {
        "wechat_login": True,
        "receive_loop": True,
        "tf_serving": False,
        "audit_log": True,
    }
    t.serving_answered()
    assert t.snapshot().health["tf_serving"] is True
    clock.now += 121.0
    assert t.snapshot().health["tf_serving"] is False
    t.serving_answered()
    t.serving_failed("down")
    assert t.snapshot().health["tf_serving"] is False
    assert t.snapshot().serving_detail == "down"


def test_metrics_name_at_most_max_group_labels_groups_and_never_unserved_ones() -> None:
    from bot.adapters.telemetry import MAX_GROUP_LABELS, OTHER_GROUPS

    t = telemetry(Clock())
    t.picture(None, "ignored", None)  # a group the bot does not serve
    for i in range(300):
        t.picture(f"群{i}", "replied", 10.0)
    text = t.metrics().decode()
    series = [ln for ln in text.splitlines() if ln.startswith("wechat_vision_bot_pictures_total{")]
    assert len(series) == MAX_GROUP_LABELS + 2  # the named ones, (other) replied, (other) ignored
    assert f'group="{OTHER_GROUPS}",model="",outcome="ignored"' in text
    other_replied = f'group="{OTHER_GROUPS}",model="",outcome="replied"}}'
    assert f"{other_replied} {300 - MAX_GROUP_LABELS}.0" in text
    assert 'group="群299"' not in text


def test_an_audit_log_that_cannot_be_written_makes_healthz_say_so() -> None:
    trouble = "the audit log /s/audit.sqlite3 cannot be written (disk I/O error): 3 rows held"
    t = telemetry(Clock(), audit_trouble=trouble)

    snap = t.snapshot()
    assert snap.health["audit_log"] is False
    assert snap.audit_detail == trouble


def test_the_login_phase_says_the_phone_must_confirm_until_logged_in() -> None:
    t = telemetry(Clock())
    t.login_phase("waiting_for_phone")
    assert t.snapshot().phase == "waiting_for_phone"
    t.logged_in("视觉机器人", [])
    t.login_phase("waiting_for_phone")  # too late: a finished login stays logged in
    assert t.snapshot().phase == "logged_in"


def test_objects_are_counted_per_class_and_their_labels_are_bounded() -> None:
    t = telemetry(Clock())
    t.objects((("狗", 2), ("人", 1)))
    t.objects((("狗", 1),))
    text = t.metrics().decode()
    assert 'wechat_vision_bot_objects_total{object_class="狗"} 3.0' in text
    assert 'wechat_vision_bot_objects_total{object_class="人"} 1.0' in text
    t.objects(tuple((f"class {i}", 1) for i in range(300)))
    text = t.metrics().decode()
    assert text.count("wechat_vision_bot_objects_total{") == 200 + 1  # the rest are "other"
    assert 'wechat_vision_bot_objects_total{object_class="other"} 102.0' in text
