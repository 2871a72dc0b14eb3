"""The SLO half of observe's I/O: run one cycle's batched queries and evaluate every app's SLOs.

Every query of a cycle is pinned to the same evaluation time and runs on a small thread pool (the
server allows 20 concurrent queries; we use at most 4). A failed query becomes QUERY_ERROR samples
for the SLO it belonged to; it never raises, so one bad SLO or app cannot stop the others.
``collect_history`` runs the same batched queries over the last N evaluation steps (one range query
each, same cost in calls), so "held for N cycles" is read from the data, never counted in memory.
This module must not decide anything: it only fetches and hands the answers to ``slo.evaluate``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bot import errors, model
from bot.clients import prometheus
from bot.observe import queries, slo

MAX_CONCURRENCY = 4


def evaluation_time(now: float, step: float, offset: float) -> float:
    """``floor(now / step) * step - offset``: every query of a tick sees the same, settled instant.

    ``offset`` (about one scrape interval, like ``rule_query_offset``) leaves time for ingestion.
    """
    if step <= 0:
        return now - offset
    return math.floor(now / step) * step - offset


@dataclass(frozen=True)
class Answer:
    """What one batched query produced, kept for logs and the cycle's metrics."""

    query: queries.BatchQuery
    data: queries.WindowData


def fetch(
    client: prometheus.PrometheusClient,
    slos: Sequence[model.SLO],
    at: float,
    *,
    timeout: float | None = None,
    concurrency: int = MAX_CONCURRENCY,
) -> list[Answer]:
    """Run ``queries.plan(slos)`` at ``at``; failures and warnings come back as ``WindowData.error``."""
    by_name = {s.name: s for s in slos}
    planned = queries.plan(slos)
    if not planned:
        return []

    def run(q: queries.BatchQuery) -> Answer:
        spec = by_name[q.slo]
        try:
            result = client.query(q.expr, at, timeout)
        except errors.ClientError as exc:
            return Answer(q, queries.failed(q.window, str(exc)))
        if result.warnings:
            # Partial data (e.g. a Thanos store down) must not look like a clean answer.
            return Answer(q, queries.failed(q.window, "warnings: " + "; ".join(result.warnings)))
        return Answer(q, queries.parse(spec, q.window, result.pairs()))

    workers = max(1, min(concurrency, MAX_CONCURRENCY, len(planned)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="githeal-prom") as pool:
        return list(pool.map(run, planned))


def collect_slos(
    client: prometheus.PrometheusClient,
    slos: Sequence[model.SLO],
    apps: Collection[str] | Mapping[str, Collection[str]],
    at: float,
    *,
    timeout: float | None = None,
    concurrency: int = MAX_CONCURRENCY,
) -> dict[str, tuple[model.SLOReport, ...]]:
    """Reports for every app, in the order of ``slos``.

    ``apps`` is either the expected app names (every SLO applies to every app) or a mapping
    app -> names of the SLOs that apply to it. Expected apps matter: an app missing from an answer
    is reported NO_SERIES, not silently skipped. Only SLOs some app uses are queried.
    """
    answers = fetch(client, used_slos(slos, apps), at, timeout=timeout, concurrency=concurrency)
    return evaluate(slos, apps, {at: answers})[at]


def used_slos(
    slos: Sequence[model.SLO], apps: Collection[str] | Mapping[str, Collection[str]]
) -> list[model.SLO]:
    """The SLOs of ``slos`` that some app of ``apps`` uses, in order: the only ones worth a query."""
    wanted = _wanted(slos, apps)
    return [s for s in slos if any(s.name in names for names in wanted.values())]


def evaluate(
    slos: Sequence[model.SLO],
    apps: Collection[str] | Mapping[str, Collection[str]],
    answers: Mapping[float, Sequence[Answer]],
) -> dict[float, dict[str, tuple[model.SLOReport, ...]]]:
    """Every app's reports at each instant of ``answers`` (from ``fetch`` or ``fetch_history``, which
    may have been sent before the apps were known); answers of SLOs no app uses are ignored."""
    wanted = _wanted(slos, apps)
    used = [s for s in slos if any(s.name in names for names in wanted.values())]
    return {t: _reports(used, wanted, per_instant, t) for t, per_instant in answers.items()}


def _wanted(
    slos: Sequence[model.SLO], apps: Collection[str] | Mapping[str, Collection[str]]
) -> dict[str, frozenset[str]]:
    every = frozenset(s.name for s in slos)
    if isinstance(apps, Mapping):
        return {app: frozenset(names) & every for app, names in apps.items()}
    return dict.fromkeys(apps, every)


def instants(at: float, count: int, step: float) -> tuple[float, ...]:
    """The last ``count`` evaluation instants ending at ``at``, oldest first."""
    n = max(1, count) if step > 0 else 1
    return tuple(at - (n - 1 - i) * step for i in range(n))


def fetch_history(
    client: prometheus.PrometheusClient,
    slos: Sequence[model.SLO],
    at: float,
    count: int,
    step: float,
    *,
    timeout: float | None = None,
    concurrency: int = MAX_CONCURRENCY,
) -> dict[float, list[Answer]]:
    """``fetch`` at each of ``instants(at, count, step)``: one range query per batched expression."""
    times = instants(at, count, step)
    if len(times) == 1 or step <= 0:
        return {at: fetch(client, slos, at, timeout=timeout, concurrency=concurrency)}
    by_name = {s.name: s for s in slos}
    planned = queries.plan(slos)

    def run(q: queries.BatchQuery) -> dict[float, Answer]:
        try:
            result = client.query_range(q.expr, times[0], times[-1], step, timeout)
        except errors.ClientError as exc:
            return {t: Answer(q, queries.failed(q.window, str(exc))) for t in times}
        if result.warnings:
            bad = queries.failed(q.window, "warnings: " + "; ".join(result.warnings))
            return {t: Answer(q, bad) for t in times}
        pairs: dict[float, list[tuple[Mapping[str, str], float]]] = {t: [] for t in times}
        for series in result.series:
            for ts, value in series.points:
                t = _nearest(times, ts)
                if t is not None:
                    pairs[t].append((series.labels, value))
        return {t: Answer(q, queries.parse(by_name[q.slo], q.window, pairs[t])) for t in times}

    out: dict[float, list[Answer]] = {t: [] for t in times}
    if not planned:
        return out
    workers = max(1, min(concurrency, MAX_CONCURRENCY, len(planned)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="githeal-prom") as pool:
        for per_instant in pool.map(run, planned):
            for t, answer in per_instant.items():
                out[t].append(answer)
    return out


def _nearest(times: Sequence[float], ts: float) -> float | None:
    # range answers carry millisecond timestamps; match them back to the requested instants
    return next((t for t in times if abs(t - ts) < 0.0005), None)


def collect_history(
    client: prometheus.PrometheusClient,
    slos: Sequence[model.SLO],
    apps: Collection[str] | Mapping[str, Collection[str]],
    at: float,
    count: int,
    step: float,
    *,
    timeout: float | None = None,
    concurrency: int = MAX_CONCURRENCY,
) -> dict[float, dict[str, tuple[model.SLOReport, ...]]]:
    """``collect_slos`` at each of the last ``count`` evaluation steps (keys oldest first)."""
    used = used_slos(slos, apps)
    answers = fetch_history(client, used, at, count, step, timeout=timeout, concurrency=concurrency)
    return evaluate(slos, apps, answers)


def _reports(
    used: Sequence[model.SLO], wanted: Mapping[str, frozenset[str]], answers: Sequence[Answer], at: float
) -> dict[str, tuple[model.SLOReport, ...]]:
    data: dict[str, dict[float, queries.WindowData]] = {}
    for answer in answers:
        data.setdefault(answer.query.slo, {})[answer.query.window] = answer.data
    reports: dict[str, dict[str, model.SLOReport]] = {}
    for spec in used:
        names = [app for app, slo_names in wanted.items() if spec.name in slo_names]
        reports[spec.name] = slo.evaluate(spec, names, data.get(spec.name, {}), at)
    return {
        app: tuple(reports[s.name][app] for s in used if s.name in slo_names)
        for app, slo_names in wanted.items()
    }
