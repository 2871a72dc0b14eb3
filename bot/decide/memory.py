"""What each (app, policy) trigger has held for, derived from the data; plus scale recommendations.

Level-triggered (STYLE 15): a trigger counted in cycles (``slo``, ``threshold``, ``load``) is read at
every evaluation step the snapshot carries (``Snapshot.history``: the same batched queries at earlier
instants), so a restart, a second replica or a cron ``githeal once`` derives the same streak. Only
when a snapshot carries no history do streaks accumulate across cycles in process, as before.
Per step: FIRING adds to the streak, CLEAR (OK data, condition false) resets it, HOLD (non-OK data)
leaves it. Argo CD triggers (``health``, ``out_of_sync``) have no past in the data: a health streak
starts at Argo CD's ``health.lastTransitionTime``; out-of-sync ``for:`` is timed in process (a restart
restarts that clock; documented in the README). Apps absent from a partial snapshot keep their
streaks. Must not read the clock or any external system.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from bot import model
from bot.decide import scaling, triggers
from bot.settings import policy as pol
from bot.settings import tree

Key = tuple[str, str]  # (app, policy name)


@dataclass(frozen=True)
class Streak:
    count: int = 0  # FIRING cycles in a row (HOLD cycles in between do not break the run)
    since: datetime | None = None  # snapshot time of the first FIRING cycle of the run
    last: datetime | None = None  # snapshot time of the last FIRING cycle counted

    def held_for(self, at: datetime) -> float:
        """Seconds the condition has held continuously as of ``at`` (0 when not firing)."""
        return (at - self.since).total_seconds() if self.since is not None else 0.0


@dataclass(frozen=True)
class Recommendations:
    """Scale recommendations of one (app, policy), newest last, pruned to the stabilization window."""

    since: datetime  # first recommendation of this uninterrupted series: how much window is covered
    items: tuple[tuple[datetime, int], ...] = ()

    def covered(self, at: datetime) -> float:
        return (at - self.since).total_seconds()


def _empty_streaks() -> Mapping[Key, Streak]:
    return MappingProxyType({})


def _empty_recs() -> Mapping[Key, Recommendations]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Memory:
    at: datetime | None = None  # the snapshot last remembered: remembering it again changes nothing
    streaks: Mapping[Key, Streak] = field(default_factory=_empty_streaks)
    recommendations: Mapping[Key, Recommendations] = field(default_factory=_empty_recs)

    def streak(self, app: str, policy: str) -> Streak:
        return self.streaks.get((app, policy), Streak())

    def recs(self, app: str, policy: str) -> Recommendations | None:
        return self.recommendations.get((app, policy))


def step(streak: Streak, reading: triggers.Reading, at: datetime) -> Streak:
    """One cycle of one streak."""
    if reading is triggers.Reading.FIRING:
        return Streak(streak.count + 1, streak.since or at, at)
    if reading is triggers.Reading.CLEAR:
        return Streak()
    return streak


def _recommend(
    previous: Recommendations | None, obs: model.AppObservation, spec: pol.Scale, at: datetime
) -> Recommendations | None:
    load = triggers.load_value(obs)
    if load is None or obs.replicas is None or obs.replicas <= 0:
        return previous  # no OK figure this cycle: hold the series as it is
    rec = scaling.recommend(obs.replicas, load, spec)
    start = at - timedelta(seconds=spec.stabilization)
    kept = tuple(item for item in (previous.items if previous else ()) if item[0] >= start)
    return Recommendations(previous.since if previous else at, (*kept, (at, rec)))


def _derived(trigger: object) -> bool:
    # Argo CD state and deploy evidence are read at the newest instant only: no past to derive from
    return not isinstance(
        trigger,
        pol.HealthTrigger | pol.OutOfSyncTrigger | pol.RegressionTrigger | pol.RolloutAbortedTrigger,
    )


def steps_needed(policies: Iterable[pol.Policy]) -> int:
    """How many evaluation steps observe must read so every ``cycles: N`` can be derived from data."""
    return max((triggers.needed(p.trigger)[0] for p in policies if _derived(p.trigger)), default=1)


def _streak(
    memory: Memory, snapshot: model.Snapshot, policy: pol.Policy, app: str, obs: model.AppObservation
) -> Streak | None:
    """The streak of ``policy`` on ``app`` after ``snapshot``; None when the policy does not apply."""
    selected = triggers.selects(policy, obs)
    if selected is False:
        return None
    key = (app, policy.name)

    def reading(o: model.AppObservation) -> triggers.Reading:
        sel = triggers.selects(policy, o)
        return triggers.Reading.HOLD if sel is None else triggers.read(policy.trigger, o).reading

    if _derived(policy.trigger) and snapshot.history:
        streak = Streak()
        for past in snapshot.history:
            if app in past.apps:
                streak = step(streak, reading(past.apps[app]), past.at)
        return step(streak, reading(obs), snapshot.at)
    new = step(memory.streaks.get(key, Streak()), reading(obs), snapshot.at)
    since = obs.status.health_since if obs.status is not None else None
    if isinstance(policy.trigger, pol.HealthTrigger) and new.count and since is not None:
        # Argo CD's own clock says how long the app has been in this health: a restart loses nothing
        new = Streak(new.count, min(since, snapshot.at), new.last)
    return new


def remember(
    memory: Memory,
    snapshot: model.Snapshot,
    policies: Iterable[pol.Policy],
    *,
    apps: Mapping[str, tree.AppSpec] | None = None,
) -> Memory:
    """Memory after ``snapshot``. Policies no longer configured are forgotten; apps the snapshot did
    not observe (a partial cycle) keep what they had.

    ``apps`` (keyed like ``snapshot.apps``) narrows scale bounds per app, as ``planner.plan`` does."""
    if memory.at is not None and snapshot.at <= memory.at:
        return memory  # the same (or an older, replayed) cycle must not count twice
    policies = list(policies)
    names = {p.name for p in policies}
    streaks: dict[Key, Streak] = {
        k: v for k, v in memory.streaks.items() if k[0] not in snapshot.apps and k[1] in names
    }
    recs: dict[Key, Recommendations] = {
        k: v for k, v in memory.recommendations.items() if k[0] not in snapshot.apps and k[1] in names
    }
    for policy in policies:
        for app, obs in sorted(snapshot.apps.items()):
            key = (app, policy.name)
            new = _streak(memory, snapshot, policy, app, obs)
            if new is None:
                continue
            if new != Streak():
                streaks[key] = new
            if isinstance(policy.remedy, pol.Scale):
                kept = memory.recommendations.get(key)
                spec = scaling.bounded(policy.remedy, (apps or {}).get(app))
                selected = triggers.selects(policy, obs)
                fresh = kept if selected is None else _recommend(kept, obs, spec, snapshot.at)
                if fresh is not None:
                    recs[key] = fresh
    return Memory(snapshot.at, MappingProxyType(streaks), MappingProxyType(recs))
