"""The decision: ``plan(snapshot, policies, guardrails, history, memory, now) -> model.Plan``.

For each observed app, every selecting policy whose trigger has held long enough on OK data yields
a candidate; guardrails then hold candidates back as Skips in a fixed order (see ``_held``), one
action per app survives by precedence, and the global commit budget is spent last. Pure: the same
inputs give the same plan and the same heal ids; no I/O, no clock reads, no writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType

from bot import model
from bot.decide import guardrails as guard
from bot.decide import memory as mem
from bot.decide import past as hist
from bot.decide import remedies, scaling, triggers
from bot.settings import policy as pol
from bot.settings import tree

K = model.ActionKind
# rollback undoes the cause; scale adds capacity; reconcile removes drift (which may be why pods
# fail); restart is the bluntest fix; notify changes nothing and yields to any real heal.
PRECEDENCE: tuple[model.ActionKind, ...] = (K.ROLLBACK, K.SCALE, K.RECONCILE, K.RESTART, K.NOTIFY)
PRECEDENCE_TEXT = " > ".join(PRECEDENCE)


def writes(action: model.Action) -> bool:
    """Whether executing the action changes Git or Argo CD (observe mode and notify never do)."""
    return action.mode is not model.Mode.OBSERVE and action.kind is not K.NOTIFY


@dataclass(frozen=True)
class _Ranked:
    action: model.Action
    order: int  # the policy's position in config: ties between equal kinds go to the first

    @property
    def key(self) -> tuple[bool, int, int]:
        # Writing heals come before observe/notify ones so an observe-only policy never blocks a heal.
        return (not writes(self.action), PRECEDENCE.index(self.action.kind), self.order)


def plan(
    snapshot: model.Snapshot,
    policies: Sequence[pol.Policy],
    guardrails: pol.Guardrails,
    history: hist.History,
    memory: mem.Memory,
    *,
    now: datetime,
    apps: Mapping[str, tree.AppSpec] | None = None,
) -> model.Plan:
    """The plan for one cycle. ``memory`` should already include ``snapshot`` (``memory.remember``);
    if it does not, it is brought up to date here so a forgetful caller cannot double-count.
    ``apps`` (keyed like ``snapshot.apps``, optional) narrows scale bounds to the app's own
    ``scaling: {min, max}`` and supplies the app's rollback strategy when the policy names none."""
    apps = apps or {}
    if memory.at is None or memory.at < snapshot.at:
        memory = mem.remember(memory, snapshot, policies, apps=apps)
    blast = guard.blast_radius(snapshot, guardrails, also=_regressing(snapshot, policies, apps))
    if blast is not None and history.paused is not None and (not history.paused or "*" in history.paused):
        blast = replace(blast, escalation="")  # the kill switch says: do nothing, not even escalate
    skips: list[model.Skip] = []
    escalations: list[str] = [blast.escalation] if blast and blast.escalation else []
    winners: list[_Ranked] = []
    for app in sorted(snapshot.apps):
        obs = snapshot.apps[app]
        ranked: list[_Ranked] = []
        in_flight: list[model.Action] = []
        spec = apps.get(app)
        for order, policy in enumerate(policies):
            if spec is not None and spec.policies is not None and policy.name not in spec.policies:
                continue  # the Application's githeal.io/policies annotation chose others
            cand = _candidate(policy, obs, spec, memory, snapshot.at, skips)
            if cand is None:
                continue
            if cand.escalate and not _silenced(history, app, blast):
                escalations.append(cand.escalate)
            if cand.action is None:
                skips.append(model.Skip(app, policy.name, cand.skip))
                continue
            action = _with_trust(remedies.after_rejection(cand.action, policy, history), policy, history)
            held = _held(
                action, policy, obs, cand, guardrails=guardrails, history=history, blast=blast, now=now
            )
            if held is not None:
                skips.append(model.Skip(app, policy.name, f"{_what(action)} held: {held.reason}"))
                if held.escalate and not _silenced(history, app, blast):
                    escalations.append(f"{app}: {held.reason}")
                if held.in_flight:
                    in_flight.append(action)
                continue
            ranked.append(_Ranked(action, order))
        ranked.sort(key=lambda r: r.key)
        winners.extend(_one_per_app(ranked, in_flight, skips))
    actions = _spend_budget(winners, guardrails, history, now, skips)
    unique = tuple(dict.fromkeys(escalations))
    return model.Plan(at=now, actions=tuple(actions), skips=tuple(skips), escalations=unique)


