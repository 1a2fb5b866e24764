"""Shared pieces: result rows, timing statistics, and the Markdown table."""

from __future__ import annotations

import gc
import importlib.util
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LABELS_XLSX = REPO / "labels" / "imagenet1k.xlsx"


def package_dir(name: str) -> Path:
    """Where an installed package lives, without importing it (sklearn takes 2 s)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{name} is not installed: pip install -e '.[bench]'")
    return Path(spec.origin).parent


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    section: str
    metric: str
    measured: str
    target: str = ""
    passed: bool | None = None  # None = information only
    value: float | None = None  # the number behind ``measured``, for the JSON

    @property
    def verdict(self) -> str:
        return {None: "", True: "pass", False: "FAIL"}[self.passed]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


@dataclass
class Section:
    """What one benchmark returns: table rows plus any detail worth keeping in the JSON."""

    name: str
    rows: list[Row]
    detail: dict[str, Any]
    notes: str = ""  # Markdown printed after the main table (e.g. a per-photo table)
    wall_s: float = 0.0


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary_ms(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000.0 for s in samples_s]
    return {
        "median_ms": statistics.median(ms),
        "p95_ms": percentile(ms, 95),
        "min_ms": min(ms),
        "runs": float(len(ms)),
    }


def time_calls(fn: Callable[[], object], runs: int, *, warmup: int = 2) -> list[float]:
    """Wall time of ``runs`` calls in this thread (GC paused while timing)."""
    for _ in range(warmup):
        fn()
    samples = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
    finally:
        gc.enable()
    return samples


@contextmanager
def one_core() -> Iterator[int | None]:
    """Pin this process to one CPU (the last one it may use) while timing; yields the CPU."""
    if not hasattr(os, "sched_getaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    cpu = max(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def kb(n: float) -> str:
    return f"{n / 1000:,.1f} KB" if n < 1_000_000 else f"{n / 1_000_000:,.2f} MB"


def render_table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | metric | measured | target | result |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        cells = (r.section, r.metric, r.measured, r.target or "–", r.verdict or "info")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
