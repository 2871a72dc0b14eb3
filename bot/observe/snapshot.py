"""One cycle's observation of every managed app: Argo CD status plus SLO reports, as one Snapshot.

Argo CD is read with one list call (every enabled app namespace; apps outside the control-plane one are
named ``ns/name``) and Prometheus with one batched query per (SLO x window), all at one pinned
evaluation time. A multi-source app's status is focused on the Git source in the app's repo that holds
its paths. A failure of either system, or of one app, becomes data in the snapshot (an error string,
QUERY_ERROR samples), never an exception that stops the other apps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from bot import errors, model
from bot.clients import argoapp, argocd, prometheus
from bot.observe import collect


@dataclass(frozen=True)
class Target:
    """One configured app: its name for the bot, how to find it in Argo CD, its SLOs."""

    app: str
    argocd_app: str | None  # exact Application name (``ns/name`` or bare), or None when chosen by selector
    selector: Mapping[str, str] | None
    slos: tuple[str, ...]
    repo_url: str = ""  # the Git repo the bot edits: picks the source of a multi-source app
    paths: tuple[str, ...] = ()


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


def _named(wanted: str, statuses: Sequence[model.AppStatus]) -> list[model.AppStatus]:
    """Names are as the client writes them (bare in its default namespace, else ``ns/name``): exactly,
    else a bare name found in any one namespace."""
    exact = [s for s in statuses if s.name == wanted]
    if exact or "/" in wanted:
        return exact
    return [s for s in statuses if argoapp.split_name(s.name)[1] == wanted]


def _pick(target: Target, statuses: Sequence[model.AppStatus]) -> tuple[model.AppStatus | None, str]:
    if target.argocd_app is not None:
        found = _named(target.argocd_app, statuses)
    else:
        wanted = dict(target.selector or {})
        found = [s for s in statuses if all(s.labels.get(k) == v for k, v in wanted.items())]
    if len(found) == 1:
        status = found[0]
        if status.sources:
            index = argoapp.source_index(status.sources, target.repo_url, target.paths)
            status = argoapp.focus(status, index)
        return status, ""
    if not found:
        return None, f"no Argo CD application matches {target.argocd_app or dict(target.selector or {})}"
    return None, f"{len(found)} Argo CD applications match the selector: {', '.join(s.name for s in found)}"


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
) -> model.Snapshot:
    """Observe ``targets`` (or the subset named in ``only``) at one pinned time derived from ``now``."""
    chosen = [t for t in targets if only is None or t.app in only]
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

    slo_apps = {t.app: t.slos for t in chosen}
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
        status, why = (None, argo_error) if argo_error else _pick(t, statuses)
        replicas = reps.get(t.app)
        apps[t.app] = model.AppObservation(
            app=t.app,
            status=status,
            slos=reports.get(t.app, ()),
            error=why,
            load_per_replica=load.get(t.app),
            replicas=round(replicas) if replicas is not None else None,
        )
    return model.Snapshot(
        at=datetime.fromtimestamp(at, UTC), apps=MappingProxyType(apps), errors=tuple(problems)
    )
