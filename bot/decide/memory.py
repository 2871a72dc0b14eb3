"""What the service keeps between cycles, in process: trigger streaks and recent scale recommendations.

``remember`` is a pure update from one snapshot. Semantics, per (app, policy): a FIRING cycle adds
to the streak (and starts its ``since``), a CLEAR cycle (OK data, condition false) resets it, a HOLD
cycle (non-OK data, unreadable status, Unknown health) leaves it exactly as it was. A restart simply
starts counting again, which only delays heals. Must not read the clock or any external system.
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


def remember(
    memory: Memory,
    snapshot: model.Snapshot,
    policies: Iterable[pol.Policy],
    *,
    apps: Mapping[str, tree.AppSpec] | None = None,
) -> Memory:
    """Memory after ``snapshot``. Apps no longer observed and policies no longer configured are forgotten.

    ``apps`` (keyed like ``snapshot.apps``) narrows scale bounds per app, as ``planner.plan`` does."""
    if memory.at is not None and snapshot.at <= memory.at:
        return memory  # the same (or an older, replayed) cycle must not count twice
    streaks: dict[Key, Streak] = {}
    recs: dict[Key, Recommendations] = {}
    for policy in policies:
        for app, obs in sorted(snapshot.apps.items()):
            key = (app, policy.name)
            selected = triggers.selects(policy, obs)
            if selected is False:
                continue
            old = memory.streaks.get(key, Streak())
            reading = (
                triggers.Reading.HOLD if selected is None else triggers.read(policy.trigger, obs).reading
            )
            new = step(old, reading, snapshot.at)
            if new != Streak():
                streaks[key] = new
            if isinstance(policy.remedy, pol.Scale):
                kept = memory.recommendations.get(key)
                spec = scaling.bounded(policy.remedy, (apps or {}).get(app))
                fresh = kept if selected is None else _recommend(kept, obs, spec, snapshot.at)
                if fresh is not None:
                    recs[key] = fresh
    return Memory(snapshot.at, MappingProxyType(streaks), MappingProxyType(recs))
