"""Values shared by every pipeline stage: frozen dataclasses and enums, no behaviour beyond parsing.

observe produces ``Snapshot``; decide turns (snapshot, policies, history, now) into a ``Plan``;
act executes it into ``HealRecord``-bearing commits; record reads ``HealRecord``s back from Git.
This module must not do I/O or read the clock, and imports nothing else from ``bot`` but errors.
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

# --------------------------------------------------------------------------- durations

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float) -> float:
    """``"1h30m"`` -> 5400.0 seconds; numbers are seconds. Raises ValueError on anything else."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if text < 0 or math.isnan(text):
            raise ValueError(f"not a duration: {text!r}")
        return float(text)
    s = text.strip()
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m, 28d)")
    return total


def format_duration(seconds: float) -> str:
    """Prometheus-style: 3600 -> ``1h``, 5400 -> ``1h30m``, 0.5 -> ``500ms``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out, rest = "", round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out or "0s"


# --------------------------------------------------------------------------- SLOs


class SampleState(enum.StrEnum):
    """Classification of one (app, SLO, window) sample. Only OK may ever decide anything."""

    OK = "OK"
    NO_SERIES = "NO_SERIES"
    NO_TRAFFIC = "NO_TRAFFIC"
    INVALID = "INVALID"
    STALE = "STALE"
    QUERY_ERROR = "QUERY_ERROR"


class Severity(enum.StrEnum):
    PAGE = "page"
    TICKET = "ticket"


@dataclass(frozen=True, slots=True)
class BurnWindow:
    """One MWMB pair: fires when both windows' error ratio exceed ``factor * budget``."""

    severity: Severity
    long: float  # seconds
    short: float  # seconds
    factor: float  # burn-rate threshold

    @property
    def name(self) -> str:
        return f"{format_duration(self.long)}/{format_duration(self.short)}"


@dataclass(frozen=True, slots=True)
class Tier:
    """A burn-rate tier before it meets a period: spend ``budget_fraction`` of the budget in ``long``."""

    severity: Severity
    budget_fraction: float
    long: float  # seconds
    short: float  # seconds


# SRE workbook table 5-8 plus the chapter's 1d/2h ticket pair (Sloth's google-30d/28d catalogs).
WORKBOOK_TIERS: tuple[Tier, ...] = (
    Tier(Severity.PAGE, 0.02, 3600.0, 300.0),
    Tier(Severity.PAGE, 0.05, 6 * 3600.0, 1800.0),
    Tier(Severity.TICKET, 0.10, 86400.0, 2 * 3600.0),
    Tier(Severity.TICKET, 0.10, 3 * 86400.0, 6 * 3600.0),
)


def burn_factor(budget_fraction: float, period: float, long: float) -> float:
    """Burn rate that spends ``budget_fraction`` of the budget in ``long``: ``BR = f * P / W``."""
    return budget_fraction * period / long


def tier_windows(period: float, tiers: tuple[Tier, ...] = WORKBOOK_TIERS) -> tuple[BurnWindow, ...]:
    """BurnWindows with factors recomputed for ``period``: 14.4/6/3/1 at 30d, 13.44/5.6/2.8/0.933 at 28d."""
    return tuple(
        BurnWindow(t.severity, t.long, t.short, burn_factor(t.budget_fraction, period, t.long)) for t in tiers
    )


@dataclass(frozen=True, slots=True)
class SLO:
    """An SLO in the engine's own form (config, Sloth and OpenSLO files all become this).

    ``error_query``/``total_query`` are PromQL templates with ``{window}`` returning one series per
    app, grouped by ``app_label`` (e.g. ``sum by (app) (rate(http_requests_total{code=~"5.."}[{window}]))``).
    For ``kind == "threshold"``, ``value_query`` is compared with ``threshold`` using ``comparison``.
    """

    name: str
    objective: float  # fraction, e.g. 0.999
    period: float  # seconds
    kind: str = "ratio"  # "ratio" | "threshold"
    error_query: str = ""
    total_query: str = ""
    value_query: str = ""
    threshold: float = 0.0
    comparison: str = ">"  # breach when value <comparison> threshold
    windows: tuple[BurnWindow, ...] = ()
    app_label: str = "app"
    min_events_k: float = 3.0
    scrape_interval: float = 15.0
    source: str = ""  # "file:line" for error messages

    @property
    def budget(self) -> float:
        return 1.0 - self.objective


