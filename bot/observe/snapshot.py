"""One cycle's observation of every managed app: Argo CD status plus SLO reports, as one Snapshot.

Argo CD is read with one list call and Prometheus with one batched query per (SLO x window), all at
one pinned evaluation time. A failure of either system, or of one app, becomes data in the snapshot
(an error string, QUERY_ERROR samples), never an exception that stops the other apps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from bot import errors, model
from bot.clients import argocd, prometheus
from bot.observe import collect


@dataclass(frozen=True)
class Target:
    """One configured app: its name for the bot, how to find it in Argo CD, its SLOs."""

    app: str
    argocd_app: str | None  # exact Application name, or None when chosen by selector
    selector: Mapping[str, str] | None
    slos: tuple[str, ...]
    metric_name: str | None = None  # the Prometheus app label value, when it is not ``app``
    app_namespace: str | None = None  # the Application's namespace, when several may share a name

    @property
    def metric(self) -> str:
        return self.metric_name or self.app


class Index:
    """Applications by name, built once per cycle: picking a target costs O(1), not O(fleet)."""

    def __init__(self, statuses: Sequence[model.AppStatus]) -> None:
        self.statuses = statuses
        self.by_name: dict[str, list[model.AppStatus]] = {}
        for s in statuses:
            self.by_name.setdefault(s.name, []).append(s)


@dataclass(frozen=True)
class Sources:
    argocd: argocd.ArgoCDClient
    prometheus: prometheus.PrometheusClient
    slos: Sequence[model.SLO]
    projects: tuple[str, ...] = ()
    app_label: str = "app"
    step: float = 30.0
    offset: float = 15.0
    timeout: float | None = None
    load_query: str | None = None
    replicas_query: str | None = None


def _pick(target: Target, index: Index) -> tuple[model.AppStatus | None, str]:
    if target.argocd_app is not None:
        found = index.by_name.get(target.argocd_app, [])
        if target.app_namespace:
            found = [s for s in found if s.app_namespace in ("", target.app_namespace)]
    else:
        wanted = dict(target.selector or {})
        found = [s for s in index.statuses if all(s.labels.get(k) == v for k, v in wanted.items())]
    if len(found) == 1:
        return found[0], ""
    if not found:
        return None, f"no Argo CD application matches {target.argocd_app or dict(target.selector or {})}"
    names = ", ".join(f"{s.app_namespace}/{s.name}" if s.app_namespace else s.name for s in found)
    return None, f"{len(found)} Argo CD applications match: {names}"


def _per_app(
    client: prometheus.PrometheusClient, expr: str | None, at: float, label: str, timeout: float | None
) -> tuple[dict[str, float], str]:
    """A per-app instant vector; non-finite values are dropped (missing data is never a number)."""
    if not expr:
        return {}, ""
    try:
        result = client.query(expr, at, timeout=timeout)
    except errors.PrometheusError as exc:
        return {}, str(exc)
    if result.warnings:
        return {}, "warnings: " + "; ".join(result.warnings)
    return {k: v for k, v in result.by(label).items() if math.isfinite(v) and v >= 0}, ""


def observe(
    sources: Sources,
    targets: Sequence[Target],
    now: datetime,
    *,
    only: Sequence[str] | None = None,
    on_error: Callable[[str, str], None] | None = None,
    fleet: Callable[[Sequence[model.AppStatus]], Sequence[Target]] | None = None,
    owns: Callable[[str], bool] | None = None,
) -> model.Snapshot:
    """Observe ``targets`` (or the subset named in ``only``) at one pinned time derived from ``now``.

    ``fleet`` turns the listed Applications into more targets (discovery); ``owns`` keeps only the
    apps of this replica's shard."""
    problems: list[str] = []

    def fail(system: str, message: str) -> None:
        problems.append(f"{system}: {message}")
        if on_error is not None:
            on_error(system, message)

    at = collect.evaluation_time(now.timestamp(), sources.step, sources.offset)
    statuses: list[model.AppStatus] = []
    argo_error = ""
    try:
        statuses = sources.argocd.list_statuses(projects=sources.projects)
    except errors.ArgoCDError as exc:
        argo_error = str(exc)
        fail("argocd", argo_error)

    every = list(targets)
    if fleet is not None and not argo_error:
        every.extend(fleet(statuses))
    wanted = set(only) if only is not None else None
    chosen = [t for t in every if (wanted is None or t.app in wanted) and (owns is None or owns(t.app))]
    index = Index(statuses)
    slo_apps = {t.metric: t.slos for t in chosen}
    reports = collect.collect_slos(sources.prometheus, sources.slos, slo_apps, at, timeout=sources.timeout)
    load, load_err = _per_app(sources.prometheus, sources.load_query, at, sources.app_label, sources.timeout)
    reps, reps_err = _per_app(
        sources.prometheus, sources.replicas_query, at, sources.app_label, sources.timeout
    )
    for err in (load_err, reps_err):
        if err:
            fail("prometheus", err)

    apps: dict[str, model.AppObservation] = {}
    for t in chosen:
        status, why = (None, argo_error) if argo_error else _pick(t, index)
        replicas = reps.get(t.metric)
        apps[t.app] = model.AppObservation(
            app=t.app,
            status=status,
            slos=reports.get(t.metric, ()),
            error=why,
            load_per_replica=load.get(t.metric),
            replicas=round(replicas) if replicas is not None else None,
        )
    return model.Snapshot(
        at=datetime.fromtimestamp(at, UTC), apps=MappingProxyType(apps), errors=tuple(problems)
    )
