"""``wechat-vision-bot stats``: pictures per day and per group, from audit rows.

Pure: ``parse_since`` -> ``summarise`` -> ``render_text`` / ``render_json``. The rows come
from ``bot.adapters.audit.read_rows`` (the shell, wired in ``bot.app``).

A day is the local date of ``seen_at`` as the bot recorded it (its first ten characters),
so a picture stays on the day its sender saw, whatever time zone ``stats`` runs in.

Latency percentiles are nearest-rank: the p-th percentile of n sorted values is the value
at 1-based rank ceil(p * n / 100). It is always a latency that was recorded; None when no
row of the selection has one.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from bot.core.names import display_width, normalise_name, printable
from bot.errors import UsageError

# Column order of the table and of the JSON "outcomes" object; every key is always present.
OUTCOME_COLUMNS = ("replied", "low_confidence", "failed", "shed", "ignored", "quiet", "pending")
QUESTION_OUTCOMES = ("answered", "failed", "hint", "limited", "shed")
LABELLED_OUTCOMES = frozenset({"replied", "low_confidence"})
TOP_LABELS = 3

SINCE_FORMATS = (
    "a date YYYY-MM-DD (e.g. 2026-11-21), Nd for the last N days including today (e.g. 7d), "
    'or "today"'
)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAYS_BACK = re.compile(r"(\d+)d")


@dataclass(frozen=True)
class Row:
    """The columns of one audit row that the summary needs."""

    seen_at: str
    chat: str
    outcome: str
    label: str | None = None
    latency_ms: float | None = None
    model: str | None = None
    objects: tuple[tuple[str, int], ...] = ()
    """A detector's finds per class."""

    @property
    def day(self) -> str:
        return self.seen_at[:10]


@dataclass(frozen=True)
class Summary:
    """One (day, group) of the selection; ``day`` and ``group`` are None for the total."""

    day: str | None
    group: str | None
    pictures: int
    outcomes: dict[str, int]
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    top_labels: tuple[tuple[str, int], ...]
    models: tuple[tuple[str, int], ...] = ()
    """Pictures per model that answered them, most first."""
    objects: tuple[tuple[str, int], ...] = ()
    """Objects a detector found per class, most first (all classes)."""


@dataclass(frozen=True)
class QuestionRow:
    """The columns of one question's audit row that the summary needs."""

    seen_at: str
    chat: str
    outcome: str
    latency_ms: float | None = None


@dataclass(frozen=True)
class Questions:
    """Questions about photos in the selection ([ask])."""

    count: int
    outcomes: dict[str, int]
    latency_p50_ms: float | None
    latency_p95_ms: float | None


@dataclass(frozen=True)
class Report:
    since: date | None
    group: str | None
    days: tuple[Summary, ...]
    total: Summary
    questions: Questions | None = None


# --- decisions ------------------------------------------------------------------------


def parse_since(text: str | None, *, today: date) -> date | None:
    """The first day to include for ``--since``; None means from the beginning."""
    if text is None:
        return None
    spec = text.strip().lower()
    if spec == "today":
        return today
    if _ISO_DAY.fullmatch(spec):
        try:
            return date.fromisoformat(spec)
        except ValueError as exc:
            raise UsageError(f"--since {text!r} is not a real date: use {SINCE_FORMATS}") from exc
    days_back = _DAYS_BACK.fullmatch(spec)
    if days_back:
        n = int(days_back.group(1))
        if n < 1:
            raise UsageError(f"--since {text!r}: N must be at least 1 (1d is today only)")
        try:
            return today - timedelta(days=n - 1)
        except OverflowError as exc:
            raise UsageError(
                f"--since {text!r} reaches back before year 1: use fewer days"
            ) from exc
    raise UsageError(f"--since {text!r} is not understood: use {SINCE_FORMATS}")


