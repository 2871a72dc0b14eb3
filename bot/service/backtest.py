"""``githeal backtest``: replay the configured policies over Prometheus history and report what they did.

Reads the history with ``replay.read`` (the cycle's batched queries as range queries at the cycle
step), hands every step to the pure ``decide.backtest.simulate`` and renders the outcome as a table,
JSON, and one SVG timeline per app (``timeline``). Configured apps only: discovered fleets need Argo
CD, which has no past. Wiring only: the statistics live in decide, the reading in observe.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import errors, model
from bot.clients import prometheus
from bot.decide import backtest as core
from bot.observe import queries, replay
from bot.service import timeline
from bot.settings import tree

ARGO_NOTE = "Argo CD has no past: status not replayed"


@dataclass(frozen=True)
class Result:
    start: float
    end: float
    step: float
    flap_window: float
    queries: int
    outcomes: tuple[core.Outcome, ...]
    series: dict[str, list[timeline.Line]]  # app -> the SLI lines drawn in its timeline
    errors: tuple[str, ...] = ()


def _check(settings: tree.Settings, policies: Sequence[str], apps: Sequence[str]) -> None:
    """Unknown names are usage errors (exit 2), named like the config keys they refer to."""
    known_p = {p.name for p in settings.policies}
    problems = [
        errors.Problem(str(settings.source), None, "policies", f"no policy named {name!r} (--policy)")
        for name in policies
        if name not in known_p
    ]
    problems += [
        errors.Problem(str(settings.source), None, "apps", f"no app named {name!r} (--app)")
        for name in apps
        if name not in settings.apps
    ]
    if problems:
        raise errors.ConfigError(problems)


def run(
    settings: tree.Settings,
    client: prometheus.PrometheusClient,
    start: float,
    end: float,
    *,
    policies: Sequence[str] = (),
    apps: Sequence[str] = (),
    flap_window: float = core.DEFAULT_FLAP_WINDOW,
) -> Result:
    """Replay [start, end] at the configured cycle step."""
    _check(settings, policies, apps)
    step = settings.prometheus.step
    specs = {n: s for n, s in settings.apps.items() if not apps or n in apps}
    metric = {n: s.metric_name or n for n, s in specs.items()}
    wanted = {metric[n]: s.slos for n, s in specs.items()}
    chosen_policies = [p for p in settings.policies if not policies or p.name in policies]
    history = replay.read(
        client,
        list(settings.slos.values()),
        wanted,
        start,
        end,
        step,
        timeout=settings.prometheus.timeout,
        load_query=settings.prometheus.load_query,
        app_label=settings.prometheus.app_label,
    )

    def observe(t: float) -> dict[str, model.AppObservation]:
        reports = history.reports.get(t, {})
        load = history.load.get(t, {}) if history.load is not None else {}
        return {
            n: model.AppObservation(
                n, None, reports.get(metric[n], ()), error=ARGO_NOTE, load_per_replica=load.get(metric[n])
            )
            for n in specs
        }

    outcomes = core.simulate(
        history.times,
        observe,
        chosen_policies,
        chosen={n: s.policies for n, s in specs.items()},
        flap_window=flap_window,
        load=history.load is not None,
    )
    series = {n: _lines(history, metric[n], [settings.slos[s] for s in specs[n].slos]) for n in specs}
    return Result(start, end, step, flap_window, history.queries, tuple(outcomes), series, history.errors)


def _lines(history: replay.History, metric: str, slos: Sequence[model.SLO]) -> list[timeline.Line]:
    """Per SLO: its shortest window's SLI at each step, with the thresholds it is judged against."""
    out: list[timeline.Line] = []
    for spec in slos:
        window = min(queries.windows_of(spec))
        points: list[tuple[float, float]] = []
        for t in history.times:
            report = next((r for r in history.reports[t].get(metric, ()) if r.slo == spec.name), None)
            sample = next((s for s in report.samples if s.window == window), None) if report else None
            if sample is not None and sample.value is not None and math.isfinite(sample.value):
                points.append((t, sample.value))
        if spec.kind == "threshold":
            limits = [(f"threshold {spec.threshold:g}", spec.threshold)]
            label = f"{spec.name} ({model.format_duration(queries.threshold_lookback(spec))})"
        else:
            limits = [
                (f"{w.severity} {w.factor:g}x budget", w.factor * spec.budget)
                for w in sorted(set(spec.windows), key=lambda w: w.factor)
            ]
            label = f"{spec.name} error ratio ({model.format_duration(window)})"
        out.append(timeline.Line(label, points, limits))
    return out


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def to_json(result: Result) -> dict[str, Any]:
    return {
        "since": _iso(result.start),
        "until": _iso(result.end),
        "step_seconds": result.step,
        "flap_window_seconds": result.flap_window,
        "queries": result.queries,
        "errors": list(result.errors),
        "results": [
            {
                "app": o.app,
                "policy": o.policy,
                "action": o.kind,
                "replayable": o.replayable,
                "note": o.note,
                "fired_seconds": o.fired_seconds,
                "intervals": [
                    {"start": _iso(i.start), "end": _iso(i.end), "seconds": i.seconds, "open": i.open}
                    for i in o.intervals
                ],
                "flaps": o.flaps,
                "heals": [{"at": _iso(h.at), "action": h.kind, "reason": h.reason} for h in o.heals],
                "held_steps": o.held_steps,
            }
            for o in result.outcomes
        ],
    }


def dumps(result: Result) -> str:
    return json.dumps(to_json(result), indent=2)


def table(result: Result) -> str:
    head = (
        f"backtest {_iso(result.start)} .. {_iso(result.end)} at {model.format_duration(result.step)} steps "
        f"({result.queries} range queries)\n"
    )
    rows = [("APP", "POLICY", "FIRED", "FOR", "FLAPS", "HEALS", "WHEN")]
    for o in result.outcomes:
        if not o.replayable:
            rows.append((o.app, o.policy, "-", "-", "-", "-", o.note))
            continue
        when = ", ".join(f"{_iso(i.start)} +{model.format_duration(i.seconds)}" for i in o.intervals[:3])
        if len(o.intervals) > 3:
            when += f", ... ({len(o.intervals) - 3} more)"
        rows.append(
            (
                o.app,
                o.policy,
                str(len(o.intervals)),
                model.format_duration(o.fired_seconds) if o.fired_seconds else "0s",
                str(o.flaps),
                str(len(o.heals)),
                when or "never",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows]
    tail = "".join(f"error: {e}\n" for e in result.errors)
    return head + "\n".join(line.rstrip() for line in lines) + "\n" + tail


def write_svgs(result: Result, directory: Path) -> list[Path]:
    """One ``<app>.svg`` per app: its SLIs, thresholds and every policy's fire intervals."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for app, lines in sorted(result.series.items()):
        fired = [(o.policy, o.intervals) for o in result.outcomes if o.app == app and o.replayable]
        heals = [h.at for o in result.outcomes if o.app == app for h in o.heals]
        svg = timeline.render(app, result.start, result.end, lines, fired, heals)
        path = directory / f"{app.replace('/', '_')}.svg"
        path.write_text(svg)
        written.append(path)
    return written
