"""Read one policy's ``when`` against one app's observation in one cycle: FIRING, CLEAR or HOLD.

Only OK data can fire or clear: a non-OK SLO report, an unreadable Argo CD status, an Unknown health
or sync, a missing load figure all HOLD (slo-math.md 4.3: absence of evidence neither heals nor
recovers). Streaks across cycles live in ``memory``; this module sees one cycle and must not keep
state, read the clock or format anything but evidence strings.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

from bot import model
from bot.decide import canary, regression
from bot.settings import policy as pol

S = model.SampleState


class Reading(enum.StrEnum):
    FIRING = "firing"  # the condition holds on OK data this cycle
    CLEAR = "clear"  # OK data says the condition does not hold: streaks reset
    HOLD = "hold"  # no usable data this cycle: streaks neither grow nor reset


@dataclass(frozen=True)
class Signal:
    reading: Reading
    evidence: tuple[str, ...] = ()  # human-readable facts behind FIRING
    note: str = ""  # why HOLD (the bad data), or a one-line summary of FIRING
    suspect: bool = False  # HOLD while the raw condition looked true: worth a Skip saying why


def selects(policy: pol.Policy, obs: model.AppObservation) -> bool | None:
    """Whether the policy applies to the app; None when labels are needed but Argo CD was unreadable."""
    if obs.status is not None:
        return policy.selector.matches(obs.app, obs.status.labels)
    if not policy.selector.matches(obs.app, dict(policy.selector.labels)):
        return False  # the names alone rule it out
    return None if policy.selector.labels else True


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def describe_pair(slo: str, v: model.WindowVerdict) -> str:
    """``availability: error ratio 31.2% over 1h (burn 31.2x, threshold 14.4x) and 30.5% over 5m``."""
    long_w, short_w = model.format_duration(v.window.long), model.format_duration(v.window.short)
    burn = "n/a" if v.burn_long is None else f"{v.burn_long:.1f}x"
    return (
        f"{slo}: error ratio {pct(v.long.value)} over {long_w} (burn {burn}, "
        f"threshold {v.window.factor:g}x) and {pct(v.short.value)} over {short_w}"
    )


def _tier_fires(report: model.SLOReport, tier: model.Severity) -> bool:
    # A ticket policy means "at least ticket severity": a page burn is a stronger case of the same.
    return report.page if tier is model.Severity.PAGE else report.page or report.ticket


def _slo(trigger: pol.SloTrigger, obs: model.AppObservation) -> Signal:
    reports = [r for r in obs.slos if not trigger.slos or r.slo in trigger.slos]
    if not reports:
        return Signal(Reading.HOLD, note="no SLO report for this app")
    firing = [r for r in reports if r.state is S.OK and _tier_fires(r, trigger.tier)]
    if firing:
        severities = {model.Severity.PAGE} if trigger.tier is model.Severity.PAGE else set(model.Severity)
        evidence = tuple(
            describe_pair(r.slo, v)
            for r in firing
            for v in r.verdicts
            if v.firing and v.window.severity in severities
        ) or tuple(f"{r.slo}: {r.reason}" for r in firing)
        names = ", ".join(r.slo for r in firing)
        return Signal(Reading.FIRING, evidence, note=f"{trigger.tier} tier of {names}")
    bad = [r for r in reports if r.state is not S.OK]
    if bad:
        note = "; ".join(f"{r.slo} {r.state}: {r.reason}" for r in bad)
        return Signal(Reading.HOLD, note=note, suspect=any(_tier_fires(r, trigger.tier) for r in bad))
    return Signal(Reading.CLEAR)


def _threshold(trigger: pol.ThresholdTrigger, obs: model.AppObservation) -> Signal:
    report = next((r for r in obs.slos if r.slo == trigger.slo), None)
    if report is None:
        return Signal(Reading.HOLD, note=f"no report for threshold SLI {trigger.slo}")
    if report.state is not S.OK:
        return Signal(Reading.HOLD, note=f"{report.slo} {report.state}: {report.reason}")
    if report.threshold_breach:
        return Signal(Reading.FIRING, (f"{report.slo}: {report.reason}",), note=f"{report.slo} breach")
    return Signal(Reading.CLEAR)


def _health(trigger: pol.HealthTrigger, obs: model.AppObservation) -> Signal:
    if obs.status is None:
        return Signal(Reading.HOLD, note=f"Argo CD status unreadable: {obs.error or 'unknown error'}")
    health = obs.status.health
    if health in trigger.statuses:
        message = obs.status.health_message
        return Signal(Reading.FIRING, (message,) if message else (), note=str(health))
    if health is model.HealthStatus.UNKNOWN:
        return Signal(Reading.HOLD, note="Argo CD health Unknown")
    return Signal(Reading.CLEAR)


def _out_of_sync(obs: model.AppObservation) -> Signal:
    if obs.status is None:
        return Signal(Reading.HOLD, note=f"Argo CD status unreadable: {obs.error or 'unknown error'}")
    sync = obs.status.sync
    if sync is model.SyncStatus.OUT_OF_SYNC:
        detail = f"live differs from {obs.status.target_revision or 'Git'} at {obs.status.revision[:7]}"
        return Signal(Reading.FIRING, (detail,), note=str(sync))
    if sync is model.SyncStatus.UNKNOWN:
        return Signal(Reading.HOLD, note="Argo CD sync status Unknown")
    return Signal(Reading.CLEAR)


def load_value(obs: model.AppObservation) -> float | None:
    """Load per replica when usable: present, finite and not negative."""
    load = obs.load_per_replica
    if load is None or not math.isfinite(load) or load < 0:
        return None
    return load


def _load(trigger: pol.LoadTrigger, obs: model.AppObservation) -> Signal:
    load = load_value(obs)
    if load is None:
        return Signal(Reading.HOLD, note=f"no usable load per replica ({obs.load_per_replica!r})")
    if load > trigger.per_replica_above:
        fact = f"load {load:g} per replica > {trigger.per_replica_above:g}"
        if obs.replicas is not None:
            fact += f" on {obs.replicas} replicas"
        return Signal(Reading.FIRING, (fact,), note="load")
    return Signal(Reading.CLEAR)


def regression_rules(trigger: pol.RegressionTrigger, budget: float) -> regression.Rules:
    """The statistics' discipline for one SLO: one look per evaluation step over the analysis window."""
    return regression.Rules(
        alpha=trigger.alpha,
        looks=trigger.looks,
        min_ratio=trigger.min_ratio,
        min_increase=trigger.min_increase,
        budget=budget,
        min_events=trigger.min_events,
    )


