"""Guardrails: each check returns why a candidate heal must be held back, or None to allow it.

State comes only from ``History`` (what Git and GitHub say) and the snapshot; time from ``now``.
Checks are small and independent so the planner can apply them in a fixed, documented order and
tests can show each one allowing and blocking. Must not do I/O, read the clock or build actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import model
from bot.decide import past as hist
from bot.settings import policy as pol

SCALE_DOWN_AFTER_ROLLBACK = 3600.0  # slo-math.md 5: never scale down within 1 h of a rollback


def paused(history: hist.History, app: str, kill_switch: str) -> str | None:
    if not history.paused_for(app):
        return None
    scope = "all apps" if not history.paused or "*" in (history.paused or ()) else app
    return f"paused by the kill switch {kill_switch} ({scope})"


def frozen(guardrails: pol.Guardrails, now: datetime) -> str | None:
    window = guardrails.frozen_by(now)
    if window is None:
        return None
    why = f": {window.reason}" if window.reason else ""
    return f"change freeze ({window.cron} for {model.format_duration(window.duration)}){why}"


def circuit_open(history: hist.History, app: str) -> str | None:
    ref = history.open_escalations.get(app)
    return f"circuit open: escalation {ref} is unresolved" if ref is not None else None


def breaching(obs: model.AppObservation) -> str | None:
    """Why an app counts as breaching for the blast-radius guard: an SLO breach on OK data or an
    Argo CD health of Degraded/Missing. Non-OK data is not a breach (it says nothing either way)."""
    slos = [r.slo for r in obs.slos if r.state is model.SampleState.OK and r.breaching]
    if slos:
        return "SLO " + ", ".join(slos)
    if obs.status is not None and obs.status.health in (
        model.HealthStatus.DEGRADED,
        model.HealthStatus.MISSING,
    ):
        return str(obs.status.health)
    return None


@dataclass(frozen=True)
class Blast:
    apps: tuple[str, ...]  # breaching apps, sorted
    observed: int
    escalation: str


def blast_radius(
    snapshot: model.Snapshot, guardrails: pol.Guardrails, also: Mapping[str, str] | None = None
) -> Blast | None:
    """One escalation when too many apps breach at once: the cause is likely shared, not per app.

    ``also``: apps breaching by another reading than their burn-rate tiers and health (a regression
    trigger firing right after a deploy): a fleet-wide regression is a shared cause, not N rollbacks.
    The share rule needs at least two breaching apps, so a lone app (or a one-app fleet) can heal.
    """
    why = {app: reason for app, obs in snapshot.apps.items() if (reason := breaching(obs)) is not None}
    for app, reason in (also or {}).items():
        if app in snapshot.apps:
            why.setdefault(app, reason)
    count, observed = len(why), len(snapshot.apps)
    if count == 0:
        return None
    limits = []
    share = guardrails.max_breaching_share
    if share is not None and count >= 2 and count / observed > share:
        limits.append(f"{count / observed:.0%} of {observed} observed apps > max share {share:.0%}")
    if guardrails.max_breaching_apps is not None and count > guardrails.max_breaching_apps:
        limits.append(f"{count} apps > max {guardrails.max_breaching_apps}")
    if not limits:
        return None
    apps = tuple(sorted(why))
    health = sum(1 for a in apps if not why[a].startswith(("SLO ", "regression ")))
    if health * 2 > count:
        cause = "the cluster or Argo CD itself (most report Degraded/Missing health)"
    else:
        cause = "Prometheus (scrape or recording rules) or a dependency the apps share"
    detail = "; ".join(f"{a}: {why[a]}" for a in apps)
    errors = f" Observe errors: {'; '.join(snapshot.errors)}." if snapshot.errors else ""
    escalation = (
        f"blast radius: {count} of {observed} apps breach in the same cycle ({', '.join(limits)}); "
        f"every automatic heal is held. Suspected shared cause: {cause}. Breaching: {detail}.{errors}"
    )
    return Blast(apps, observed, escalation)


def cooldown(history: hist.History, policy: pol.Policy, app: str, now: datetime) -> str | None:
    return _since_last(history, app, policy.kind, policy.cooldown, now=now, what="cooldown")


def _since_last(
    history: hist.History, app: str, action: str, seconds: float, *, now: datetime, what: str
) -> str | None:
    last = hist.last_heal_at(history, app, action)
    if last is None or seconds <= 0:
        return None
    elapsed = (now - last[0]).total_seconds()
    if elapsed >= seconds:
        return None
    return (
        f"{what}: last {action} of {app} ({last[1]}) was {model.format_duration(max(elapsed, 0))} ago, "
        f"needs {model.format_duration(seconds)}"
    )


def scale_cooldown(
    history: hist.History, app: str, direction: str, spec: pol.Scale, now: datetime
) -> str | None:
    """Up waits ``cooldown_up``, down waits ``cooldown_down``, both since the newest scale of either way."""
    seconds = spec.cooldown_up if direction == "up" else spec.cooldown_down
    return _since_last(
        history, app, model.ActionKind.SCALE, seconds, now=now, what=f"scale-{direction} cooldown"
    )


def max_heals(history: hist.History, policy: pol.Policy, app: str, now: datetime) -> str | None:
    budget = policy.max_heals
    if budget is None:
        return None
    done = hist.heals_since(history, now - timedelta(seconds=budget.per), app=app, policy=policy.name)
    if done < budget.count:
        return None
    return (
        f"max heals: {done} heals of {app} by {policy.name} in the last {model.format_duration(budget.per)}"
    )


def commit_budget(
    guardrails: pol.Guardrails, history: hist.History, now: datetime, planned: int
) -> str | None:
    """The global runaway guard: heal commits in the window plus writes already planned this cycle."""
    budget = guardrails.commit_budget
    used = hist.commits_since(history, now - timedelta(seconds=budget.per)) + planned
    if used < budget.count:
        return None
    return f"commit budget spent: {used} of {budget.count} heals per {model.format_duration(budget.per)}"


def rollback_safety(history: hist.History, app: str, revision: str) -> str | None:
    """Never undo a heal commit, never go past the revision a heal restored as known-good."""
    heal = hist.heal_commit(history, revision)
    if heal is not None:
        return (
            f"revision {revision[:7]} is itself heal {heal.heal_id} ({heal.action} by {heal.policy}): "
            "never roll back a heal, escalate instead"
        )
    restored = hist.restored_by(history, app, revision)
    if restored is not None:
        return (
            f"revision {revision[:7]} is the known-good revision heal {restored.heal_id} restored: "
            "never roll back past it, escalate instead"
        )
    return None


def scale_interlock(
    history: hist.History, obs: model.AppObservation, direction: str, now: datetime
) -> str | None:
    """No scaling while a rollback is in flight; no scale-down while any SLO tier fires, while SLO
    data is partial, or within an hour of a rollback."""
    pending = hist.rollback_pending(history, obs.app)
    if pending is not None:
        return f"scaling frozen while a rollback is in flight: {pending}"
    if direction != "down":
        return None
    firing = [r.slo for r in obs.slos if r.page or r.ticket]
    if firing:
        return f"no scale-down while an SLO tier fires ({', '.join(firing)})"
    partial = [r.slo for r in obs.slos if r.state is model.SampleState.QUERY_ERROR]
    if partial:
        return f"no scale-down on partial SLO data ({', '.join(partial)}: QUERY_ERROR)"
    recent = hist.rolled_back_within(history, obs.app, now, SCALE_DOWN_AFTER_ROLLBACK)
    if recent is not None:
        ago = model.format_duration(max((now - recent.at).total_seconds(), 0))
        return f"no scale-down within 1h of a rollback ({recent.commit[:7]}, {ago} ago)"
    return None


def trust(policy: pol.Policy, history: hist.History) -> tuple[model.Mode, str]:
    """Effective mode under earned trust, and why it was downgraded ("" when not).

    Events in time order: a PR of this policy merged by a human and verified earns one point; a
    failed verification of any heal of this policy resets the count to zero and, from then on, at
    least one fresh point is needed even with ``trust_after: 0``.
    """
    if policy.mode is not model.Mode.AUTO or policy.trust_after is None:
        return policy.mode, ""
    events: list[tuple[datetime, int, str]] = [
        (p.at, 0, f"PR #{p.number}")
        for p in history.proposals
        if p.policy == policy.name
        and p.state == "merged"
        and not p.merged_by_bot
        and hist.verified(history, p)
    ]
    events += [(h.at, 1, h.commit[:7]) for h in hist.failures(history, policy.name)]
    points, failed = 0, ""
    for _, kind, what in sorted(events):
        if kind == 0:
            points += 1
        else:
            points, failed = 0, what
    needed = max(policy.trust_after, 1) if failed else policy.trust_after
    if points >= needed:
        return model.Mode.AUTO, ""
    if failed:
        why = f"verification of {failed} failed; {points} of {needed} human-merged verified PRs since"
    else:
        why = f"{points} of {needed} human-merged verified PRs so far"
    return model.Mode.PROPOSE, f"auto downgraded to propose until trusted: {why}"
