"""Internal, frozen policy values the decision core reads: triggers, remedies, guardrails, selectors.

Built from validated config by ``build``; durations are seconds, enums come from ``bot.model``.
Methods here are pure (``Selector.matches``, ``FreezeWindow.active`` take their inputs, including
the time, as arguments): they must not read the clock, files or the environment.
"""

from __future__ import annotations

import enum
import fnmatch
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from bot import model


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


class Merge(enum.StrEnum):
    PR = "pr"  # open a PR and wait for a human
    PR_AUTOMERGE = "pr-automerge"  # open a PR with auto-merge (once trusted)
    DIRECT = "direct"  # commit straight to the branch


# --------------------------------------------------------------------------- triggers


@dataclass(frozen=True)
class SloTrigger:
    """A burn-rate tier of one of the app's SLOs fired on OK data for ``cycles`` cycles in a row."""

    tier: model.Severity
    cycles: int
    slos: tuple[str, ...] = ()  # empty: any SLO of the app


@dataclass(frozen=True)
class HealthTrigger:
    """Argo CD health in ``statuses`` continuously for ``duration`` seconds."""

    statuses: tuple[model.HealthStatus, ...]
    duration: float


@dataclass(frozen=True)
class OutOfSyncTrigger:
    duration: float


@dataclass(frozen=True)
class ThresholdTrigger:
    slo: str
    cycles: int


@dataclass(frozen=True)
class LoadTrigger:
    per_replica_above: float
    cycles: int


@dataclass(frozen=True)
class RegressionTrigger:
    """An app's ratio SLOs since its last deploy are significantly worse than in a baseline before it
    (``decide.regression``). Level-triggered on one cycle: the statistics carry the discipline."""

    window: float  # seconds after a deploy during which it is analysed
    baseline: float  # seconds before the deploy it is compared with
    alpha: float = 0.001
    min_ratio: float = 2.0
    min_increase: float = 0.0
    min_events: float = 100.0
    slos: tuple[str, ...] = ()  # empty: any ratio SLO of the app
    step: float = 30.0  # the evaluation step: one look at a deploy per step
    cycles: int = 1

    @property
    def looks(self) -> int:
        """Times one deploy is tested (window / step): the false-positive bound is split over them."""
        return max(1, math.ceil(self.window / max(self.step, 1.0)))


@dataclass(frozen=True)
class RolloutAbortedTrigger:
    """An Argo Rollouts canary of the app was aborted in the cluster (Argo CD: the Rollout Degraded with
    "RolloutAborted"), its stable ReplicaSet serving while Git still says the aborted version."""

    cycles: int = 1


Trigger = (
    SloTrigger
    | HealthTrigger
    | OutOfSyncTrigger
    | ThresholdTrigger
    | LoadTrigger
    | RegressionTrigger
    | RolloutAbortedTrigger
)


def regression_triggers(policies: Iterable[Policy]) -> tuple[RegressionTrigger, ...]:
    """The regression triggers of ``policies`` (observe reads deploy evidence only when there is one)."""
    return tuple(p.trigger for p in policies if isinstance(p.trigger, RegressionTrigger))


def rollout_triggers(policies: Iterable[Policy]) -> tuple[RolloutAbortedTrigger, ...]:
    """The rollout_aborted triggers of ``policies`` (observe reads Rollouts only when there is one)."""
    return tuple(p.trigger for p in policies if isinstance(p.trigger, RolloutAbortedTrigger))


# --------------------------------------------------------------------------- remedies


@dataclass(frozen=True)
class Rollback:
    strategy: str  # "revert" | "restore" | "pin-image"
    kind: model.ActionKind = model.ActionKind.ROLLBACK


@dataclass(frozen=True)
class Scale:
    min: int
    max: int
    max_step_up: int
    max_step_down: int
    cooldown_up: float
    cooldown_down: float
    stabilization: float
    target_per_replica: float
    baseline: int | None = None
    kind: model.ActionKind = model.ActionKind.SCALE


@dataclass(frozen=True)
class Restart:
    annotation: str
    kind: model.ActionKind = model.ActionKind.RESTART


@dataclass(frozen=True)
class Reconcile:
    mode: str  # "adopt" | "enforce"
    kind: model.ActionKind = model.ActionKind.RECONCILE
    on_reject: str = "nothing"  # adopt PR closed by a human -> "enforce" | "nothing"


@dataclass(frozen=True)
class Notify:
    labels: tuple[str, ...] = ()
    kind: model.ActionKind = model.ActionKind.NOTIFY


Remedy = Rollback | Scale | Restart | Reconcile | Notify


# --------------------------------------------------------------------------- selection and policy


@dataclass(frozen=True)
class Selector:
    """Which apps a policy applies to: any name/glob matches AND every label matches."""

    names: tuple[str, ...] = ()  # exact names or fnmatch globs
    labels: Mapping[str, str] = field(default_factory=_empty)

    def matches(self, app: str, labels: Mapping[str, str] | None = None) -> bool:
        if self.names and not any(fnmatch.fnmatchcase(app, pattern) for pattern in self.names):
            return False
        have = labels or {}
        return all(have.get(k) == v for k, v in self.labels.items())


@dataclass(frozen=True)
class Budget:
    """At most ``count`` events per ``per`` seconds."""

    count: int
    per: float


@dataclass(frozen=True)
class Policy:
    name: str
    selector: Selector
    trigger: Trigger
    remedy: Remedy
    mode: model.Mode
    merge: Merge
    cooldown: float
    max_heals: Budget | None = None
    trust_after: int | None = None  # verified heals before pr-automerge really auto-merges
    pr_labels: tuple[str, ...] = ()
    pr_reviewers: tuple[str, ...] = ()
    description: str = ""
    source: str = ""  # "file:line", for messages

    @property
    def kind(self) -> model.ActionKind:
        return self.remedy.kind

    @property
    def opens_prs(self) -> bool:
        """Its heals are pull requests (the rule the config load applies to static apps' repos)."""
        writes = self.mode is not model.Mode.OBSERVE and not isinstance(self.remedy, Notify)
        return writes and self.merge is not Merge.DIRECT


# --------------------------------------------------------------------------- guardrails


@dataclass(frozen=True)
class FreezeWindow:
    """Heals are held from each cron start for ``duration`` seconds, in ``timezone``."""

    cron: str
    duration: float
    timezone: str = "UTC"
    reason: str = ""

    def active(self, at: datetime) -> bool:
        """True when ``at`` (timezone-aware) lies inside a freeze that started at a cron tick."""
        local = at.astimezone(ZoneInfo(self.timezone))
        # A tick at exactly ``at`` counts: get_prev is exclusive, so start one second later.
        from croniter import croniter  # here: only configs with cron windows pay for it

        start = croniter(self.cron, local + timedelta(seconds=1)).get_prev(datetime)
        return bool(local < start + timedelta(seconds=self.duration))


@dataclass(frozen=True)
class Guardrails:
    commit_budget: Budget
    freezes: tuple[FreezeWindow, ...] = ()
    kill_switch: str = ".githeal/pause"
    max_breaching_share: float | None = 0.5
    max_breaching_apps: int | None = None
    escalation_labels: tuple[str, ...] = ("githeal-escalation",)
    escalation_assignees: tuple[str, ...] = ()

    def frozen_by(self, at: datetime) -> FreezeWindow | None:
        return next((w for w in self.freezes if w.active(at)), None)