def percentile(values: Sequence[float], p: int) -> float | None:
    """Nearest-rank p-th percentile (0 < p <= 100) of ``values``; None if there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-p * len(ordered) // 100))  # ceil in integers: no float rounding surprises
    return ordered[rank - 1]


def summarise_rows(rows: Sequence[Row], *, day: str | None, group: str | None) -> Summary:
    counts = Counter(row.outcome for row in rows)
    latencies = [row.latency_ms for row in rows if row.latency_ms is not None]
    labels = Counter(row.label for row in rows if row.outcome in LABELLED_OUTCOMES and row.label)
    top = sorted(labels.items(), key=lambda item: (-item[1], item[0]))[:TOP_LABELS]
    models = Counter(row.model for row in rows if row.model)
    objects: Counter[str] = Counter()
    for row in rows:
        if row.outcome == "replied":
            for name, n in row.objects:
                objects[name] += n
    return Summary(
        day=day,
        group=group,
        pictures=len(rows),
        outcomes={outcome: counts[outcome] for outcome in OUTCOME_COLUMNS},
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        top_labels=tuple(top),
        models=tuple(sorted(models.items(), key=lambda item: (-item[1], item[0]))),
        objects=tuple(sorted(objects.items(), key=lambda item: (-item[1], item[0]))),
    )


def summarise_questions(rows: Sequence[QuestionRow]) -> Questions:
    counts = Counter(row.outcome for row in rows)
    latencies = [row.latency_ms for row in rows if row.latency_ms is not None]
    return Questions(
        count=len(rows),
        outcomes={outcome: counts[outcome] for outcome in QUESTION_OUTCOMES},
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
    )


def summarise(
    rows: Iterable[Row],
    *,
    since: date | None = None,
    group: str | None = None,
    questions: Iterable[QuestionRow] = (),
) -> Report:
    """One summary per (day, group) from ``since`` on, sorted, plus the total.

    Group names are compared and shown as ``normalise_name`` makes them, so ``--group`` and
    names that WeChat spelt with other widths or spaces still meet.
    """
    wanted = None if group is None else normalise_name(group)
    if wanted == "":
        raise UsageError(
            "--group is empty: give the group name as WeChat shows it, or leave it out"
        )
    first_day = None if since is None else since.isoformat()
    asked = [
        q
        for q in questions
        if (first_day is None or q.seen_at[:10] >= first_day)
        and (wanted is None or normalise_name(q.chat) == wanted)
    ]
    buckets: dict[tuple[str, str], list[Row]] = {}
    selected: list[Row] = []
    for row in rows:
        name = normalise_name(row.chat)
        if (first_day is not None and row.day < first_day) or (
            wanted is not None and name != wanted
        ):
            continue
        selected.append(row)
        buckets.setdefault((row.day, name), []).append(row)
    days = tuple(
        summarise_rows(bucket, day=day, group=name)
        for (day, name), bucket in sorted(buckets.items())
    )
    return Report(
        since=since,
        group=wanted,
        days=days,
        total=summarise_rows(selected, day=None, group=None),
        questions=summarise_questions(asked) if asked else None,
    )


# --- rendering ------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _cells(summary: Summary) -> list[str]:
    top = ", ".join(f"{label} {count}" for label, count in summary.top_labels)
    return [
        summary.day or "total",
        summary.group or "",
        str(summary.pictures),
        *(str(summary.outcomes[outcome]) for outcome in OUTCOME_COLUMNS),
        _ms(summary.latency_p50_ms),
        _ms(summary.latency_p95_ms),
        top or "-",
        ", ".join(f"{model} {count}" for model, count in summary.models) or "-",
    ]


def _objects_line(summary: Summary) -> str:
    found = ", ".join(f"{name} {count}" for name, count in summary.objects)
    return f"objects found: {found}"


_HEADER = ["day", "group", "pictures", *OUTCOME_COLUMNS, "p50_ms", "p95_ms", "top_labels", "models"]
_LEFT_ALIGNED = {0, 1, len(_HEADER) - 2, len(_HEADER) - 1}


def render_text(report: Report) -> str:
    """An aligned table, one line per (day, group) and a total line; or "no pictures"."""
    if not report.days:
        where = f" since {report.since.isoformat()}" if report.since else ""
        where += f' in group "{printable(report.group)}"' if report.group is not None else ""
        extra = "" if report.questions is None else _questions_line(report.questions) + "\n"
        return f"no pictures{where}\n" + extra
    table = [_HEADER] + [_cells(s) for s in report.days] + [_cells(report.total)]
    table = [[printable(cell) for cell in line] for line in table]
    widths = [max(display_width(line[i]) for line in table) for i in range(len(_HEADER))]
    lines = []
    for line in table:
        padded = []
        for i, cell in enumerate(line):
            pad = " " * (widths[i] - display_width(cell))
            padded.append(cell + pad if i in _LEFT_ALIGNED else pad + cell)
        lines.append("  ".join(padded).rstrip())
    if report.total.objects:
        lines.append(_objects_line(report.total))
    if report.questions is not None:
        lines.append(_questions_line(report.questions))
    return "\n".join(lines) + "\n"


def _questions_line(q: Questions) -> str:
    parts = ", ".join(f"{outcome} {q.outcomes[outcome]}" for outcome in QUESTION_OUTCOMES)
    return (
        f"questions: {q.count} ({parts}); p50 {_ms(q.latency_p50_ms)} ms, "
        f"p95 {_ms(q.latency_p95_ms)} ms"
    )


def _summary_json(summary: Summary) -> dict[str, object]:
    doc: dict[str, object] = {}
    if summary.day is not None:
        doc["day"] = summary.day
        doc["group"] = summary.group
    doc["pictures"] = summary.pictures
    doc["outcomes"] = {outcome: summary.outcomes[outcome] for outcome in OUTCOME_COLUMNS}
    doc["latency_ms"] = {"p50": summary.latency_p50_ms, "p95": summary.latency_p95_ms}
    doc["top_labels"] = [{"label": label, "count": count} for label, count in summary.top_labels]
    doc["models"] = [{"model": model, "count": count} for model, count in summary.models]
    doc["objects"] = [{"class": name, "count": count} for name, count in summary.objects]
    return doc


def render_json(report: Report) -> str:
    """``{"since", "group", "days": [...], "total": {...}}``; the same keys every time."""
    doc = {
        "since": None if report.since is None else report.since.isoformat(),
        "group": report.group,
        "days": [_summary_json(s) for s in report.days],
        "total": _summary_json(report.total),
        "questions": None
        if report.questions is None
        else {
            "count": report.questions.count,
            "outcomes": report.questions.outcomes,
            "latency_ms": {
                "p50": report.questions.latency_p50_ms,
                "p95": report.questions.latency_p95_ms,
            },
        },
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
