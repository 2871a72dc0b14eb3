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

from bench import config, cycle, edit, heal, memory, mttr, scale

NAMES = ("cycle", "edit", "memory", "config", "scale", "heal", "mttr")
DEFAULT = NAMES[:-1]  # mttr only when named


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(NAMES)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check the benchmarks run")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(NAMES))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    out = sys.stdout
    for name in args.names or DEFAULT:
        started = time.perf_counter()
        if name == "cycle":
            cycle.main((5, 20) if args.quick else cycle.SIZES, repeats=2 if args.quick else 5, out=out)
        elif name == "edit":
            edit.main(out, limit=20 if args.quick else None, min_seconds=0.0 if args.quick else 2.0)
        elif name == "memory":
            memory.main(10 if args.quick else 100, out=out)
        elif name == "config":
            config.main((10, 50) if args.quick else config.SIZES, repeats=1 if args.quick else 3, out=out)
        elif name == "scale":
            scale.main((10, 30) if args.quick else scale.SIZES, repeats=2 if args.quick else 5, out=out)
        elif name == "heal":
            heal.main(*((50, 100, 3) if args.quick else (10_000, 20_000, 20)), out=out)
        elif name == "mttr":
            # quick: one run per setup, time scaled to a third (a shorter clean baseline and hold)
            quick = {"time_scale": 0.34, "baseline_limit": 60.0} if args.quick else {}
            mttr.main(1 if args.quick else 5, out=out, **quick)
        out.write(f"  ({name}: {time.perf_counter() - started:.1f}s)\n\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
