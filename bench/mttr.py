"""Benchmark (issue 12 §2): time to recovery of a 30%-error bad deploy, with 5 s scrapes.

Runs ``githeal drill bad-deploy`` ``runs`` times for each of three setups, each run in a fresh sandbox
World (real Prometheus, Argo CD and GitHub emulators, the workload simulator): the regression trigger
(the drill's default), the burn-rate policies only, and GitOps alone (``--baseline``: the bot off, the
bad release stays). Prints the median of each part, in seconds from the bad commit: live (Argo CD
synced it), detected, heal pushed, synced, recovered (the workload's last failed request).
The target is a median MTTR <= 20 s with the regression trigger; the bench reports, it never fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from bot.sandbox import drill
from bot.sandbox import mttr as results

TARGET = 20.0  # seconds: issue 12's MTTR median target with the regression trigger


@dataclass(frozen=True)
class Setup:
    label: str
    trigger: str
    baseline: bool = False


SETUPS = (
    Setup("regression trigger", "regression"),
    Setup("burn-rate only", "burn-rate"),
    Setup("GitOps alone (--baseline)", "burn-rate", baseline=True),
)
PARTS = (("live", "live"), ("detect", "detected"), ("commit", "heal pushed"), ("synced", "synced"))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def row(label: str, report: results.DrillReport) -> str:
    parts = [_fmt(report.median(name)) for name, _ in PARTS]
    recovered = sum(r.recovered for r in report.runs)
    mttr = _fmt(report.median("mttr")) if recovered else "never"
    return (
        f"{label:<27} "
        + " ".join(f"{p:>11}" for p in parts)
        + f" {mttr:>10} {recovered:>3}/{len(report.runs)}"
    )


def main(runs: int, *, time_scale: float = 1.0, baseline_limit: float = 90.0, out: TextIO) -> None:
    reports: list[tuple[Setup, results.DrillReport]] = []
    for setup in SETUPS:
        limit = baseline_limit * time_scale if setup.baseline else None
        tuning = drill.Tuning(time_scale=time_scale, trigger=setup.trigger, scrape_interval="5s", limit=limit)
        reports.append((setup, drill.run("bad-deploy", repeat=runs, baseline=setup.baseline, tuning=tuning)))
    used = reports[0][1].used
    out.write(
        f"mttr: bad-deploy (30% errors), {runs} run(s) per setup, "
        f"scrapes every {used.get('scrape_interval')}, time scale {time_scale:g}; "
        "medians in seconds from the bad commit\n"
    )
    reg = used.get("regression", {})
    burn = ", ".join(
        f"{w['severity']} {w['long']}/{w['short']} at {w['factor']}x" for w in used["burn_rate_windows"]
    )
    out.write(
        f"  regression window {reg.get('window')} against a {reg.get('baseline')} baseline; "
        f"burn rate {burn}\n"
    )
    header = " ".join(f"{title:>11}" for _, title in PARTS)
    out.write(f"{'setup':<27} {header} {'recovered':>10} ok\n")
    for setup, report in reports:
        out.write(row(setup.label, report) + "\n")
    median = reports[0][1].median("mttr")
    verdict = "met" if median is not None and median <= TARGET else "NOT met"
    out.write(f"target: regression MTTR median <= {TARGET:.0f}s: {verdict} ({_fmt(median)}s)\n")
