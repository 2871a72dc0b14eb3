"""One cycle's observation of every managed app: Argo CD status plus SLO reports, as one Snapshot.

Argo CD is read with one list call (every enabled app namespace; apps outside the control-plane one are
named ``ns/name``) and Prometheus with one batched query per (SLO x window), all at one pinned
evaluation time. A multi-source app's status is focused on the Git source in the app's repo that holds
its paths. A failure of either system, or of one app, becomes data in the snapshot (an error string,
QUERY_ERROR samples), never an exception that stops the other apps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from bot import errors, model, process
from bot.clients import argoapp, argocd, prometheus
from bot.observe import collect, deploys, rollouts


@dataclass(frozen=True)
class Target:
    """One configured app: its name for the bot, how to find it in Argo CD, its SLOs."""

    app: str
    argocd_app: str | None  # exact Application name (``ns/name`` or bare), or None when chosen by selector
    selector: Mapping[str, str] | None
    slos: tuple[str, ...]
    repo_url: str = ""  # the Git repo the bot edits: picks the source of a multi-source app
    paths: tuple[str, ...] = ()
    metric_name: str | None = None  # the Prometheus app label value, when it is not ``app``

    @property
    def metric(self) -> str:
        return self.metric_name or self.app


class Index:
    """Applications by exact (``ns/name`` or bare) and by bare name, built once per cycle: picking a
    target costs O(1), not a scan of the fleet."""

    def __init__(self, statuses: Sequence[model.AppStatus]) -> None:
        self.statuses = statuses
        self.by_name: dict[str, list[model.AppStatus]] = {}
        self.by_bare: dict[str, list[model.AppStatus]] = {}
        for s in statuses:
            self.by_name.setdefault(s.name, []).append(s)
            self.by_bare.setdefault(argoapp.split_name(s.name)[1], []).append(s)


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
    instants: int = 1  # evaluation steps observed per cycle (the longest ``cycles:`` of the policies)
    # the regression trigger's windows (the longest of the policies); 0: no policy needs deploy evidence
    deploy_window: float = 0.0
    deploy_baseline: float = 0.0
    rollouts: bool = False  # a policy reads Argo Rollouts canaries: read the Rollouts of apps that have some


def _named(wanted: str, index: Index) -> list[model.AppStatus]:
    """Names are as the client writes them (bare in its default namespace, else ``ns/name``): exactly,
    else a bare name found in any one namespace."""
    exact = index.by_name.get(wanted, [])
    if exact or "/" in wanted:
        return exact
    return index.by_bare.get(wanted, [])


def _pick(target: Target, index: Index) -> tuple[model.AppStatus | None, str]:
    if target.argocd_app is not None:
        found = _named(target.argocd_app, index)
    else:
        wanted = dict(target.selector or {})
        found = [s for s in index.statuses if all(s.labels.get(k) == v for k, v in wanted.items())]
    if len(found) == 1:
        status = found[0]
        if status.sources:
            status = argoapp.focus(
                status, argoapp.source_index(status.sources, target.repo_url, target.paths)
            )
        return status, ""
    if not found:
        return None, f"no Argo CD application matches {target.argocd_app or dict(target.selector or {})}"
    return None, f"{len(found)} Argo CD applications match: {', '.join(s.name for s in found)}"


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


def _per_app_history(
    client: prometheus.PrometheusClient,
    expr: str | None,
    times: Sequence[float],
    step: float,
    label: str,
    timeout: float | None,
) -> tuple[dict[float, dict[str, float]], str]:
    """``_per_app`` at each of ``times`` with one range query."""
    if not expr:
        return {}, ""
    try:
        result = client.query_range(expr, times[0], times[-1], step, timeout=timeout)
    except errors.PrometheusError as exc:
        return {}, str(exc)
    if result.warnings:
        return {}, "warnings: " + "; ".join(result.warnings)
    out: dict[float, dict[str, float]] = {t: {} for t in times}
    for series in result.series:
        app = series.labels.get(label)
        for ts, value in series.points:
            t = next((t for t in times if abs(t - ts) < 0.0005), None)
            if app and t is not None and math.isfinite(value) and value >= 0:
                out[t][app] = value
    return out, ""


Series = dict[float, dict[str, float]]  # evaluation instant -> app -> value


@dataclass(frozen=True)
class _Readings:
    """What Prometheus answered for one cycle, before the apps were known: the SLO answers at each
    evaluation instant, the per-app load and replicas, and the errors to report."""

    slos: frozenset[str]  # the SLO names queried
    answers: dict[float, list[collect.Answer]]
    loads: Series
    replicas: Series
    errors: list[str]


def _answers(sources: Sources, slos: Sequence[model.SLO], at: float) -> dict[float, list[collect.Answer]]:
    """The batched SLO queries at this cycle's instants: instant queries for one, range queries for more."""
    return collect.fetch_history(
        sources.prometheus, slos, at, sources.instants, sources.step, timeout=sources.timeout
    )


