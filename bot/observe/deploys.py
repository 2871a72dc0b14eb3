"""The regression trigger's data: per app, bad and all events since its last deploy and in a baseline before.

Apps whose synced revision went live within the analysis window are grouped by deploy age (rounded down
to the cycle step); each (SLO, age) group is one instant query whose parts, told apart by a
``githeal_part`` label, are the four counts plus ``up`` and the newest sample time. The number of
queries is bounded by window / step whatever the fleet size. ``plan`` and ``parse`` are pure;
``collect`` is the one function doing I/O and never raises: a failed query makes its apps hold.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot import errors, model
from bot.clients import prometheus
from bot.observe import queries

_SELECTOR_WINDOW = re.compile(r"\[\{window\}\]")
PARTS = ("since_bad", "since_total", "base_bad", "base_total", "newest", "up")


@dataclass(frozen=True)
class Deploy:
    """An app whose current revision went live at ``at`` (unix seconds): what the trigger analyses."""

    app: str
    revision: str
    at: float


@dataclass(frozen=True)
class Evidence:
    app: str
    data: model.DeployEvidence


@dataclass(frozen=True)
class Group:
    slo: str
    age: float  # seconds since the deploys of this group (rounded down to the step)
    apps: tuple[str, ...]
    expr: str


def last_deploy(status: model.AppStatus) -> Deploy | None:
    """When the synced revision went live: the newest history entry for it (``deployedAt``), else the
    finished operation that synced it. None when Argo CD gives no timestamp (nothing to compare)."""
    for entry in sorted(status.history, key=lambda d: d.id, reverse=True):
        if entry.revision == status.revision and entry.deployed_at is not None:
            return Deploy(status.name, status.revision, entry.deployed_at.timestamp())
    if (
        status.operation_finished_at is not None
        and status.operation_phase == "Succeeded"
        and status.operation_revision == status.revision
    ):
        return Deploy(status.name, status.revision, status.operation_finished_at.timestamp())
    return None


def _counts(template: str, window: str, seconds: float, offset: str = "") -> str:
    """Events of a per-app template over a window (optionally ending ``offset`` ago).

    ``increase`` templates are already counts; rate-like ones are scaled by the window (as
    ``queries.events_expr``). The offset is attached to every range selector of the template."""
    suffix = f"[{window}]" + (f" offset {offset}" if offset else "")
    expr = _SELECTOR_WINDOW.sub(lambda _m: suffix, template)
    if queries._INCREASE.search(template):
        return f"({expr})"
    return f"({expr}) * {seconds:g}"


def _part(expr: str, name: str) -> str:
    return f'label_replace({expr}, "{queries.PART}", "{name}", "", "")'


def group_query(slo: model.SLO, age: float, baseline: float) -> str:
    since, base, off = (model.format_duration(x) for x in (age, baseline, age))
    total_since = _counts(slo.total_query, since, age)
    total_base = _counts(slo.total_query, base, baseline, off)
    parts = [
        _part(f"({_counts(slo.error_query, since, age)}) or (0 * {total_since})", "since_bad"),
        _part(total_since, "since_total"),
        _part(f"({_counts(slo.error_query, base, baseline, off)}) or (0 * {total_base})", "base_bad"),
        _part(total_base, "base_total"),
    ]
    selector = queries.freshness_selector(slo)
    if selector:
        parts.append(_part(f"max by ({slo.app_label}) (timestamp({selector}))", "newest"))
    parts.append(_part(f'min by ({slo.app_label}) (up{{{slo.app_label}!=""}})', "up"))
    return "\n  or ".join(parts)


def plan(
    slos: Iterable[model.SLO],
    deploys: Mapping[str, Deploy],
    at: float,
    *,
    step: float,
    window: float,
    baseline: float,
) -> tuple[Group, ...]:
    """One query per (ratio SLO, deploy age) for the apps deployed within ``window`` before ``at``.

    An age shorter than one step has no data worth reading yet; the app is looked at next cycle."""
    by_age: dict[float, list[str]] = {}
    quantum = max(step, 1.0)
    for app, d in deploys.items():
        age = math.floor((at - d.at) / quantum) * quantum
        if quantum <= age <= window:
            by_age.setdefault(age, []).append(app)
    return tuple(
        Group(s.name, age, tuple(sorted(apps)), group_query(s, age, baseline))
        for s in slos
        if s.kind != "threshold"
        for age, apps in sorted(by_age.items())
    )


def _evidence(
    slo: model.SLO,
    deploy: Deploy,
    at: float,
    *,
    baseline: model.EventCounts | None = None,
    since: model.EventCounts | None = None,
    error: str = "",
) -> Evidence:
    when = datetime.fromtimestamp(deploy.at, UTC)
    data = model.DeployEvidence(
        slo.name, deploy.revision, when, at - deploy.at, baseline, since, error, budget=slo.budget
    )
    return Evidence(deploy.app, data)


def parse(
    slo: model.SLO,
    group: Group,
    deploys: Mapping[str, Deploy],
    series: Iterable[tuple[Mapping[str, str], float]],
    at: float,
) -> list[Evidence]:
    """Counts per app of one group's answer; missing, duplicated, NaN or stale data is an error."""
    parts: dict[str, dict[str, float]] = {p: {} for p in PARTS}
    duplicated: set[str] = set()
    for labels, value in series:
        part, app = labels.get(queries.PART), labels.get(slo.app_label)
        if part in parts and app:
            if app in parts[part]:
                duplicated.add(app)
            parts[part][app] = value
    out = []
    for app in group.apps:
        deploy = deploys[app]
        why = _unusable(app, slo, parts, duplicated, at)
        if why:
            out.append(_evidence(slo, deploy, at, error=why))
            continue
        baseline = model.EventCounts(parts["base_bad"].get(app, math.nan), parts["base_total"][app])
        since = model.EventCounts(parts["since_bad"].get(app, math.nan), parts["since_total"][app])
        out.append(_evidence(slo, deploy, at, baseline=baseline, since=since))
    return out


