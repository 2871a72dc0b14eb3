"""Turn a fired policy into one candidate heal: the ``do`` part, with its params, reason and Heal-Id.

Each remedy names what the act stage needs in ``Action.params`` (documented on ``build``). Heal ids
are deterministic (``model.heal_id``) from the incident only: the app, the action kind and the subject
it answers (the bad revision, the drifted revision, the observed replica count), never the policy that
noticed it nor a policy's own numbers, so two policies and two replicas seeing one incident agree.
Guardrails are applied later by the planner; this module must not look at History beyond what a
scale decision needs, and must not do I/O or read the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from bot import model
from bot.decide import memory as mem
from bot.decide import past as hist
from bot.decide import scaling, triggers
from bot.settings import policy as pol
from bot.settings import tree


@dataclass(frozen=True)
class Candidate:
    """A heal the policy wants, before guardrails: the action, plus an escalation if it cannot heal."""

    action: model.Action | None
    skip: str = ""  # why no action could be built (no data, deadband, ...)
    escalate: str = ""  # a human should know even though nothing is planned
    change: scaling.Change | None = None


@dataclass(frozen=True)
class Fired:
    """Why the policy fired this cycle: the reason's first half and the evidence lines."""

    summary: str
    evidence: tuple[str, ...]


def _params(policy: pol.Policy, extra: Mapping[str, Any]) -> Mapping[str, Any]:
    base: dict[str, Any] = {
        "merge": policy.merge.value,
        "pr_labels": policy.pr_labels,
        "pr_reviewers": policy.pr_reviewers,
    }
    return MappingProxyType({**base, **extra})


def _action(
    policy: pol.Policy,
    app: str,
    subject: str,
    *,
    reason: str,
    evidence: Sequence[str],
    params: Mapping[str, Any],
) -> model.Action:
    return model.Action(
        app=app,
        kind=policy.kind,
        policy=policy.name,
        mode=policy.mode,
        reason=reason,
        heal_id=model.heal_id(app, policy.kind.value, subject),
        evidence=tuple(evidence),
        params=_params(policy, params),
    )


def build(
    policy: pol.Policy, obs: model.AppObservation, fired: Fired, app: tree.AppSpec | None = None
) -> Candidate:
    """The candidate for a fired policy. Params by kind (plus merge, pr_labels, pr_reviewers always):

    - rollback: strategy (the policy's, else the app's configured one, else ""), bad_revision,
      previous_revision (newest other revision in Argo CD history, "" if none), path, repo_url,
      target_revision; for a rollout_aborted trigger also stable_images (of the stable ReplicaSets).
      Heal-Id subject: the bad revision.
    - restart: annotation, path, revision. Subject: the revision (a restart commit changes it).
    - reconcile: mode (adopt|enforce), path, revision, target_revision. Subject: "mode:revision".
    - notify: labels, revision. Subject: the revision (one issue per incident, whichever policy saw it).
    - scale: see ``scale_up``/``scale_down``.
    """
    remedy, status = policy.remedy, obs.status
    if isinstance(remedy, pol.Notify):
        revision = status.revision if status else ""
        reason = f"{fired.summary}: notify"
        params = {"labels": remedy.labels, "revision": revision}
        return Candidate(
            _action(
                policy,
                obs.app,
                revision,
                reason=reason,
                evidence=fired.evidence,
                params=params,
            )
        )
    if status is None:
        return Candidate(
            None, skip=f"Argo CD status unreadable, cannot {policy.kind}: {obs.error or 'unknown'}"
        )
    if isinstance(remedy, pol.Rollback):
        # The app's newest deployment, not status.revision: in a monorepo the synced revision moves
        # with every unrelated commit, which would change the heal id (and the act stage's target).
        bad = (status.history[-1].revision if status.history else "") or status.revision
        if not bad:
            return Candidate(None, skip="Argo CD reports no deployed revision to roll back")
        previous = next((d.revision for d in reversed(status.history) if d.revision != bad), "")
        if not previous:
            # lets a weaker heal (scale, restart) act instead of a rollback the act stage must refuse
            return Candidate(
                None, skip=f"no earlier deployment of {bad[:7]} in Argo CD history to roll back to"
            )
        strategy = remedy.strategy or (app.rollback if app is not None else "")
        reason = f"{fired.summary}: roll back {bad[:7]} ({strategy or 'app default'} strategy)"
        params = {
            "strategy": strategy,
            "bad_revision": bad,
            "previous_revision": previous,
            "path": status.path,
            "repo_url": status.repo_url,
            "target_revision": status.target_revision,
        }
        if isinstance(policy.trigger, pol.RolloutAbortedTrigger):
            # the act stage rolls back to the deployment that runs these (the canary's stable ReplicaSet)
            stable = {i for r in obs.rollouts if r.abort_reported for i in r.stable_images}
            params["stable_images"] = tuple(sorted(stable))
        return Candidate(_action(policy, obs.app, bad, reason=reason, evidence=fired.evidence, params=params))
    if isinstance(remedy, pol.Restart):
        reason = f"{fired.summary}: restart (bump {remedy.annotation})"
        params = {"annotation": remedy.annotation, "path": status.path, "revision": status.revision}
        return Candidate(
            _action(policy, obs.app, status.revision, reason=reason, evidence=fired.evidence, params=params)
        )
    if isinstance(remedy, pol.Reconcile):
        how = "adopt live state into Git" if remedy.mode == "adopt" else "sync live state back to Git"
        reason = f"{fired.summary}: reconcile ({how})"
        params = {
            "mode": remedy.mode,
            "path": status.path,
            "revision": status.revision,
            "target_revision": status.target_revision,
        }
        subject = f"{remedy.mode}:{status.revision}"
        return Candidate(
            _action(policy, obs.app, subject, reason=reason, evidence=fired.evidence, params=params)
        )
    return scale_up(policy, scaling.bounded(remedy, app), obs, fired)


