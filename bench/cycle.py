"""Benchmark: one dry-run cycle (observe + ledger + decide) for N apps, through the production Engine.

For each N: a Fleet (N apps in Argo CD, N apps of backfilled history, one SLO with the default tiers),
one warm-up cycle (the first clones the repo), then the median of ``repeats`` timed cycles. Prints
seconds per cycle, per-app cost, Prometheus queries per cycle and the ratios between sizes: batching
keeps queries constant in N, so 10x the apps should cost far less than 10x the time.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from bench import fleet
from bot.service import cycle

SIZES = (10, 100, 300)


@dataclass(frozen=True)
class Figures:
    apps: int
    seconds: float  # median of the timed cycles
    samples: tuple[float, ...]
    queries: float  # Prometheus instant queries per cycle
    breaching: int

    @property
    def per_app_ms(self) -> float:
        return self.seconds / self.apps * 1000


def measure(n: int, *, repeats: int = 5, long_history: bool = True) -> Figures:
    with fleet.Fleet(n, long_history=long_history) as f:
        rt = f.runtime()
        engine = cycle.Engine(rt)
        try:
            engine.run_once(dry_run=True)
            before = f.query_count()
            samples, breaching = [], 0
            for _ in range(repeats):
                started = time.perf_counter()
                rep = engine.run_once(dry_run=True)
                samples.append(time.perf_counter() - started)
                breaching = sum(1 for o in rep.snapshot.apps.values() if any(s.breaching for s in o.slos))
                if rep.errors:
                    raise RuntimeError(f"cycle reported errors: {rep.errors}")
            queries = (f.query_count() - before) / repeats
        finally:
            engine.close()
            rt.close()
    return Figures(n, statistics.median(samples), tuple(samples), queries, breaching)


def report(figures: Sequence[Figures], out: TextIO) -> None:
    out.write("cycle: one dry-run Engine.run_once, median of the timed cycles\n")
    out.write(f"  {'apps':>5} {'s/cycle':>9} {'ms/app':>8} {'queries':>8} {'breaching':>9}\n")
    for f in figures:
        out.write(
            f"  {f.apps:>5} {f.seconds:>9.3f} {f.per_app_ms:>8.2f} {f.queries:>8.1f} {f.breaching:>9}\n"
        )
    base = figures[0]
    for f in figures[1:]:
        time_ratio = f.seconds / base.seconds
        query_ratio = f.queries / base.queries if base.queries else float("nan")
        out.write(
            f"  ratio {f.apps}/{base.apps} apps: time x{time_ratio:.2f} for x{f.apps / base.apps:.0f} "
            f"the apps; queries x{query_ratio:.2f}\n"
        )


def main(sizes: Sequence[int] = SIZES, repeats: int = 5, out: TextIO = sys.stdout) -> list[Figures]:
    figures = [measure(n, repeats=repeats) for n in sizes]
    report(figures, out)
    return figures


if __name__ == "__main__":
    main()
