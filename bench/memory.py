"""Benchmark: memory of one dry-run cycle for N apps (default 100), measured with tracemalloc.

After a warm-up cycle (clone, imports, connection pools), tracemalloc traces one more cycle: the peak
of Python allocations during it and what is still held afterwards (a leak per cycle would show here),
plus the process's max RSS for scale. Prometheus and the emulators run in other processes/threads of
this process, so RSS includes the emulator; the traced peak is the bot's own cost.
"""

from __future__ import annotations

import resource
import sys
import tracemalloc
from dataclasses import dataclass
from typing import TextIO

from bench import fleet
from bot.service import cycle


@dataclass(frozen=True)
class Figures:
    apps: int
    peak_kib: float  # Python allocations at the peak of one cycle
    retained_kib: float  # still allocated after the cycle and its report are dropped
    max_rss_mib: float


def measure(n: int = 100) -> Figures:
    with fleet.Fleet(n) as f:
        rt = f.runtime()
        engine = cycle.Engine(rt)
        try:
            engine.run_once(dry_run=True)
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                rep = engine.run_once(dry_run=True)
                del rep
                current, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        finally:
            engine.close()
            rt.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return Figures(n, (peak - before) / 1024, (current - before) / 1024, rss)


def report(f: Figures, out: TextIO) -> None:
    out.write(f"memory: one dry-run cycle of {f.apps} apps (tracemalloc)\n")
    per_app = f.peak_kib / f.apps
    out.write(f"  peak Python allocations during the cycle: {f.peak_kib:,.0f} KiB ({per_app:.1f} KiB/app); ")
    out.write(f"retained after it: {f.retained_kib:,.0f} KiB\n")
    out.write(f"  process max RSS (bot + in-process emulator): {f.max_rss_mib:.0f} MiB\n")


def main(n: int = 100, out: TextIO = sys.stdout) -> Figures:
    figures = measure(n)
    report(figures, out)
    return figures


if __name__ == "__main__":
    main()