def _scale_action(
    policy: pol.Policy,
    obs: model.AppObservation,
    change: scaling.Change,
    reason: str,
    evidence: Sequence[str],
) -> Candidate:
    assert obs.status is not None
    params = {
        "direction": change.direction,
        "target": change.target,
        "from": change.current,
        "to": change.desired,
        "recommended": change.recommended,
        "replicas": change.desired if change.target == "replicas" else None,
        "hpa_min": change.hpa_min,
        "hpa_max": change.hpa_max,
        "path": obs.status.path,
        "revision": obs.status.revision,
    }
    # the incident is "too few (or many) replicas at this revision", not a policy's target count:
    # two scale policies with different targets must not both write
    subject = f"{obs.status.revision}:{change.direction}:{change.current}"
    return Candidate(
        _action(policy, obs.app, subject, reason=reason, evidence=evidence, params=params), change=change
    )


def scale_up(policy: pol.Policy, spec: pol.Scale, obs: model.AppObservation, fired: Fired) -> Candidate:
    """Scale params: direction, target (replicas|hpa), from, to, recommended, replicas (when target is
    replicas), hpa_min/hpa_max (when an HPA owns the workload: write these, never replicas), path,
    revision. Subject: "revision:direction:from" (not the policy-dependent target count)."""
    load = triggers.load_value(obs)
    if load is None or obs.replicas is None:
        return Candidate(
            None, skip=f"scale needs OK load and replica figures (load {obs.load_per_replica!r})"
        )
    result = scaling.up(obs.replicas, load, spec, obs.hpa)
    if isinstance(result, str):
        at_max = obs.hpa is None and obs.replicas >= spec.max
        needed = f"scale-up needed (load {load:g} per replica on {obs.replicas} replicas)"
        escalate = f"{obs.app}: {needed} but {result}" if at_max else ""
        return Candidate(None, skip=result, escalate=escalate)
    fact = f"load {load:g} per replica vs target {spec.target_per_replica:g} on {obs.replicas} replicas"
    evidence = (*fired.evidence, fact)
    return _scale_action(policy, obs, result, f"{fired.summary}: {result.describe()}", evidence)


def scale_down(
    policy: pol.Policy,
    spec: pol.Scale,
    obs: model.AppObservation,
    recs: mem.Recommendations | None,
    at: datetime,
) -> Candidate | None:
    """A scale-down once load is back under target for the whole stabilization window; None when none
    is due. Partial windows (fewer than ``stabilization`` seconds remembered) hold as a Skip."""
    load = triggers.load_value(obs)
    if load is None or obs.replicas is None or recs is None or obs.status is None:
        return None
    top = scaling.stabilized(recs.items, at, spec.stabilization)
    if top is None:
        return None
    change = scaling.down(obs.replicas, top, spec, obs.hpa)
    if change is None:
        return None
    window = model.format_duration(spec.stabilization)
    covered = recs.covered(at)
    if covered < spec.stabilization:
        return Candidate(
            None,
            skip=f"{change.describe()} held: stabilizing, {model.format_duration(covered)} of {window} seen",
        )
    evidence = (
        f"load {load:g} per replica vs target {spec.target_per_replica:g} on {obs.replicas} replicas",
        f"highest recommendation over the last {window}: {top}",
    )
    reason = f"load below target for the {window} stabilization window: {change.describe()}"
    return _scale_action(policy, obs, change, reason, evidence)


def after_rejection(action: model.Action, policy: pol.Policy, history: hist.History) -> model.Action:
    """An adopt whose PR a human closed becomes an enforce when the policy says so (``on_reject``).

    Closing the adopt PR says "Git is right, the live change is not": Argo CD syncs Git back over the
    drift. The enforce has its own heal id, so the rejected adopt stays blocked for good.
    """
    remedy = policy.remedy
    if not (isinstance(remedy, pol.Reconcile) and remedy.mode == "adopt" and remedy.on_reject == "enforce"):
        return action
    closed = next((p for p in history.proposals if p.heal_id == action.heal_id and p.state == "closed"), None)
    if closed is None:
        return action
    revision = str(action.params.get("revision", ""))
    return model.Action(
        app=action.app,
        kind=action.kind,
        policy=action.policy,
        mode=action.mode,
        reason=f"adopt PR #{closed.number} was closed by a human: enforce Git over the live drift",
        heal_id=model.heal_id(action.app, action.kind.value, f"enforce:{revision}"),
        evidence=action.evidence,
        params=MappingProxyType({**action.params, "mode": "enforce", "merge": "direct"}),
    )
