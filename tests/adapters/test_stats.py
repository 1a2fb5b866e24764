"""``wechat-vision-bot stats``: the pure summary, and the command against a real audit log."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.adapters.audit import AuditLog, read_rows
from bot.cli import main
from bot.core.names import display_width
from bot.core.pictures import Outcome
from bot.core.stats import (
    OUTCOME_COLUMNS,
    QuestionRow,
    Report,
    Row,
    Summary,
    parse_since,
    percentile,
    render_json,
    render_text,
    summarise,
)
from bot.errors import UsageError
from tests.conftest import WriteConfig

TODAY = date(2026, 11, 21)


def counts(**given: int) -> dict[str, int]:
    return {outcome: given.get(outcome, 0) for outcome in OUTCOME_COLUMNS}


def at(day: str, time: str = "12:00:00.000") -> str:
    return f"{day}T{time}+08:00"


@dataclass(frozen=True)
class Pic:
    seen_at: str
    chat: str
    result: Outcome


def write_audit(path: Path, pictures: Sequence[Pic]) -> Path:
    """Write pictures the way the bot does (claim, then finish), then set their seen_at."""
    log = AuditLog(path)
    try:
        for i, pic in enumerate(pictures):
            assert log.claim(f"m{i}", chat=pic.chat, sender="阿明")
            if pic.result.outcome != "pending":
                log.finish(f"m{i}", pic.result)
    finally:
        log.close()
    with closing(sqlite3.connect(path)) as db, db:
        for i, pic in enumerate(pictures):
            db.execute("UPDATE pictures SET seen_at=? WHERE msg_id=?", (pic.seen_at, f"m{i}"))
    return path


def replied(
    label: str, latency_ms: float, outcome: str = "replied", model: str = "resnet"
) -> Outcome:
    return Outcome(outcome, label=label, probability=0.9, latency_ms=latency_ms, model=model)


FAMILY = "家庭群"
TEAM = "Team A"
PICTURES = [
    Pic(at("2026-11-20", "09:00:00.000"), FAMILY, replied("金鱼", 100.0)),
    Pic(at("2026-11-20", "10:00:00.000"), FAMILY, replied("金鱼", 200.0)),
    Pic(at("2026-11-20", "11:00:00.000"), FAMILY, replied("虎鲨", 300.0, "low_confidence")),
    Pic(at("2026-11-20", "12:00:00.000"), FAMILY, Outcome("failed", "download failed")),
    Pic(at("2026-11-20", "13:00:00.000"), TEAM, Outcome("shed", "queue full")),
    # 00:30 at +08:00 is still the 20th in UTC: the day is the one the bot recorded.
    Pic(at("2026-11-21", "00:30:00.000"), FAMILY, Outcome("ignored", "sticker")),
    Pic(at("2026-11-21", "23:59:59.999"), TEAM, replied("tench", 50.0, model="dogs")),
    Pic(at("2026-11-21", "22:00:00.000"), TEAM, Outcome("pending")),
]


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    return write_audit(tmp_path / "audit.sqlite3", PICTURES)


@pytest.fixture
def config(write_config: WriteConfig) -> Path:
    # write_config appends ``extra`` after [labels], so it can open a table of its own.
    return write_config('[audit]\npath = "audit.sqlite3"\n')


# --- --since --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("2026-11-15", date(2026, 11, 15)),
        ("today", TODAY),
        (" Today ", TODAY),
        ("1d", TODAY),
        ("7d", date(2026, 11, 15)),
        ("7D", date(2026, 11, 15)),
        ("30d", date(2026, 10, 23)),
    ],
)
def test_since_accepts_a_date_n_days_or_today(text: str | None, expected: date | None) -> None:
    assert parse_since(text, today=TODAY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yesterday", "is not understood: use a date YYYY-MM-DD"),
        ("2026/11/15", "is not understood: use a date YYYY-MM-DD"),
        ("-3d", "is not understood"),
        ("", "is not understood"),
        ("2026-02-30", "is not a real date: use a date YYYY-MM-DD"),
        ("0d", "N must be at least 1 (1d is today only)"),
        ("9999999d", "reaches back before year 1"),
    ],
)
def test_bad_since_says_which_forms_are_accepted(text: str, expected: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_since(text, today=TODAY)
    assert expected in str(caught.value)
    assert str(caught.value).startswith(f"--since {text!r}")


# --- the pure summary -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 50, None),
        ([7.0], 50, 7.0),
        ([7.0], 95, 7.0),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.0),
        ([4.0, 1.0, 3.0, 2.0], 95, 4.0),
        ([float(v) for v in range(1, 21)], 50, 10.0),
        ([float(v) for v in range(1, 21)], 95, 19.0),
        ([float(v) for v in range(100, 0, -1)], 95, 95.0),
        ([float(v) for v in range(1, 101)], 100, 100.0),
    ],
)
def test_percentiles_are_nearest_rank(values: list[float], p: int, expected: float | None) -> None:
    assert percentile(values, p) == expected


def rows_of(pictures: Sequence[Pic]) -> list[Row]:
    return [
        Row(
            p.seen_at, p.chat, p.result.outcome, p.result.label, p.result.latency_ms, p.result.model
        )
        for p in pictures
    ]


EXPECTED_DAYS = (  # by day, then by group name (code point order)
    Summary("2026-11-20", TEAM, 1, counts(shed=1), None, None, ()),
    Summary(
        "2026-11-20",
        FAMILY,
        pictures=4,
        outcomes=counts(replied=2, low_confidence=1, failed=1),
        latency_p50_ms=200.0,
        latency_p95_ms=300.0,
        top_labels=(("金鱼", 2), ("虎鲨", 1)),
        models=(("resnet", 3),),
    ),
    Summary(
        "2026-11-21",
        TEAM,
        2,
        counts(replied=1, pending=1),
        50.0,
        50.0,
        (("tench", 1),),
        models=(("dogs", 1),),
    ),
    Summary("2026-11-21", FAMILY, 1, counts(ignored=1), None, None, ()),
)
EXPECTED_TOTAL = Summary(
    None,
    None,
    pictures=8,
    outcomes=counts(replied=3, low_confidence=1, failed=1, shed=1, ignored=1, pending=1),
    latency_p50_ms=100.0,
    latency_p95_ms=300.0,
    top_labels=(("金鱼", 2), ("tench", 1), ("虎鲨", 1)),
    models=(("resnet", 3), ("dogs", 1)),
)


def test_summary_has_one_entry_per_recorded_day_and_group_and_a_total() -> None:
    expected = Report(since=None, group=None, days=EXPECTED_DAYS, total=EXPECTED_TOTAL)
    assert summarise(rows_of(PICTURES)) == expected


def test_summary_read_from_a_real_audit_log_matches(audit_path: Path) -> None:
    expected = Report(since=None, group=None, days=EXPECTED_DAYS, total=EXPECTED_TOTAL)
    assert summarise(read_rows(audit_path)) == expected


def test_top_labels_are_three_most_frequent_answered_labels_ties_by_name() -> None:
    day = at("2026-11-20")
    rows = [
        Row(day, FAMILY, "replied", "b"),
        Row(day, FAMILY, "replied", "a"),
        Row(day, FAMILY, "low_confidence", "c"),
        Row(day, FAMILY, "low_confidence", "c"),
        Row(day, FAMILY, "replied", "d"),
        # The label of a reply that could not be sent is not an answer anyone saw.
        Row(day, FAMILY, "failed", "z"),
        Row(day, FAMILY, "failed", "z"),
        Row(day, FAMILY, "failed", "z"),
    ]
    assert summarise(rows).total.top_labels == (("c", 2), ("a", 1), ("b", 1))


def test_since_keeps_that_day_and_later() -> None:
    report = summarise(rows_of(PICTURES), since=date(2026, 11, 21))
    assert (report.since, report.days) == (date(2026, 11, 21), EXPECTED_DAYS[2:])
    assert report.total.pictures == 3


@pytest.mark.parametrize("asked", ["Team A", "  Team   A ", "Ｔｅａｍ\u3000Ａ"])
def test_group_matches_after_nfkc_and_whitespace_normalisation(asked: str) -> None:
    report = summarise(rows_of(PICTURES), group=asked)
    assert (report.group, report.days) == ("Team A", (EXPECTED_DAYS[0], EXPECTED_DAYS[2]))


def test_one_group_spelt_two_ways_by_wechat_is_counted_once() -> None:
    rows = [Row(at("2026-11-20"), "Ｔｅａｍ A", "replied"), Row(at("2026-11-20"), TEAM, "shed")]
    assert [(s.group, s.pictures) for s in summarise(rows).days] == [("Team A", 2)]


def test_group_that_matches_nothing_gives_an_empty_selection() -> None:
    report = summarise(rows_of(PICTURES), group="Team")
    expected_total = Summary(None, None, 0, counts(), None, None, ())
    assert (report.days, report.total) == ((), expected_total)


# --- text rendering -------------------------------------------------------------------


def test_text_table_aligns_columns_under_wide_chinese_names() -> None:
    expected = (
        "day         group   pictures  replied  low_confidence  failed  shed  ignored  quiet"
        "  pending  p50_ms  p95_ms  top_labels               models\n"
        "2026-11-20  Team A         1        0               0       0     1        0      0"
        "        0       -       -  -                        -\n"
        "2026-11-20  家庭群         4        2               1       1     0        0      0"
        "        0     200     300  金鱼 2, 虎鲨 1           resnet 3\n"
        "2026-11-21  Team A         2        1               0       0     0        0      0"
        "        1      50      50  tench 1                  dogs 1\n"
        "2026-11-21  家庭群         1        0               0       0     0        1      0"
        "        0       -       -  -                        -\n"
        "total                      8        3               1       1     1        1      0"
        "        1     100     300  金鱼 2, tench 1, 虎鲨 1  resnet 3, dogs 1\n"
    )
    assert render_text(summarise(rows_of(PICTURES))) == expected


def test_empty_selection_prints_no_pictures() -> None:
    report = summarise(rows_of(PICTURES), since=date(2027, 1, 1), group="家庭群")
    assert render_text(report) == 'no pictures since 2027-01-01 in group "家庭群"\n'
    assert render_text(summarise([])) == "no pictures\n"


def test_control_characters_in_a_group_name_are_not_sent_to_the_terminal() -> None:
    text = render_text(summarise([Row(at("2026-11-20"), "evil\x1b[2J\u202egroup", "replied")]))
    assert "\x1b" not in text and "\u202e" not in text
    assert "evil\ufffd[2J\ufffdgroup" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("abc", 3), ("家庭群", 6), ("Ｔｅａｍ", 8), ("e\u0301", 1), ("", 0)],
)
def test_display_width_counts_terminal_columns(text: str, expected: int) -> None:
    assert display_width(text) == expected


# --- the command ----------------------------------------------------------------------


def test_stats_command_prints_the_table(
    audit_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--config", str(config), "stats"])
    out = capsys.readouterr().out
    assert code == 0
    table, back = out.rsplit("\n", 2)[0] + "\n", out.splitlines()[-1]
    assert table == render_text(summarise(rows_of(PICTURES)))
    assert table.splitlines()[-1].split()[:3] == ["total", "8", "3"]
    assert back == "the audit log goes back to 2026-11-20; kept 180 days"  # [audit] keep_days


def test_stats_json_has_since_group_days_and_total(
    audit_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--config", str(config), "stats", "--json", "--group", "家庭群"])
    raw = capsys.readouterr().out
    doc = json.loads(raw)
    assert code == 0
    assert "家庭群" in raw  # ensure_ascii=False: readable as is
    assert list(doc) == ["since", "group", "days", "total", "questions"]
    assert doc["questions"] is None  # no [ask] questions in this log
    assert (doc["since"], doc["group"]) == (None, "家庭群")
    assert doc["days"][0] == {
        "day": "2026-11-20",
        "group": "家庭群",
        "pictures": 4,
        "outcomes": counts(replied=2, low_confidence=1, failed=1),
        "latency_ms": {"p50": 200.0, "p95": 300.0},
        "top_labels": [{"label": "金鱼", "count": 2}, {"label": "虎鲨", "count": 1}],
        "models": [{"model": "resnet", "count": 3}],
        "objects": [],
    }
    assert [(d["day"], d["pictures"]) for d in doc["days"]] == [
        ("2026-11-20", 4),
        ("2026-11-21", 1),
    ]
    assert doc["total"] == {
        "pictures": 5,
        "outcomes": counts(replied=2, low_confidence=1, failed=1, ignored=1),
        "latency_ms": {"p50": 200.0, "p95": 300.0},
        "top_labels": [{"label": "金鱼", "count": 2}, {"label": "虎鲨", "count": 1}],
        "models": [{"model": "resnet", "count": 3}],
        "objects": [],
    }


def test_stats_json_of_an_empty_selection_has_no_days(
    audit_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "stats", "--json", "--since", "2030-01-01"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["since"], doc["days"], doc["total"]["pictures"]) == ("2030-01-01", [], 0)
    assert doc["total"]["latency_ms"] == {"p50": None, "p95": None}


def test_since_7d_counts_the_last_seven_days_including_today(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    today = date.today()
    days_ago = [0, 6, 7, 30]
    write_audit(
        tmp_path / "audit.sqlite3",
        [Pic(at((today - timedelta(days=n)).isoformat()), TEAM, Outcome("shed")) for n in days_ago],
    )
    assert main(["--config", str(config), "stats", "--json", "--since", "7d"]) == 0
    doc = json.loads(capsys.readouterr().out)
    expected_days = [(today - timedelta(days=n)).isoformat() for n in (6, 0)]
    assert (doc["since"], [d["day"] for d in doc["days"]]) == (expected_days[0], expected_days)
    assert main(["--config", str(config), "stats", "--json", "--since", "today"]) == 0
    assert [d["day"] for d in json.loads(capsys.readouterr().out)["days"]] == [today.isoformat()]


def test_empty_selection_prints_no_pictures_and_exits_0(
    audit_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "stats", "--group", "nobody"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == 'no pictures in group "nobody"'


def test_missing_audit_log_exits_2_with_one_clear_line(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "stats"]) == 2
    err = capsys.readouterr().err
    expected = (
        f"error: no audit log at {tmp_path / 'audit.sqlite3'} yet: run the bot first, "
        "or check [audit] path\n"
    )
    assert err == expected


def test_bad_since_exits_2_naming_the_accepted_forms(
    audit_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "stats", "--since", "last week"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: --since 'last week' is not understood: use a date")
    assert "YYYY-MM-DD" in captured.err and "7d" in captured.err and '"today"' in captured.err


def test_file_that_is_not_an_audit_log_exits_2(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "audit.sqlite3").write_bytes(b"not a database at all" * 100)
    assert main(["--config", str(config), "stats"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot read the audit log {tmp_path / 'audit.sqlite3'} (")
    assert "Traceback" not in err


def test_stats_reads_while_the_bot_holds_a_write_transaction_open(
    audit_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bot = AuditLog(audit_path)  # the running bot, WAL mode
    writer = sqlite3.connect(audit_path, isolation_level=None)
    try:
        assert bot.claim("new", chat=TEAM, sender="x") is True  # committed
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE pictures SET outcome='failed'")  # not committed
        code = main(["--config", str(config), "stats", "--json"])
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        bot.close()
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    # The committed state: the uncommitted UPDATE is invisible, the claimed row is there.
    assert doc["total"]["outcomes"] == counts(
        replied=3, low_confidence=1, failed=1, shed=1, ignored=1, pending=2
    )


def test_stats_never_changes_the_audit_database(
    audit_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = hashlib.sha256(audit_path.read_bytes()).hexdigest()
    assert main(["--config", str(config), "stats"]) == 0
    assert hashlib.sha256(audit_path.read_bytes()).hexdigest() == before


def test_questions_are_counted_with_their_latency_in_both_renderings() -> None:
    asked = [
        QuestionRow("2026-11-20T10:00:00.000+08:00", FAMILY, "answered", 1200.0),
        QuestionRow("2026-11-20T10:01:00.000+08:00", FAMILY, "answered", 3400.0),
        QuestionRow("2026-11-20T10:02:00.000+08:00", FAMILY, "hint"),
        QuestionRow("2026-11-20T10:03:00.000+08:00", TEAM, "limited"),
    ]
    report = summarise(rows_of(PICTURES), group=FAMILY, questions=asked)

    assert render_text(report).splitlines()[-1] == (
        "questions: 3 (answered 2, failed 0, hint 1, limited 0, shed 0); p50 1200 ms, p95 3400 ms"
    )
    doc = json.loads(render_json(report))
    assert doc["questions"] == {
        "count": 3,
        "outcomes": {"answered": 2, "failed": 0, "hint": 1, "limited": 0, "shed": 0},
        "latency_ms": {"p50": 1200.0, "p95": 3400.0},
    }


def test_objects_a_detector_found_are_summed_per_class_for_replied_rows_only() -> None:
    rows = [
        Row("2026-12-01T10:00:00", "家庭群", "replied", "狗", 100.0, "ssd", (("狗", 2),)),
        Row("2026-12-01T11:00:00", "家庭群", "replied", "人", 100.0, "ssd", (("人", 1), ("狗", 1))),
        Row("2026-12-01T12:00:00", "家庭群", "failed", None, None, None, (("猫", 5),)),
    ]
    report = summarise(rows)
    assert report.total.objects == (("狗", 3), ("人", 1))
    assert "objects found: 狗 3, 人 1" in render_text(report)
    assert '"objects": [' in render_json(report)