def _fetch(sources: Sources, names: Collection[str], at: float) -> _Readings:
    """The cycle's Prometheus queries (one batched query per SLO x window, or one range query when
    several instants are wanted, then load and replicas) for the SLOs named ``names``."""
    slos = [s for s in sources.slos if s.name in names]
    times = collect.instants(at, sources.instants, sources.step)
    lbl, tmo = sources.app_label, sources.timeout
    answers = _answers(sources, slos, at)
    if len(times) == 1:
        load, load_err = _per_app(sources.prometheus, sources.load_query, at, lbl, tmo)
        reps, reps_err = _per_app(sources.prometheus, sources.replicas_query, at, lbl, tmo)
        loads, replicas = {at: load}, {at: reps}
    else:
        args = (times, sources.step, lbl, tmo)
        loads, load_err = _per_app_history(sources.prometheus, sources.load_query, *args)
        replicas, reps_err = _per_app_history(sources.prometheus, sources.replicas_query, *args)
    found = frozenset(s.name for s in slos)
    return _Readings(found, answers, loads, replicas, [e for e in (load_err, reps_err) if e])


def _more(sources: Sources, got: _Readings, names: Collection[str], at: float) -> _Readings:
    """``got`` plus the answers of SLOs in ``names`` it lacks (an Application's annotation chose an
    SLO no template names): asked now, SLO queries only."""
    missing = [s for s in sources.slos if s.name in names and s.name not in got.slos]
    if not missing:
        return got
    extra = _answers(sources, missing, at)
    answers = {t: [*got.answers.get(t, []), *extra.get(t, [])] for t in got.answers.keys() | extra.keys()}
    names_now = got.slos | {s.name for s in missing}
    return _Readings(names_now, answers, got.loads, got.replicas, got.errors)


def _deploys(
    sources: Sources,
    chosen: Sequence[Target],
    statuses: Mapping[str, tuple[model.AppStatus | None, str]],
    at: float,
) -> dict[str, tuple[model.DeployEvidence, ...]]:
    """Deploy evidence for the apps whose synced revision went live within the regression window:
    batched by ``deploys.collect`` (one query per SLO and deploy age), keyed by the bot's app name."""
    if sources.deploy_window <= 0:
        return {}
    recent: dict[str, deploys.Deploy] = {}
    names: dict[str, Target] = {}
    for t in chosen:
        status = statuses[t.app][0]
        found = deploys.last_deploy(status) if status is not None else None
        if found is not None and 0 <= at - found.at <= sources.deploy_window + sources.step:
            recent[t.metric] = deploys.Deploy(t.metric, found.revision, found.at)
            names[t.metric] = t
    if not recent:
        return {}
    wanted = {name for t in names.values() for name in t.slos}
    slos = [s for s in sources.slos if s.name in wanted]
    found_ev = deploys.collect(
        sources.prometheus,
        slos,
        recent,
        at,
        step=sources.step,
        window=sources.deploy_window,
        baseline=sources.deploy_baseline,
        timeout=sources.timeout,
    )
    out: dict[str, list[model.DeployEvidence]] = {}
    for ev in found_ev:
        t = names[ev.app]
        if ev.data.slo in t.slos:
            out.setdefault(t.app, []).append(ev.data)
    return {app: tuple(items) for app, items in out.items()}