def _unusable(
    app: str, slo: model.SLO, parts: Mapping[str, Mapping[str, float]], duplicated: set[str], at: float
) -> str:
    if app in duplicated:
        return f"several series for {slo.app_label}={app!r}: the query must aggregate by it"
    if parts["up"].get(app) == 0:
        return "up == 0 for its targets"
    newest = parts["newest"].get(app)
    if queries.freshness_selector(slo) and (newest is None or at - newest > 2 * slo.scrape_interval):
        return "stale: no fresh sample" if newest is None else f"stale: newest sample {at - newest:.0f}s old"
    for name in ("since_total", "base_total"):
        value = parts[name].get(app)
        if value is None or not math.isfinite(value):
            return f"no {name.replace('_', ' ')} data"
    return ""


def collect(
    client: prometheus.PrometheusClient,
    slos: Sequence[model.SLO],
    deploys: Mapping[str, Deploy],
    at: float,
    *,
    step: float,
    window: float,
    baseline: float,
    timeout: float | None = None,
) -> list[Evidence]:
    """Run the groups' queries at ``at``; a failed or partial answer holds the apps of its group."""
    by_name = {s.name: s for s in slos}
    out: list[Evidence] = []
    for group in plan(slos, deploys, at, step=step, window=window, baseline=baseline):
        spec = by_name[group.slo]
        try:
            result = client.query(group.expr, at, timeout)
        except errors.ClientError as exc:
            out.extend(_evidence(spec, deploys[a], at, error=str(exc)) for a in group.apps)
            continue
        if result.warnings:
            note = "warnings: " + "; ".join(result.warnings)
            out.extend(_evidence(spec, deploys[a], at, error=note) for a in group.apps)
            continue
        out.extend(parse(spec, group, deploys, result.pairs(), at))
    return out
