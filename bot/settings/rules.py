"""Config schema (pydantic v2) for what githeal decides about: apps, SLOs, policies, guardrails.

Shapes and single-field rules only (ranges, exactly-one-of, cron and time-zone syntax).
Rules spanning several entries (dangling names, duplicates, never-firing tiers) are checked by
``build`` once everything is read. This module must not read files or the environment.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated, Literal

import pydantic
from pydantic import Field

from bot.settings import systems

PositiveInt = Annotated[int, Field(ge=1)]


class HelmPaths(systems.Base):
    image_tag: str = "image.tag"
    image_repository: str = "image.repository"
    replicas: str = "replicaCount"


class ScalingBounds(systems.Base):
    min: int = Field(default=1, ge=0)
    max: int = Field(ge=1)

    @pydantic.model_validator(mode="after")
    def _order(self) -> ScalingBounds:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


RollbackStrategy = Literal["revert", "restore", "pin-image"]


PrometheusApp = Annotated[str, Field(pattern=r"^(name|label:[A-Za-z0-9_./-]+|annotation:[A-Za-z0-9_./-]+)$")]


class DiscoverConfig(systems.Base):
    """A fleet template: every Argo CD Application matching all the given filters becomes an app."""

    selector: dict[str, str] = Field(
        default_factory=dict, description="Application labels that must all match (matchLabels)."
    )
    projects: list[str] = Field(default_factory=list, description="Argo CD projects (globs); empty: any.")
    namespaces: list[str] = Field(
        default_factory=list, description="Namespaces of the Application objects (globs); empty: any."
    )
    names: list[str] = Field(default_factory=list, description="Application name globs; empty: any.")
    prometheus_app: PrometheusApp = Field(
        default="name",
        description="Prometheus app label value per Application: name, label:<key> or annotation:<key>.",
    )


class AppConfig(systems.Base):
    argocd_app: str | None = Field(
        default=None, description="Argo CD Application name (default: the app's key)."
    )
    selector: dict[str, str] | None = Field(
        default=None, description="Argo CD label selector picking one app."
    )
    discover: DiscoverConfig | None = Field(
        default=None,
        description="Fleet template: each matching Application becomes an app named after it "
        "(repo from its Git source, paths from its source path, overrides from githeal.io/ annotations).",
    )
    repo: str | None = Field(default=None, description="Key under repos (default: the only repo).")
    paths: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Globs of files the bot may edit for this app (required unless discover).",
    )
    slos: list[str] = Field(default_factory=list, description="Names of SLOs that apply to this app.")
    containers: list[str] = Field(default_factory=list, description="Containers whose image is managed.")
    helm: HelmPaths = HelmPaths()
    scaling: ScalingBounds | None = Field(
        default=None, description="Hard replica bounds for any scale action."
    )
    rollback: RollbackStrategy = "revert"

    @pydantic.model_validator(mode="after")
    def _target(self) -> AppConfig:
        systems.exactly_one(self, ("argocd_app", "selector", "discover"), allow_none=True)
        if self.paths is None and self.discover is None:
            raise ValueError("paths is required: globs of the files the bot may edit for this app")
        return self


class WindowConfig(systems.Base):
    severity: Literal["page", "ticket"]
    long: systems.PositiveDuration
    short: systems.PositiveDuration
    budget_percent: float | None = Field(
        default=None, gt=0, le=100, description="Budget share spent over `long`."
    )
    factor: float | None = Field(default=None, gt=0, description="Burn-rate threshold, given directly.")

    @pydantic.model_validator(mode="after")
    def _check(self) -> WindowConfig:
        systems.exactly_one(self, ("budget_percent", "factor"))
        if self.short >= self.long:
            raise ValueError("short window must be shorter than the long window")
        return self


def _template(value: str | None) -> str | None:
    if value is not None and "{window}" not in value:
        raise ValueError("query template must contain {window}")
    return value


class RatioSLI(systems.Base):
    errors: str | None = Field(
        default=None, description="Selector of bad events, e.g. http_requests_total{code=~'5..'}."
    )
    total: str | None = Field(default=None, description="Selector of all events.")
    error_query: str | None = Field(
        default=None, description="Full PromQL with {window}, grouped by the app label."
    )
    total_query: str | None = None

    _tpl = pydantic.field_validator("error_query", "total_query")(_template)

    @pydantic.model_validator(mode="after")
    def _pairs(self) -> RatioSLI:
        selectors = self.errors is not None or self.total is not None
        queries = self.error_query is not None or self.total_query is not None
        if selectors == queries:
            raise ValueError("give either errors+total (selectors) or error_query+total_query (templates)")
        if selectors and (self.errors is None or self.total is None):
            raise ValueError("errors and total are both required")
        if queries and (self.error_query is None or self.total_query is None):
            raise ValueError("error_query and total_query are both required")
        return self


_HISTOGRAM = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?$", re.DOTALL)


class LatencySLI(systems.Base):
    """A latency SLI from a classic histogram: a request is good when it lands in the ``le`` bucket."""

    histogram: str = Field(
        description="Histogram name without suffix, optionally with matchers, e.g. "
        "http_request_duration_seconds{job='api'}: githeal reads its _bucket and _count series."
    )
    le: str = Field(description='Bucket bound in seconds under which a request is good, e.g. "0.3".')

    @pydantic.field_validator("histogram")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not _HISTOGRAM.match(value):
            raise ValueError(
                "expected a histogram name with optional {matchers}, e.g. "
                f"http_request_duration_seconds; got {value!r}"
            )
        if re.search(r"_(bucket|count|sum)(\{|$)", value):
            raise ValueError("give the histogram's name without _bucket, _count or _sum")
        return value

    @pydantic.field_validator("le", mode="before")
    @classmethod
    def _bound(cls, value: object) -> str:
        text = str(value).strip()
        try:
            bound = float(text)
        except ValueError:
            raise ValueError(f'le must be a bucket bound in seconds, e.g. "0.3"; got {text!r}') from None
        if not 0 < bound < float("inf"):
            raise ValueError(f"le must be a finite bound above 0; got {text!r}")
        return text


class ThresholdSLI(systems.Base):
    query: str = Field(description="PromQL returning one value per app (label = prometheus.app_label).")
    threshold: float
    comparison: Literal[">", ">=", "<", "<="] = Field(
        default=">", description="Breach when value <comparison> threshold."
    )


class SLOConfig(systems.Base):
    name: str = Field(pattern=r"^[A-Za-z0-9][\w.:-]*$")
    description: str = ""
    objective: float | None = Field(default=None, description="Percent in (0, 100), e.g. 99.9 (ratio SLIs).")
    period: systems.PositiveDuration = Field(default=30 * 86400.0, description="SLO period, e.g. 28d or 30d.")
    ratio: RatioSLI | None = None
    latency: LatencySLI | None = Field(
        default=None, description="Share of requests slower than a histogram bucket (a ratio SLI)."
    )
    threshold: ThresholdSLI | None = None
    windows: list[WindowConfig] | None = Field(
        default=None, description="Default: SRE-workbook tiers for the period."
    )
    min_events: float = Field(default=3.0, gt=0, description="k in N_min = ceil(k / (factor * budget)).")
    app_label: str | None = Field(default=None, description="Default: prometheus.app_label.")

    @pydantic.field_validator("objective")
    @classmethod
    def _percent(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value < 100:
            raise ValueError(f"objective must be a percentage in (0, 100), e.g. 99.9; got {value}")
        return value

    @pydantic.model_validator(mode="after")
    def _kind(self) -> SLOConfig:
        systems.exactly_one(self, ("ratio", "latency", "threshold"))
        if self.ratio is not None and self.objective is None:
            raise ValueError("a ratio SLO needs an objective (percent, e.g. 99.9)")
        if self.latency is not None and self.objective is None:
            raise ValueError("a latency SLO needs an objective (percent of fast requests, e.g. 99)")
        return self


class SloFileConfig(systems.Base):
    path: str = Field(description="Sloth prometheus/v1 or OpenSLO v1 file (relative to the config).")
    period: systems.PositiveDuration = Field(
        default=30 * 86400.0, description="Sloth has no period in its spec."
    )
    windows: list[WindowConfig] | None = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        return {"path": data} if isinstance(data, str) else data


# --------------------------------------------------------------------------- policies


class SloTrigger(systems.Base):
    tier: Literal["page", "ticket"] = "page"
    cycles: PositiveInt = Field(default=2, description="Consecutive cycles the tier must hold on OK data.")
    slos: list[str] = Field(default_factory=list, description="Only these SLOs (default: all of the app's).")


class HealthTrigger(systems.Base):
    status: list[Literal["Degraded", "Missing"]] = Field(default=["Degraded"], min_length=1)
    for_: systems.Duration = Field(default=120.0, alias="for")


class OutOfSyncTrigger(systems.Base):
    for_: systems.Duration = Field(default=300.0, alias="for")


class ThresholdTrigger(systems.Base):
    slo: str = Field(description="A threshold SLO.")
    cycles: PositiveInt = 2


class LoadTrigger(systems.Base):
    per_replica_above: float = Field(gt=0, description="Load per replica above which to scale up.")
    cycles: PositiveInt = 2


class RegressionTrigger(systems.Base):
    slos: list[str] = Field(
        default_factory=list, description="Only these ratio SLOs (default: all of the app's ratio SLOs)."
    )
    alpha: float = Field(
        default=0.001, gt=0, lt=1, description="False-positive bound per deploy, over all looks at it."
    )
    window: systems.PositiveDuration = Field(
        default=900.0, description="How long after a deploy it is analysed."
    )
    baseline: systems.PositiveDuration = Field(
        default=1800.0, description="The window before the deploy it is compared with."
    )
    min_ratio: float = Field(
        default=2.0, ge=1, description="The error ratio since the deploy must be at least this multiple."
    )
    min_increase: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="... and exceed the baseline by this much (never less than the SLO's budget).",
    )
    min_events: float = Field(default=100.0, gt=0, description="Events since the deploy before any verdict.")


class RolloutAbortedTrigger(systems.Base):
    cycles: PositiveInt = Field(
        default=1, description="Consecutive cycles the Rollout must be seen aborted (in-cluster verdict)."
    )


class When(systems.Base):
    slo: SloTrigger | None = None
    health: HealthTrigger | None = None
    out_of_sync: OutOfSyncTrigger | None = None
    threshold: ThresholdTrigger | None = None
    load: LoadTrigger | None = None
    regression: RegressionTrigger | None = None
    rollout_aborted: RolloutAbortedTrigger | None = None

    @pydantic.model_validator(mode="after")
    def _one(self) -> When:
        systems.exactly_one(
            self, ("slo", "health", "out_of_sync", "threshold", "load", "regression", "rollout_aborted")
        )
        return self


class RollbackDo(systems.Base):
    strategy: RollbackStrategy | None = Field(
        default=None, description="Default: the app's rollback strategy."
    )


class ScaleDo(systems.Base):
    min: int = Field(default=1, ge=0)
    max: int = Field(ge=1)
    max_step_up: PositiveInt = Field(default=4, description="Most replicas added per commit.")
    max_step_down: PositiveInt = Field(default=1, description="Most replicas removed per commit.")
    cooldown_up: systems.Duration = 300.0
    cooldown_down: systems.Duration = 900.0
    stabilization: systems.Duration = Field(
        default=600.0, description="Scale down to the max recommendation of this."
    )
    target_per_replica: float = Field(gt=0, description="Load per replica to aim for.")
    baseline: int | None = Field(
        default=None, ge=0, description="Replicas to return to when load is back to normal."
    )

    @pydantic.model_validator(mode="after")
    def _order(self) -> ScaleDo:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.baseline is not None and not self.min <= self.baseline <= self.max:
            raise ValueError(f"baseline {self.baseline} is outside [{self.min}, {self.max}]")
        return self


class RestartDo(systems.Base):
    annotation: str = Field(
        default="githeal.io/restartedAt", description="Pod-template annotation bumped to restart."
    )


class ReconcileDo(systems.Base):
    mode: Literal["adopt", "enforce"] = Field(
        description="adopt: write live state to Git; enforce: sync Git."
    )
    on_reject: Literal["enforce", "nothing"] = Field(
        default="nothing",
        description="adopt only: when a human closes the adopt PR, enforce (sync Git over the drift) "
        "or leave the drift alone.",
    )


class NotifyDo(systems.Base):
    labels: list[str] = Field(default_factory=list)


class Do(systems.Base):
    rollback: RollbackDo | None = None
    scale: ScaleDo | None = None
    restart: RestartDo | None = None
    reconcile: ReconcileDo | None = None
    notify: NotifyDo | None = None

    @pydantic.model_validator(mode="after")
    def _one(self) -> Do:
        systems.exactly_one(self, ("rollback", "scale", "restart", "reconcile", "notify"))
        return self


class Budget(systems.Base):
    count: PositiveInt
    per: systems.PositiveDuration


class Trust(systems.Base):
    after: int = Field(ge=0, description="Verified heals of this policy before PRs auto-merge.")


class PullRequest(systems.Base):
    labels: list[str] = Field(default_factory=list)
    reviewers: list[str] = Field(default_factory=list)


class PolicyConfig(systems.Base):
    name: str = Field(pattern=r"^[A-Za-z0-9][\w.:-]*$")
    description: str = ""
    apps: list[str] = Field(default_factory=list, description="App names or globs (e.g. 'shop-*').")
    selector: dict[str, str] = Field(default_factory=dict, description="Argo CD app labels that must match.")
    when: When
    do: Do
    mode: Literal["observe", "propose", "auto"] = "propose"
    merge: Literal["pr", "pr-automerge", "direct"] = "pr"
    cooldown: systems.Duration = Field(
        default=3600.0, description="Minimum time between two heals of one app."
    )
    max_heals: Budget | None = Field(default=None, description="At most count heals per app per window.")
    trust: Trust | None = None
    pr: PullRequest = PullRequest()

    @pydantic.model_validator(mode="after")
    def _coherent(self) -> PolicyConfig:
        if not self.apps and not self.selector:
            raise ValueError("selects no apps: give apps and/or selector")
        if self.mode == "propose" and self.merge != "pr":
            raise ValueError(f"merge {self.merge!r} needs mode auto (propose always opens a PR for review)")
        return self


# --------------------------------------------------------------------------- guardrails


class Freeze(systems.Base):
    cron: str = Field(description="Start of each freeze, 5-field cron, e.g. '0 18 * * FRI'.")
    duration: systems.PositiveDuration
    timezone: str = "UTC"
    reason: str = ""

    @pydantic.field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter  # here: only configs with cron windows pay for it

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"not a valid 5-field cron expression: {value!r}")
        return value

    @pydantic.field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
        return value


class BlastRadius(systems.Base):
    max_share: float | None = Field(
        default=0.5, gt=0, le=1, description="Hold all heals above this share breaching."
    )
    max_apps: int | None = Field(
        default=None, ge=1, description="Hold all heals above this many apps breaching."
    )


class Escalation(systems.Base):
    labels: list[str] = Field(default_factory=lambda: ["githeal-escalation"])
    assignees: list[str] = Field(default_factory=list)


class GuardrailsConfig(systems.Base):
    commit_budget: Budget = Field(default_factory=lambda: Budget(count=10, per=600.0))
    freeze: list[Freeze] = Field(default_factory=list)
    kill_switch: str = Field(
        default=".githeal/pause", description="While this file exists in the repo, do nothing."
    )
    blast_radius: BlastRadius = BlastRadius()
    escalation: Escalation = Escalation()