def _regressing(
    snapshot: model.Snapshot, policies: Sequence[pol.Policy], apps: Mapping[str, tree.AppSpec]
) -> dict[str, str]:
    """Apps a regression trigger fires on this cycle: they breach for the blast-radius guard too, so a
    regression of many apps at once (a shared dependency, a bad base image everywhere) is held."""
    out: dict[str, str] = {}
    for app, obs in snapshot.apps.items():
        spec = apps.get(app)
        for policy in policies:
            if not isinstance(policy.trigger, pol.RegressionTrigger) or app in out:
                continue
            if spec is not None and spec.policies is not None and policy.name not in spec.policies:
                continue
            if triggers.selects(policy, obs) is not True:
                continue
            signal = triggers.read(policy.trigger, obs)
            if signal.reading is triggers.Reading.FIRING:
                out[app] = signal.note
    return out


def _one_per_app(
    ranked: list[_Ranked], in_flight: list[model.Action], skips: list[model.Skip]
) -> list[_Ranked]:
    """The app's one action. A stronger heal already in flight (committed or PR open, same heal id)
    also holds weaker writes back: a restart must not race a rollback Argo CD has yet to apply."""
    flying = min(in_flight, key=lambda a: PRECEDENCE.index(a.kind), default=None)
    out: list[_Ranked] = []
    for r in ranked:
        a = r.action
        if flying is not None and writes(a) and PRECEDENCE.index(a.kind) > PRECEDENCE.index(flying.kind):
            why = f"yields to {flying.kind} {flying.heal_id} ({flying.policy}) still in flight"
        elif out:
            w = out[0].action
            why = f"superseded by {w.kind} ({w.policy}): one action per app per cycle, {PRECEDENCE_TEXT}"
        else:
            out.append(r)
            continue
        skips.append(model.Skip(a.app, a.policy, f"{_what(a)} held: {why}"))
    return out


def _what(action: model.Action) -> str:
    return f"{action.mode} {action.kind} {action.heal_id}"


def _silenced(history: hist.History, app: str, blast: guard.Blast | None) -> bool:
    """Per-app escalations are not repeated while one is open, paused, or the blast guard speaks."""
    return blast is not None or app in history.open_escalations or history.paused_for(app)


def _candidate(
    policy: pol.Policy,
    obs: model.AppObservation,
    spec: tree.AppSpec | None,
    memory: mem.Memory,
    at: datetime,
    skips: list[model.Skip],
) -> remedies.Candidate | None:
    """The candidate heal of one policy for one app this cycle, or None (nothing to do or to say)."""
    selected = triggers.selects(policy, obs)
    if selected is False:
        return None
    streak = memory.streak(obs.app, policy.name)
    cycles, duration = triggers.needed(policy.trigger)
    if selected is None:
        signal = triggers.Signal(triggers.Reading.HOLD, note="Argo CD status unreadable: labels unknown")
    else:
        signal = triggers.read(policy.trigger, obs)
    if signal.reading is triggers.Reading.HOLD:
        if signal.suspect or streak.count:
            skips.append(
                model.Skip(obs.app, policy.name, f"data not OK, streak held at {streak.count}: {signal.note}")
            )
        return None
    held = streak.held_for(at)
    complete = streak.count >= cycles and held >= duration
    if signal.reading is triggers.Reading.FIRING and complete:
        summary = triggers.summary(policy.trigger, streak.count, held, signal)
        fired = remedies.Fired(
            f"{policy.name}: {summary}", tuple(triggers.evidence(policy.trigger, held, signal))
        )
        return remedies.build(policy, obs, fired, spec)
    if signal.reading is triggers.Reading.CLEAR and isinstance(policy.remedy, pol.Scale):
        bounds = scaling.bounded(policy.remedy, spec)
        return remedies.scale_down(policy, bounds, obs, memory.recs(obs.app, policy.name), at)
    return None


