"""``python -m bench [NAME ...] [--quick]``: run the benchmarks (cycle, edit, memory, config, scale, heal).

Without names every benchmark runs, in order, except ``mttr`` (drills in sandbox worlds: minutes even
with ``--quick``), which runs when named. ``--quick`` uses tiny sizes (the smoke test's path).
Benchmarks print figures and ratios for people to read; they never pass or fail on a number.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import config, cycle, edit, heal, memory, mttr, results, scale

NAMES = ("cycle", "edit", "memory", "config", "scale", "heal", "mttr")
DEFAULT = NAMES[:-1]  # mttr only when named


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(NAMES)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check the benchmarks run")
    parser.add_argument("--sizes", help="scale: comma-separated fleet sizes (default 100,1000,10000)")
    parser.add_argument(
        "--results", type=Path, help="figures as JSON (default bench/results.json; none with --quick)"
    )
    parser.add_argument(
        "--report", type=Path, help="markdown report (default docs/performance.md; none with --quick)"
    )
    args = parser.parse_args(argv)
    default_results, default_report = results.default_paths(args.quick)
    results_path, report_path = args.results or default_results, args.report or default_report
    figures: dict[str, Any] = {}
    unknown = sorted(set(args.names) - set(NAMES))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    out = sys.stdout
    for name in args.names or DEFAULT:
        started = time.perf_counter()
        if name == "cycle":
            figures[name] = cycle.main(
                (5, 20) if args.quick else cycle.SIZES, repeats=2 if args.quick else 5, out=out
            )
        elif name == "edit":
            figures[name] = edit.main(
                out, limit=20 if args.quick else None, min_seconds=0.0 if args.quick else 2.0
            )
        elif name == "memory":
            figures[name] = memory.main(10 if args.quick else 100, out=out)
        elif name == "config":
            figures[name] = config.main(
                (10, 50) if args.quick else config.SIZES, repeats=1 if args.quick else 3, out=out
            )
        elif name == "scale":
            sizes = tuple(int(x) for x in args.sizes.split(",")) if args.sizes else scale.SIZES
            figures[name] = scale.main(
                (10, 30) if args.quick else sizes, repeats=2 if args.quick else 5, out=out
            )
        elif name == "heal":
            figures[name] = heal.main(*((50, 100, 3) if args.quick else (10_000, 20_000, 20)), out=out)
        elif name == "mttr":
            # quick: one run per setup, time scaled to a third (a shorter clean baseline and hold)
            quick = {"time_scale": 0.34, "baseline_limit": 60.0} if args.quick else {}
            mttr.main(1 if args.quick else 5, out=out, **quick)
        out.write(f"  ({name}: {time.perf_counter() - started:.1f}s)\n\n")
        out.flush()
    if results_path is not None and report_path is not None:
        results.save(figures, list(argv if argv is not None else sys.argv[1:]), results_path, report_path)
        out.write(f"wrote {results_path} and {report_path}\n")
    return 0


if __name__ == "__main__":
    from bot.sandbox import localserver

    with localserver.stop_on_sigterm():  # a killed run leaves no Prometheus behind
        sys.exit(main())
