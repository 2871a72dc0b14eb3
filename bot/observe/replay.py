"""Prometheus history as per-step SLO reports, for ``githeal backtest``: the cycle's own queries, replayed.

The batched (SLO x window) expressions of ``queries.plan`` are run as range queries at the cycle step,
one per expression (whatever the number of apps), cut into chunks below the server's 11,000-point cap.
Every step's answers are split by ``queries.parse`` and judged by ``slo.evaluate`` exactly as a live
cycle would. ``read`` is the only function doing I/O; the rest is pure. Argo CD has no past, so this
module knows nothing of it; it must not decide anything either.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from bot import errors, model
from bot.clients import prometheus
from bot.observe import queries, slo

MAX_POINTS = 10_000  # Prometheus refuses range queries of more than 11,000 points per series

Pairs = list[tuple[Mapping[str, str], float]]


def instants(start: float, end: float, step: float) -> tuple[float, ...]:
    """Evaluation instants aligned on ``step`` (as a live cycle pins them) within [start, end]."""
    if step <= 0 or end < start:
        return ()
    first = math.ceil(start / step) * step
    count = math.floor((end - first) / step) + 1
    return tuple(first + i * step for i in range(max(count, 0)))


def chunks(times: Sequence[float], size: int = MAX_POINTS) -> list[tuple[float, float]]:
    """(start, end) of consecutive runs of at most ``size`` instants."""
    return [(times[i], times[min(i + size, len(times)) - 1]) for i in range(0, len(times), size)]


def split(
    results: Sequence[prometheus.RangeResult], times: Sequence[float], step: float
) -> dict[float, Pairs]:
    """Range answers -> ``(labels, value)`` pairs per instant (timestamps matched on the step grid)."""
    out: dict[float, Pairs] = {t: [] for t in times}
    if not times:
        return out
    first = times[0]
    for result in results:
        for series in result.series:
            for ts, value in series.points:
                index = round((ts - first) / step)
                if 0 <= index < len(times) and abs(times[index] - ts) < 0.0005:
                    out[times[index]].append((series.labels, value))
    return out


@dataclass(frozen=True)
class History:
    """Per-step SLO reports of every app (keyed by the Prometheus app label), oldest step first."""

    times: tuple[float, ...]
    reports: Mapping[float, Mapping[str, tuple[model.SLOReport, ...]]]
    queries: int  # range queries sent (one per SLO x window x chunk)
    errors: tuple[str, ...] = ()
    load: Mapping[float, Mapping[str, float]] | None = None  # load per replica; None: not configured


def per_app(
    results: Sequence[prometheus.RangeResult], times: Sequence[float], step: float, label: str
) -> dict[float, dict[str, float]]:
    """A per-app range answer by step; non-finite or negative values are dropped (never a number)."""
    out: dict[float, dict[str, float]] = {t: {} for t in times}
    for t, pairs in split(results, times, step).items():
        for labels, value in pairs:
            app = labels.get(label)
            if app and math.isfinite(value) and value >= 0:
                out[t][app] = value
    return out


def read_load(
    client: prometheus.PrometheusClient,
    expr: str,
    times: Sequence[float],
    step: float,
    label: str,
    *,
    timeout: float | None = None,
) -> tuple[dict[float, dict[str, float]], int, list[str]]:
    """``prometheus.load_query`` at every step (chunked like ``read``): values, queries sent, errors."""
    results: list[prometheus.RangeResult] = []
    problems: list[str] = []
    for lo, hi in chunks(times):
        try:
            result = client.query_range(expr, lo, hi, step, timeout)
        except errors.ClientError as exc:
            problems.append(f"load_query: {exc}")
            continue
        if result.warnings:
            problems.append("load_query: warnings: " + "; ".join(result.warnings))
            continue
        results.append(result)
    return per_app(results, times, step, label), len(chunks(times)), problems


def evaluate(
    slos: Sequence[model.SLO],
    wanted: Mapping[str, Collection[str]],
    times: Sequence[float],
    answers: Mapping[tuple[str, float], Mapping[float, queries.WindowData]],
) -> dict[float, dict[str, tuple[model.SLOReport, ...]]]:
    """Pure: judge every step's WindowData with ``slo.evaluate`` (missing windows are QUERY_ERROR)."""
    out: dict[float, dict[str, tuple[model.SLOReport, ...]]] = {}
    for t in times:
        per_slo: dict[str, dict[str, model.SLOReport]] = {}
        for spec in slos:
            names = [app for app, used in wanted.items() if spec.name in used]
            data = {
                w: answers[(spec.name, w)][t] for w in queries.windows_of(spec) if (spec.name, w) in answers
            }
            per_slo[spec.name] = slo.evaluate(spec, names, data, t)
        out[t] = {
            app: tuple(per_slo[s.name][app] for s in slos if s.name in used) for app, used in wanted.items()
        }
    return out


def read(
    client: prometheus.PrometheusClient,
    slos: Sequence[model.SLO],
    wanted: Mapping[str, Collection[str]],
    start: float,
    end: float,
    step: float,
    *,
    timeout: float | None = None,
    load_query: str | None = None,
    app_label: str = "app",
) -> History:
    """Every step's reports between ``start`` and ``end`` (and the load per replica, when a
    ``load_query`` is given). A failed query makes its SLO's window QUERY_ERROR (or the load
    missing) at the steps it covered, recorded in ``errors``, never an exception."""
    used = [s for s in slos if any(s.name in names for names in wanted.values())]
    times = instants(start, end, step)
    answers: dict[tuple[str, float], dict[float, queries.WindowData]] = {}
    problems: list[str] = []
    sent = 0
    for q in queries.plan(used):
        spec = next(s for s in used if s.name == q.slo)
        per_step: dict[float, queries.WindowData] = {}
        for lo, hi in chunks(times):
            span = [t for t in times if lo <= t <= hi]
            sent += 1
            try:
                result = client.query_range(q.expr, lo, hi, step, timeout)
            except errors.ClientError as exc:
                problems.append(f"{q.slo} {model.format_duration(q.window)}: {exc}")
                per_step.update({t: queries.failed(q.window, str(exc)) for t in span})
                continue
            if result.warnings:
                why = "warnings: " + "; ".join(result.warnings)
                problems.append(f"{q.slo} {model.format_duration(q.window)}: {why}")
                per_step.update({t: queries.failed(q.window, why) for t in span})
                continue
            for t, pairs in split([result], span, step).items():
                per_step[t] = queries.parse(spec, q.window, pairs)
        answers[(q.slo, q.window)] = per_step
    reports = evaluate(used, wanted, times, answers)
    load = None
    if load_query:
        load, count, failures = read_load(client, load_query, times, step, app_label, timeout=timeout)
        sent += count
        problems += failures
    return History(times, reports, sent, tuple(problems), load)