def _with_trust(action: model.Action, policy: pol.Policy, history: hist.History) -> model.Action:
    if action.kind is K.NOTIFY:
        return action
    mode, why = guard.trust(policy, history)
    if mode is action.mode:
        return action
    params = MappingProxyType({**action.params, "merge": pol.Merge.PR.value})
    return replace(action, mode=mode, reason=f"{action.reason} [{why}]", params=params)


@dataclass(frozen=True)
class _Hold:
    reason: str
    escalate: bool = False  # a human must look: healing would be wrong, not just early
    in_flight: bool = False  # this very heal was already committed or proposed


def _held(
    action: model.Action,
    policy: pol.Policy,
    obs: model.AppObservation,
    cand: remedies.Candidate,
    *,
    guardrails: pol.Guardrails,
    history: hist.History,
    blast: guard.Blast | None,
    now: datetime,
) -> _Hold | None:
    """The first guardrail holding ``action`` back, in this order:

    1. kill switch, 2. blast radius (both hold everything, observe and notify included);
    3. rollback safety / scale interlocks (they decide whether the heal is even right);
    4. dedupe on the heal id (a human-closed PR blocks it for good);
    then, for actions that write only: 5. freeze window, 6. circuit breaker (open escalation),
    7. per app+action cooldown (scale: up/down cooldowns too), 8. max heals per app per window.
    The global commit budget comes last, across apps, in ``_spend_budget``.
    """
    app = action.app
    reason = guard.paused(history, app, guardrails.kill_switch)
    if reason is None and blast is not None:
        reason = f"blast radius guard: {len(blast.apps)} of {blast.observed} apps breaching"
    if reason is None and action.kind is K.ROLLBACK:
        unsafe = guard.rollback_safety(history, app, str(action.params["bad_revision"]))
        if unsafe is not None:
            # Within the cooldown the verify stage is still judging the last heal: hold quietly.
            return _Hold(unsafe, escalate=guard.cooldown(history, policy, app, now) is None)
    direction = cand.change.direction if cand.change is not None else ""
    if reason is None and cand.change is not None:
        reason = guard.scale_interlock(history, obs, direction, now)
    if reason is not None:
        return _Hold(reason)
    dup = hist.duplicate(history, action.heal_id)
    if dup is not None:
        return _Hold(dup[0], in_flight=dup[1])
    if not writes(action):
        return None
    checks: Iterable[str | None] = (
        guard.frozen(guardrails, now),
        guard.circuit_open(history, app),
        guard.cooldown(history, policy, app, now),
        guard.scale_cooldown(history, app, direction, policy.remedy, now)
        if isinstance(policy.remedy, pol.Scale) and direction
        else None,
        guard.max_heals(history, policy, app, now),
    )
    reason = next((c for c in checks if c is not None), None)
    return _Hold(reason) if reason is not None else None


def _spend_budget(
    winners: list[_Ranked],
    guardrails: pol.Guardrails,
    history: hist.History,
    now: datetime,
    skips: list[model.Skip],
) -> list[model.Action]:
    """Writing actions spend the global commit budget in precedence order (then app name)."""
    out: list[model.Action] = []
    planned = 0
    for ranked in sorted(winners, key=lambda r: (r.key, r.action.app)):
        action = ranked.action
        if writes(action):
            over = guard.commit_budget(guardrails, history, now, planned)
            if over is not None:
                skips.append(model.Skip(action.app, action.policy, f"{_what(action)} held: {over}"))
                continue
            planned += 1
        out.append(action)
    out.sort(key=lambda a: a.app)
    return out