# --------------------------------------------------------------------------- observations


@dataclass(frozen=True, slots=True)
class Sample:
    """One observed value: an error ratio (ratio SLOs) or a raw value (threshold SLIs)."""

    app: str
    slo: str
    window: float  # seconds; 0 for threshold SLIs
    state: SampleState
    value: float | None = None
    total: float | None = None  # events in the window, for the minimum-events guard
    detail: str = ""


@dataclass(frozen=True, slots=True)
class WindowVerdict:
    window: BurnWindow
    long: Sample
    short: Sample
    firing: bool  # True only when both samples are OK and above the threshold
    burn_long: float | None = None
    burn_short: float | None = None


@dataclass(frozen=True, slots=True)
class SLOReport:
    """Everything the engine concluded about one SLO of one app at one pinned time."""

    app: str
    slo: str
    state: SampleState  # OK only if every sample needed was OK
    page: bool = False
    ticket: bool = False
    threshold_breach: bool = False
    verdicts: tuple[WindowVerdict, ...] = ()
    samples: tuple[Sample, ...] = ()
    reason: str = ""

    @property
    def breaching(self) -> bool:
        return self.page or self.ticket or self.threshold_breach


class SyncStatus(enum.StrEnum):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


class HealthStatus(enum.StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    MISSING = "Missing"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class Deployment:
    """One entry of an Argo CD app's ``status.history``."""

    id: int
    revision: str
    deployed_at: datetime | None
    started_at: datetime | None = None
    revisions: tuple[str, ...] = ()  # multi-source apps: one per spec.sources entry, index-aligned


@dataclass(frozen=True, slots=True)
class AppSource:
    """One entry of a multi-source app's ``spec.sources``."""

    repo_url: str
    path: str = ""
    target_revision: str = ""
    chart: str = ""  # set: a Helm-repository source whose "revision" is a chart version, not a SHA
    ref: str = ""  # set: other sources read its files as ``$ref/...`` value files
    value_files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AppStatus:
    """The parts of an Argo CD Application the bot reasons about."""

    name: str
    project: str
    repo_url: str
    path: str
    target_revision: str
    sync: SyncStatus
    health: HealthStatus
    revision: str  # status.sync.revision
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    auto_sync: bool = False
    self_heal: bool = False
    reconciled_at: datetime | None = None
    operation_phase: str | None = None  # Running/Succeeded/Failed/Error/Terminating
    operation_revision: str | None = None
    operation_started_at: datetime | None = None
    operation_finished_at: datetime | None = None
    operation_running: bool = False  # top-level ``operation`` present
    history: tuple[Deployment, ...] = ()
    images: tuple[str, ...] = ()
    health_message: str = ""
    # Multi-source apps: all sources and their index-aligned revisions; ``repo_url``, ``path``,
    # ``revision``, ``operation_revision`` and ``history[].revision`` above are those of
    # ``sources[source_index]``, the Git source holding the app's manifests or values.
    sources: tuple[AppSource, ...] = ()
    revisions: tuple[str, ...] = ()
    operation_revisions: tuple[str, ...] = ()
    source_index: int = 0
    app_namespace: str = ""  # metadata.namespace: where the Application object lives
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    source_type: str = ""  # status.sourceType (Helm, Kustomize, Directory, Plugin), else inferred
    health_since: datetime | None = None  # status.health.lastTransitionTime (Argo CD's own clock)
    rollouts: tuple[str, ...] = ()  # "namespace/name" of the Argo Rollouts Rollouts in status.resources


@dataclass(frozen=True, slots=True)
class EventCounts:
    """Bad events and all events over one interval (counter increases; rate() may give fractions)."""

    bad: float
    total: float

    @property
    def ratio(self) -> float:
        return self.bad / self.total if self.total > 0 else math.nan

    def usable(self) -> bool:
        return (
            math.isfinite(self.bad)
            and math.isfinite(self.total)
            and 0 <= self.bad <= self.total + 0.5  # rate() extrapolation may overshoot by a fraction
        )


@dataclass(frozen=True, slots=True)
class DeployEvidence:
    """One SLO of one app around its last deploy: events since it went live and in a baseline before.

    ``error`` set means the data is unusable (stale, missing, failed query): the regression trigger holds.
    """

    slo: str
    revision: str
    deployed_at: datetime
    age: float  # seconds between the deploy and the evaluation time
    baseline: EventCounts | None = None
    since: EventCounts | None = None
    error: str = ""
    budget: float = 0.001  # the SLO's 1 - objective: the least increase that counts as a regression


@dataclass(frozen=True, slots=True)
class RolloutState:
    """One Argo Rollouts ``Rollout`` of an app as Argo CD shows it: the health its Lua check gives
    (resource tree), and from the live object (managed-resources) the abort flag and the stable and
    canary ReplicaSets with their images. Live fields are None/empty when the live state was unreadable."""

    name: str
    namespace: str
    health: HealthStatus
    message: str = ""
    revision: str = ""  # rollout.argoproj.io/revision (the tree's "Rev:N")
    aborted: bool | None = None  # status.abort
    observed: bool | None = None  # status.observedGeneration == metadata.generation
    stable_hash: str = ""  # status.stableRS
    current_hash: str = ""  # status.currentPodHash
    stable_images: tuple[str, ...] = ()  # images of ReplicaSet {name}-{stableRS}
    canary_images: tuple[str, ...] = ()  # images of ReplicaSet {name}-{currentPodHash}

    @property
    def abort_reported(self) -> bool:
        """Degraded because the canary was aborted (v1.0+ phase message "RolloutAborted: ...", or a
        legacy status with ``abort: true``), not an invalid spec or a plain progress deadline."""
        if self.health is not HealthStatus.DEGRADED:
            return False
        return self.message.startswith("RolloutAborted") or self.aborted is True


@dataclass(frozen=True, slots=True)
class AppObservation:
    """One app in one cycle: its Argo CD status (None when unreadable) and its SLO reports."""

    app: str
    status: AppStatus | None
    slos: tuple[SLOReport, ...] = ()
    error: str = ""  # why status is None
    load_per_replica: float | None = None  # None: not configured or not OK data
    replicas: int | None = None  # current replica count, when observed
    hpa: tuple[int, int] | None = None  # (minReplicas, maxReplicas) when an HPA owns the workload
    deploys: tuple[DeployEvidence, ...] = ()  # the regression trigger's data, when a policy asks for it
    rollouts: tuple[RolloutState, ...] = ()  # the rollout_aborted trigger's data, when a policy asks
    rollout_error: str = ""  # why the Rollouts of an app that has some could not be read


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What observe saw in one cycle, at one pinned evaluation time."""

    at: datetime
    apps: Mapping[str, AppObservation]
    errors: tuple[str, ...] = ()
    # the same batched queries at earlier evaluation steps, oldest first (Prometheus answers any past
    # instant): the decision core derives "held for N cycles" from these, not from process memory
    history: tuple[Snapshot, ...] = ()


# --------------------------------------------------------------------------- decisions


class ActionKind(enum.StrEnum):
    ROLLBACK = "rollback"
    SCALE = "scale"
    RESTART = "restart"
    RECONCILE = "reconcile"
    NOTIFY = "notify"


class Mode(enum.StrEnum):
    OBSERVE = "observe"  # record and notify only
    PROPOSE = "propose"  # PR for human review
    AUTO = "auto"  # direct commit, or PR with auto-merge


def heal_id(app: str, action: str, subject: str) -> str:
    """Deterministic id: two replicas seeing the same incident compute the same one."""
    digest = hashlib.sha256(f"{app}\0{action}\0{subject}".encode()).hexdigest()
    return digest[:12]


@dataclass(frozen=True, slots=True)
class Action:
    """One thing to do, with the reason a human reads and the evidence behind it."""

    app: str
    kind: ActionKind
    policy: str
    mode: Mode
    reason: str
    heal_id: str
    evidence: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Skip:
    """A policy that matched but was held back, and why (a guardrail, bad data, a cooldown)."""

    app: str
    policy: str
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    at: datetime
    actions: tuple[Action, ...] = ()
    skips: tuple[Skip, ...] = ()
    escalations: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.actions and not self.escalations


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class HealRecord:
    """A heal as read back from a commit's trailers (Git is the bot's memory)."""

    heal_id: str
    app: str
    policy: str
    action: str
    commit: str
    at: datetime
    subject: str = ""
    trailers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    verify: str = ""  # success/failure/pending/"" from the commit status githeal/verify
    # the merge commit that brought a PR's heal commit onto the branch ("" when it landed itself):
    # Argo CD deploys that merge, so it counts as the heal too (never roll it back)
    landed: str = ""
