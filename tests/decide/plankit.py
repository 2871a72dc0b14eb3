"""Builders for decision-core tests: plain frozen values, no fixtures with side effects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from bot import model
from bot.decide import memory as mem
from bot.decide import past as hist
from bot.decide import planner
from bot.settings import policy as pol

T0 = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # a Monday noon
TICK = timedelta(seconds=30)
BAD = "b" * 40
GOOD = "a" * 40
FAST = model.BurnWindow(model.Severity.PAGE, 3600, 300, 14.4)
SLOW_TICKET = model.BurnWindow(model.Severity.TICKET, 86400, 7200, 3.0)
S = model.SampleState


def status(
    app: str = "checkout",
    *,
    revision: str = BAD,
    health: model.HealthStatus = model.HealthStatus.HEALTHY,
    sync: model.SyncStatus = model.SyncStatus.SYNCED,
    labels: Mapping[str, str] | None = None,
    message: str = "",
) -> model.AppStatus:
    return model.AppStatus(
        name=app,
        project="default",
        repo_url="https://example.test/manifests.git",
        path=f"apps/{app}",
        target_revision="main",
        sync=sync,
        health=health,
        revision=revision,
        labels=MappingProxyType(dict(labels or {})),
        history=(
            model.Deployment(1, GOOD, T0 - timedelta(days=1)),
            model.Deployment(2, revision, T0 - timedelta(minutes=10)),
        ),
        health_message=message,
    )


def verdict(window: model.BurnWindow, long: float, short: float, budget: float = 0.01) -> model.WindowVerdict:
    bl, bs = long / budget, short / budget
    return model.WindowVerdict(
        window=window,
        long=model.Sample("x", "availability", window.long, S.OK, long, 10_000),
        short=model.Sample("x", "availability", window.short, S.OK, short, 1_000),
        firing=bl > window.factor and bs > window.factor,
        burn_long=bl,
        burn_short=bs,
    )


def report(
    app: str = "checkout",
    *,
    slo: str = "availability",
    page: bool = False,
    ticket: bool = False,
    state: model.SampleState = S.OK,
    threshold_breach: bool = False,
    reason: str = "",
) -> model.SLOReport:
    ratio = 0.312 if page else 0.001
    verdicts: tuple[model.WindowVerdict, ...] = (verdict(FAST, ratio, 0.305 if page else 0.001),)
    if ticket:
        verdicts += (verdict(SLOW_TICKET, 0.05, 0.06),)
    return model.SLOReport(
        app=app,
        slo=slo,
        state=state,
        page=page,
        ticket=ticket,
        threshold_breach=threshold_breach,
        verdicts=verdicts,
        reason=reason or ("page" if page else "within budget"),
    )


def obs(
    app: str = "checkout",
    *,
    st: model.AppStatus | bool | None = True,
    slos: Sequence[model.SLOReport] = (),
    load: float | None = None,
    replicas: int | None = None,
    hpa: tuple[int, int] | None = None,
    error: str = "",
) -> model.AppObservation:
    the_status = status(app) if st is True else (None if st is False or st is None else st)
    assert the_status is None or isinstance(the_status, model.AppStatus)
    return model.AppObservation(
        app=app,
        status=the_status,
        slos=tuple(slos),
        error=error,
        load_per_replica=load,
        replicas=replicas,
        hpa=hpa,
    )


def snap(*apps: model.AppObservation, at: datetime = T0) -> model.Snapshot:
    return model.Snapshot(at=at, apps=MappingProxyType({o.app: o for o in apps}))


def policy(
    name: str = "rollback-on-page",
    *,
    trigger: pol.Trigger | None = None,
    remedy: pol.Remedy | None = None,
    mode: model.Mode = model.Mode.AUTO,
    merge: pol.Merge = pol.Merge.DIRECT,
    cooldown: float = 3600.0,
    max_heals: pol.Budget | None = None,
    trust_after: int | None = None,
    names: tuple[str, ...] = ("*",),
    labels: Mapping[str, str] | None = None,
) -> pol.Policy:
    return pol.Policy(
        name=name,
        selector=pol.Selector(names, MappingProxyType(dict(labels or {}))),
        trigger=trigger or pol.SloTrigger(model.Severity.PAGE, 2),
        remedy=remedy or pol.Rollback("revert"),
        mode=mode,
        merge=merge,
        cooldown=cooldown,
        max_heals=max_heals,
        trust_after=trust_after,
    )


def scale_spec(**kw: float | int | None) -> pol.Scale:
    base: dict[str, float | int | None] = {
        "min": 2,
        "max": 10,
        "max_step_up": 4,
        "max_step_down": 1,
        "cooldown_up": 300.0,
        "cooldown_down": 900.0,
        "stabilization": 600.0,
        "target_per_replica": 60.0,
        "baseline": None,
    }
    base.update(kw)
    return pol.Scale(**base)  # type: ignore[arg-type]


def guardrails(**kw: Any) -> pol.Guardrails:
    base: dict[str, Any] = {"commit_budget": pol.Budget(100, 600.0), "max_breaching_share": None}
    base.update(kw)
    return pol.Guardrails(**base)


def heal(
    app: str = "checkout",
    *,
    action: str = "rollback",
    policy_name: str = "rollback-on-page",
    at: datetime = T0 - timedelta(days=1),
    commit: str = "c" * 40,
    heal_id: str = "0" * 12,
    verify: str = "success",
    trailers: Mapping[str, str] | None = None,
) -> model.HealRecord:
    return model.HealRecord(
        heal_id=heal_id,
        app=app,
        policy=policy_name,
        action=action,
        commit=commit,
        at=at,
        trailers=MappingProxyType(dict(trailers or {})),
        verify=verify,
    )


def proposal(
    *,
    heal_id: str = "1" * 12,
    app: str = "checkout",
    policy_name: str = "rollback-on-page",
    action: str = "rollback",
    state: str = "merged",
    by_bot: bool = False,
    verified: bool | None = True,
    number: int = 1,
    at: datetime = T0 - timedelta(days=2),
) -> hist.Proposal:
    return hist.Proposal(heal_id, app, policy_name, action, state, by_bot, verified, number, at)


def run(
    snapshots: Iterable[model.Snapshot],
    policies: Sequence[pol.Policy],
    *,
    rails: pol.Guardrails | None = None,
    history: hist.History | None = None,
    now: datetime | None = None,
) -> model.Plan:
    """Remember every snapshot in turn, then plan on the last one (``now`` defaults to its time)."""
    memory = mem.Memory()
    last = None
    for s in snapshots:
        memory = mem.remember(memory, s, policies)
        last = s
    assert last is not None
    return planner.plan(
        last, policies, rails or guardrails(), history or hist.History(), memory, now=now or last.at
    )


def cycles(n: int, *apps: model.AppObservation, start: datetime = T0) -> list[model.Snapshot]:
    """The same observation for ``n`` consecutive cycles ending at ``start + (n-1) ticks``."""
    return [snap(*apps, at=start + i * TICK) for i in range(n)]


def rollback_id(app: str = "checkout", revision: str = BAD) -> str:
    return model.heal_id(app, "rollback", revision)