def _observations(
    chosen: Sequence[Target],
    statuses: Mapping[str, tuple[model.AppStatus | None, str]],
    reports: Mapping[str, tuple[model.SLOReport, ...]],
    load: Mapping[str, float],
    reps: Mapping[str, float],
    evidence: Mapping[str, tuple[model.DeployEvidence, ...]] | None = None,
) -> dict[str, model.AppObservation]:
    apps: dict[str, model.AppObservation] = {}
    for t in chosen:
        status, why = statuses[t.app]
        replicas = reps.get(t.metric)
        apps[t.app] = model.AppObservation(
            app=t.app,
            status=status,
            slos=reports.get(t.metric, ()),
            error=why,
            load_per_replica=load.get(t.metric),
            replicas=round(replicas) if replicas is not None else None,
            deploys=(evidence or {}).get(t.app, ()),
        )
    return apps


def observe(
    sources: Sources,
    targets: Sequence[Target],
    now: datetime,
    *,
    only: Sequence[str] | None = None,
    on_error: Callable[[str, str], None] | None = None,
    fleet: Callable[[Sequence[model.AppStatus]], Sequence[Target]] | None = None,
    fleet_slos: Collection[str] = (),
    owns: Callable[[str], bool] | None = None,
) -> model.Snapshot:
    """Observe ``targets`` (or the subset named in ``only``) at one pinned time derived from ``now``.

    ``fleet`` turns the listed Applications into more targets (discovery), whose templates name
    ``fleet_slos``; ``owns`` keeps only the apps of this replica's shard."""
    problems: list[str] = []

    def fail(system: str, message: str) -> None:
        problems.append(f"{system}: {message}")
        if on_error is not None:
            on_error(system, message)

    at = collect.evaluation_time(now.timestamp(), sources.step, sources.offset)
    wanted = set(only) if only is not None else None

    def mine(t: Target) -> bool:
        return (wanted is None or t.app in wanted) and (owns is None or owns(t.app))

    # Prometheus does not wait for Argo CD: its queries are per SLO, not per app, so they go out
    # beside the Application list, for the SLOs of the configured apps and of the fleet templates
    # (an annotation naming another SLO costs one more round after discovery).
    early = {name for t in targets if mine(t) for name in t.slos}
    if fleet is not None and (wanted is None or wanted - {t.app for t in targets}):
        early |= set(fleet_slos)  # some app asked for may be a discovered one
    prom_side = process.beside("githeal-observe", _fetch, sources, early, at)
    statuses: list[model.AppStatus] = []
    argo_error = ""
    try:
        statuses = sources.argocd.list_statuses(projects=sources.projects, resources=sources.rollouts)
    except errors.ArgoCDError as exc:
        argo_error = str(exc)
        fail("argocd", argo_error)

    every = list(targets)
    if fleet is not None and not argo_error:
        every.extend(fleet(statuses))
    chosen = [t for t in every if mine(t)]
    index = Index(statuses)
    slo_apps = {t.metric: t.slos for t in chosen}
    readings = _more(sources, prom_side.result(), {n for t in chosen for n in t.slos}, at)
    reports = collect.evaluate(sources.slos, slo_apps, readings.answers)
    loads, replicas = readings.loads, readings.replicas
    for err in readings.errors:
        fail("prometheus", err)
    picked = {t.app: (None, argo_error) if argo_error else _pick(t, index) for t in chosen}
    evidence = _deploys(sources, chosen, picked, at)

    def seen(t: float) -> dict[str, model.AppObservation]:
        return _observations(chosen, picked, reports.get(t, {}), loads.get(t, {}), replicas.get(t, {}))

    # Argo CD has no past: earlier instants carry today's status (label selectors need it), and the
    # triggers on Argo CD state read the newest snapshot only
    past = tuple(
        model.Snapshot(at=datetime.fromtimestamp(t, UTC), apps=MappingProxyType(seen(t)))
        for t in sorted(reports)
        if t != at
    )
    newest = _observations(
        chosen, picked, reports.get(at, {}), loads.get(at, {}), replicas.get(at, {}), evidence
    )
    if sources.rollouts:
        newest = rollouts.attach(sources.argocd, newest)
    return model.Snapshot(
        at=datetime.fromtimestamp(at, UTC),
        apps=MappingProxyType(newest),
        errors=tuple(problems),
        history=past,
    )
