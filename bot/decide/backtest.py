"""Replay the decision core over past observations: when each policy would have fired, and its heals.

Step by step, for each app and policy, ``triggers.read`` judges the step's observation, ``memory.step``
grows or resets the streak exactly as a live cycle derives it, and a policy fires once its streak has
the ``cycles`` it needs. A heal is counted when a policy fires and the app's previous heal of the same
kind is older than the policy's ``cooldown`` (one heal per app per step, by the planner's precedence).
Triggers on Argo CD state (health, out of sync) have no past and are reported as not replayable.
Pure: no I/O, no clock; the caller hands in every step's observations.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot import model
from bot.decide import memory as mem
from bot.decide import planner, triggers
from bot.settings import policy as pol

DEFAULT_FLAP_WINDOW = 1800.0  # fire -> clear -> fire within this span counts as a flap

REPLAYABLE = (pol.SloTrigger, pol.ThresholdTrigger)


@dataclass(frozen=True)
class Interval:
    """The policy fired from ``start`` until the step its trigger cleared (``end``)."""

    start: float
    end: float
    open: bool = False  # still firing at the last step replayed

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Heal:
    at: float
    kind: str
    reason: str


@dataclass(frozen=True)
class Outcome:
    """What one policy would have done to one app over the replayed span."""

    app: str
    policy: str
    kind: str
    replayable: bool = True
    note: str = ""  # why not replayable
    intervals: tuple[Interval, ...] = ()
    heals: tuple[Heal, ...] = ()
    flaps: int = 0
    held_steps: int = 0  # steps whose data was not OK (neither fire nor clear)

    @property
    def fired_seconds(self) -> float:
        return sum(i.seconds for i in self.intervals)


def replayable(policy: pol.Policy, *, load: bool = False) -> str:
    """Empty when the policy's trigger can be read from Prometheus history, else why not."""
    if isinstance(policy.trigger, REPLAYABLE):
        return ""
    if isinstance(policy.trigger, pol.LoadTrigger):
        return "" if load else "not replayable: load trigger without prometheus.load_query"
    if isinstance(policy.trigger, pol.HealthTrigger | pol.OutOfSyncTrigger | pol.RolloutAbortedTrigger):
        return "not replayable: the trigger reads Argo CD state, which has no past"
    return f"not replayable: {type(policy.trigger).__name__} is not read from SLO history"


def flaps(intervals: Sequence[Interval], window: float) -> int:
    """How many times a policy fired again within ``window`` seconds of clearing."""
    return sum(1 for a, b in itertools.pairwise(intervals) if b.start - a.end <= window)


@dataclass
class _Track:
    policy: pol.Policy
    order: int
    streak: mem.Streak = field(default_factory=mem.Streak)
    opened: float | None = None
    last_fire: float = 0.0
    intervals: list[Interval] = field(default_factory=list)
    heals: list[Heal] = field(default_factory=list)
    held: int = 0


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _advance(track: _Track, obs: model.AppObservation, t: float) -> triggers.Signal | None:
    """One step of one (app, policy); the signal when the policy fires at this step."""
    cycles, _ = triggers.needed(track.policy.trigger)
    signal = triggers.read(track.policy.trigger, obs)
    track.streak = mem.step(track.streak, signal.reading, _at(t))
    if signal.reading is triggers.Reading.HOLD:
        track.held += 1
    if signal.reading is triggers.Reading.CLEAR and track.opened is not None:
        track.intervals.append(Interval(track.opened, t))
        track.opened = None
    if signal.reading is triggers.Reading.FIRING and track.streak.count >= cycles:
        if track.opened is None:
            track.opened = t
        track.last_fire = t
        return signal
    return None


def simulate(
    times: Sequence[float],
    observe: Callable[[float], Mapping[str, model.AppObservation]],
    policies: Sequence[pol.Policy],
    *,
    chosen: Mapping[str, Sequence[str] | None] | None = None,
    flap_window: float = DEFAULT_FLAP_WINDOW,
    load: bool = False,
) -> list[Outcome]:
    """Every (app, policy) outcome over ``times``. ``observe(t)`` gives the step's observations;
    ``chosen`` maps an app to the policy names it is limited to (None: every selecting policy);
    ``load``: the observations carry the load per replica, so load triggers can be replayed."""
    chosen = chosen or {}
    tracks: dict[str, list[_Track]] = {}
    skipped: list[Outcome] = []
    last_heal: dict[tuple[str, str], float] = {}
    for t in times:
        for app, obs in sorted(observe(t).items()):
            if app not in tracks:
                tracks[app] = _tracks(app, obs, policies, chosen.get(app), skipped, load)
            fired: list[tuple[_Track, triggers.Signal]] = []
            for track in tracks[app]:
                signal = _advance(track, obs, t)
                if signal is not None:
                    fired.append((track, signal))
            fired.sort(key=lambda f: (planner.PRECEDENCE.index(f[0].policy.kind), f[0].order))
            for track, signal in fired:
                key = (app, str(track.policy.kind))
                if key in last_heal and t - last_heal[key] < track.policy.cooldown:
                    continue  # cooling down: a weaker heal of another kind may still go
                last_heal[key] = t
                summary = triggers.summary(track.policy.trigger, track.streak.count, 0.0, signal)
                track.heals.append(Heal(t, str(track.policy.kind), f"{track.policy.name}: {summary}"))
                break
    end = times[-1] if times else 0.0
    out = list(skipped)
    for app, app_tracks in tracks.items():
        for track in app_tracks:
            intervals = list(track.intervals)
            if track.opened is not None:
                intervals.append(Interval(track.opened, end, open=True))
            out.append(
                Outcome(
                    app,
                    track.policy.name,
                    str(track.policy.kind),
                    intervals=tuple(intervals),
                    heals=tuple(track.heals),
                    flaps=flaps(intervals, flap_window),
                    held_steps=track.held,
                )
            )
    out.sort(key=lambda o: (o.app, [p.name for p in policies].index(o.policy)))
    return out


def _tracks(
    app: str,
    obs: model.AppObservation,
    policies: Sequence[pol.Policy],
    names: Sequence[str] | None,
    skipped: list[Outcome],
    load: bool,
) -> list[_Track]:
    out: list[_Track] = []
    for order, policy in enumerate(policies):
        if names is not None and policy.name not in names:
            continue
        selected = triggers.selects(policy, obs)
        if selected is False:
            continue
        why = replayable(policy, load=load)
        if not why and selected is None:
            why = "not replayable: the policy selects apps by Argo CD labels, which have no past"
        if why:
            skipped.append(Outcome(app, policy.name, str(policy.kind), replayable=False, note=why))
            continue
        out.append(_Track(policy, order))
    return out