def _regression(trigger: pol.RegressionTrigger, obs: model.AppObservation) -> Signal:
    """FIRING when one SLO's counts since the deploy regressed against its baseline; HOLD while the
    evidence cannot say (too few events, no or a bad baseline, unusable data); CLEAR otherwise."""
    if obs.status is None:
        return Signal(Reading.HOLD, note=f"Argo CD status unreadable: {obs.error or 'unknown error'}")
    current = [d for d in obs.deploys if d.revision == obs.status.revision]
    evidence = [d for d in current if not trigger.slos or d.slo in trigger.slos]
    if not evidence:
        return Signal(Reading.CLEAR)  # no deploy within the window (or none of the wanted SLOs)
    held: list[str] = []
    for d in evidence:
        if d.error or d.baseline is None or d.since is None:
            held.append(f"{d.slo}: {d.error or 'no data'}")
            continue
        result = regression.judge(d.baseline, d.since, regression_rules(trigger, d.budget))
        if result.regressed:
            rev = d.revision[:7]
            fact = f"{d.slo} after deploy of {rev} {model.format_duration(d.age)} ago: {result.detail}"
            return Signal(Reading.FIRING, (fact,), note=f"regression of {d.slo} since {rev}")
        if result.verdict is not regression.Verdict.CLEAN:
            held.append(f"{d.slo} {result.verdict}: {result.detail}")
    if held:
        return Signal(Reading.HOLD, note="; ".join(held))
    return Signal(Reading.CLEAR)


def read(trigger: pol.Trigger, obs: model.AppObservation) -> Signal:
    """This cycle's reading of ``trigger`` for one app."""
    if isinstance(trigger, pol.RolloutAbortedTrigger):
        found = canary.read(obs)
        return Signal(Reading(found.state), found.evidence, found.note, found.suspect)
    if isinstance(trigger, pol.RegressionTrigger):
        return _regression(trigger, obs)
    if isinstance(trigger, pol.SloTrigger):
        return _slo(trigger, obs)
    if isinstance(trigger, pol.ThresholdTrigger):
        return _threshold(trigger, obs)
    if isinstance(trigger, pol.HealthTrigger):
        return _health(trigger, obs)
    if isinstance(trigger, pol.OutOfSyncTrigger):
        return _out_of_sync(obs)
    return _load(trigger, obs)


def needed(trigger: pol.Trigger) -> tuple[int, float]:
    """(consecutive cycles, continuous seconds) the trigger needs before it may act."""
    if isinstance(trigger, pol.HealthTrigger | pol.OutOfSyncTrigger):
        return 1, trigger.duration
    return max(trigger.cycles, 1), 0.0  # a regression trigger has cycles == 1


def summary(trigger: pol.Trigger, count: int, held: float, signal: Signal) -> str:
    """The reason's first half: what fired and for how long, e.g. ``Degraded for 4m10s (needed 5m)``."""
    cycles, duration = needed(trigger)
    if isinstance(trigger, pol.HealthTrigger | pol.OutOfSyncTrigger):
        return f"{signal.note} for {model.format_duration(held)} (needed {model.format_duration(duration)})"
    plural = "s" if count != 1 else ""
    return f"{signal.note} fired on OK data for {count} consecutive cycle{plural} (needed {cycles})"


def evidence(trigger: pol.Trigger, held: float, signal: Signal) -> Sequence[str]:
    """Evidence lines; duration triggers say how long, e.g. ``Degraded for 4m10s: <message>``."""
    if isinstance(trigger, pol.HealthTrigger | pol.OutOfSyncTrigger):
        line = f"{signal.note} for {model.format_duration(held)}"
        return [f"{line}: {signal.evidence[0]}" if signal.evidence else line]
    return list(signal.evidence)
