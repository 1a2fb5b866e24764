"""``python -m bench [--quick] [--out FILE] [--only NAMES]``: run the benchmarks, print a
Markdown table (metric, measured, target, result) and write every figure to a JSON file."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

# Nothing may reach for a model hub or a data download: the weights and photos ship in packages.
os.environ.setdefault("TORCH_HOME", str(Path(__file__).parent / "results" / ".torch-offline"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.common import REPO, Row, Section, render_table

NAMES = (
    "photos",
    "burst",
    "fidelity",
    "footprint",
    "fairness",
    "transports",
    "seedmodel",
    "ask",
    "detect",
    "v2",
    "soak",
)


def _run_one(name: str, quick: bool, serving_url: str) -> Section:
    if name == "photos":
        from bench import photos

        return photos.run(quick=quick, serving_url=serving_url)
    if name == "burst":
        from bench import burst

        return burst.run(quick=quick)
    if name == "fairness":
        from bench import fairness

        return fairness.run(quick=quick)
    if name == "transports":
        from bench import transports

        return transports.run(quick=quick, serving_url=serving_url)
    if name == "ask":
        from bench import ask

        return ask.run(quick=quick)
    if name == "detect":
        from bench import detect

        return detect.run(quick=quick)
    if name == "v2":
        from bench import v2

        return v2.run(quick=quick)
    if name == "soak":
        from bench import soak

        return soak.run(quick=quick)
    if name == "seedmodel":
        from bench import seedmodel

        return seedmodel.run(quick=quick)
    if name == "fidelity":
        from bench import fidelity

        return fidelity.run(quick=quick)
    from bench import footprint

    return footprint.run(quick=quick)


def _machine() -> dict[str, Any]:
    import numpy
    import PIL

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "pillow": PIL.__version__,
        "numpy": numpy.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs; under two minutes")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "results" / "latest.json",
        help="JSON file for the results (default bench/results/latest.json)",
    )
    parser.add_argument(
        "--only",
        default=",".join(NAMES),
        help=f"comma-separated subset of {', '.join(NAMES)}",
    )
    args = parser.parse_args(argv)
    wanted = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(NAMES)}")

    from bench.harness import TimedServing

    started = time.perf_counter()
    sections: list[Section] = []
    serving = TimedServing()
    report: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    try:
        for name in wanted:
            report(f"bench: {name} ...")
            t0 = time.perf_counter()
            section = _run_one(name, args.quick, serving.url)
            section.wall_s = time.perf_counter() - t0
            report(f"bench: {name} done in {section.wall_s:.1f} s")
            sections.append(section)
    finally:
        serving.close()
    wall = time.perf_counter() - started
    rows: list[Row] = [r for s in sections for r in s.rows]
    mode = "--quick" if args.quick else "full"
    print(f"## wechat-vision-bot benchmarks ({mode}, {wall:.0f} s)\n")
    print(render_table(rows))
    failed = [r for r in rows if r.passed is False]
    print(f"\n{sum(r.passed is True for r in rows)} targets met, {len(failed)} missed.")
    for s in sections:
        if s.notes:
            print(f"\n### {s.name}\n\n{s.notes}")
    result = {
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "mode": mode,
        "wall_s": wall,
        "machine": _machine(),
        "rows": [r.to_json() for r in rows],
        "sections": {s.name: {"wall_s": s.wall_s, **s.detail} for s in sections},
        "table_markdown": render_table(rows),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"Results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
