"""Drill results: one ``Run`` per repetition, the ``DrillReport`` with medians, and its table.

Times are seconds from the step that breaks things (MTTR = bad change -> recovered). Pure values and
formatting; the drill runner fills them in.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from io import StringIO
from typing import Any

from rich.console import Console
from rich.table import Table

# live: Argo CD synced the bad change; recovered: the workload's last failed request (issue 12 §2)
PHASES = ("live", "detect", "commit", "synced", "recovered")


@dataclass
class Run:
    number: int
    baseline: bool
    recovered: bool = False
    live: float | None = None  # the bad change live: Argo CD synced it
    detect: float | None = None
    commit: float | None = None
    synced: float | None = None
    mttr: float | None = None  # bad step -> the workload's last failed request (then conditions held)
    last_failure: float | None = None  # the newest failed request seen, seconds after the bad step
    action: str | None = None
    heal_id: str | None = None
    heal_commit: str | None = None  # the commit on main that carries the heal's Heal-Id
    touched: list[str] = field(default_factory=list)  # files the heal commit changed
    pr: int | None = None
    error_ratio: float | None = None  # last observed, over ``error_window``
    peak_error_ratio: float | None = None
    exceeded: list[str] = field(default_factory=list)
    seconds: float = 0.0  # the whole run
    watched: float | None = None  # seconds observed after the bad change
    events: list[tuple[float, str]] = field(default_factory=list)  # seconds from the drill's start
    # canary drills: when the canary aborted in the cluster, its stable image, Git's image, the verdict
    canary: dict[str, Any] = field(default_factory=dict)


@dataclass
class DrillReport:
    scenario: str
    app: str
    baseline: bool
    runs: list[Run]
    used: dict[str, Any] = field(default_factory=dict)  # scrape interval, trigger and windows of the runs

    def median(self, name: str) -> float | None:
        values = [v for r in self.runs if (v := getattr(r, name)) is not None]
        return statistics.median(values) if values else None

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "app": self.app,
            "mode": "baseline" if self.baseline else "bot",
            **self.used,
            "recovered": sum(r.recovered for r in self.runs),
            "median": {p: self.median("mttr" if p == "recovered" else p) for p in PHASES},
            "runs": [asdict(r) for r in self.runs],
        }


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}s"


def table(report: DrillReport, width: int = 120) -> str:
    out = StringIO()
    console = Console(file=out, width=width, force_terminal=False, color_system=None)
    mode = "baseline: GitOps alone" if report.baseline else "githeal"
    used = report.used
    how = f", trigger {used['trigger']}, scrapes {used['scrape_interval']}" if used else ""
    t = Table(title=f"drill {report.scenario} ({report.app}, {mode}{how}); seconds from the bad change")
    columns = (
        "run", "live", "detect", "commit/PR", "synced", "recovered (MTTR)", "action", "error ratio last/peak"
    )  # fmt: skip
    for col in (*columns, "limits"):
        t.add_column(col)
    for r in report.runs:
        ratio = "-" if r.error_ratio is None else f"{r.error_ratio:.1%} / {r.peak_error_ratio or 0:.1%}"
        rec = _fmt(r.mttr) if r.recovered else f"not recovered in {r.watched or 0:.0f}s"
        phases = (_fmt(r.live), _fmt(r.detect), _fmt(r.commit), _fmt(r.synced), rec)
        verdict = "; ".join(r.exceeded) or ("-" if report.baseline else "ok")
        t.add_row(str(r.number), *phases, r.action or "-", ratio, verdict)
    if len(report.runs) > 1:
        m = report.median
        medians = (_fmt(m("live")), _fmt(m("detect")), _fmt(m("commit")), _fmt(m("synced")), _fmt(m("mttr")))
        t.add_row("median", *medians, "", "", "")
    console.print(t)
    for r in report.runs:
        if c := r.canary:
            console.print(
                f"run {r.number} canary: aborted {_fmt(c.get('aborted'))} after the bad change "
                f"({c.get('message') or 'no abort seen'}); stable {c.get('stable_image')}, Git now "
                f"{c.get('git_image')} (agrees: {c.get('git_agrees_with_stable')}); "
                f"Rollout {c.get('rollout_health')}; heal verified: {c.get('verified')}"
            )
    return out.getvalue()
