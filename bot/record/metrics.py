"""The bot's own Prometheus metrics, on an injected ``CollectorRegistry``.

One ``Metrics`` value is built by the wiring and passed to the stages that count things; tests build
their own registry and read samples back. Nothing here touches the global default registry. Callers
go through the small methods below rather than the raw collectors, so a heal is counted once, a
closed circuit goes back to 0 and ``errors_total{system}`` only ever carries a system name.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot import errors

CYCLE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
VERIFY_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
# errors_total{system}: a closed set, so a dashboard never sees an exception class name as a system
SYSTEMS = frozenset({"prometheus", "argocd", "github", "git", "config", "act", "verify", "ledger", "http"})
OTHER = "other"


def system_label(system: str) -> str:
    """The ``system`` label for a name as callers give it ("git", "PrometheusError", ...)."""
    name = system.strip().lower()
    return name if name in SYSTEMS else OTHER


def system_of(exc: BaseException, default: str = OTHER) -> str:
    """The system an error belongs to: a client error's own, config for bad config, else ``default``."""
    if isinstance(exc, errors.ClientError):
        return system_label(exc.system)
    if isinstance(exc, errors.ConfigError | errors.PolicyError):
        return "config"
    if isinstance(exc, errors.ManifestError | errors.RollbackError):
        return "act"
    return system_label(default)


class Metrics:
    """Heals, decisions, cycles, verifications, circuits, dependencies and errors."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self._circuit_shown: dict[str, int] = {}  # app -> the value githeal_circuit_open last got
        self.heals = Counter(
            "githeal_heals_total",
            "Heals executed, once each, by the outcome of their execution (committed, proposed, failed, ...)",
            ["app", "policy", "action", "mode", "outcome"],
            registry=r,
        )
        self.verifications = Counter(
            "githeal_verifications_total",
            "Verdicts on landed heals: success (the heal worked) or failure",
            ["app", "action", "result"],
            registry=r,
        )
        self.verify_seconds = Histogram(
            "githeal_verify_duration_seconds",
            "Time from the start of verification to its verdict",
            ["result"],
            buckets=VERIFY_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "githeal_decisions_total",
            "Planner decisions: an action planned or a policy held back by a guardrail",
            ["app", "policy", "decision"],
            registry=r,
        )
        self.cycle_seconds = Histogram(
            "githeal_cycle_duration_seconds",
            "Duration of one observe-decide-act cycle",
            buckets=CYCLE_BUCKETS,
            registry=r,
        )
        self.last_cycle = Gauge(
            "githeal_last_cycle_timestamp_seconds",
            "Unix time at which the last cycle finished",
            registry=r,
        )
        self.errors = Counter(
            "githeal_errors_total",
            "Errors, by the system that failed (prometheus, argocd, github, git, config, act, ...)",
            ["system"],
            registry=r,
        )
        self.app_errors = Counter(
            "githeal_app_errors_total",
            "Failures confined to one app's boundary (the other apps went on), by stage",
            ["app", "stage"],
            registry=r,
        )
        self.observed = Gauge(
            "githeal_apps_observed",
            "Apps observed in the last cycle",
            registry=r,
        )
        self.breaching = Gauge(
            "githeal_apps_breaching",
            "Apps with an SLO tier firing on OK data in the last cycle",
            registry=r,
        )
        self.circuit_open = Gauge(
            "githeal_circuit_open",
            "1 while an app's automatic heals are suspended by an open escalation, else 0",
            ["app"],
            registry=r,
        )
        self.circuits = Gauge(
            "githeal_circuits_open",
            "Apps whose automatic heals are suspended by an open escalation",
            registry=r,
        )
        self.dependency_up = Gauge(
            "githeal_dependency_up",
            "1 if the last call to this dependency succeeded, else 0",
            ["dependency"],
            registry=r,
        )
        self.github_rate_remaining = Gauge(
            "githeal_github_rate_limit_remaining",
            "X-RateLimit-Remaining of the last GitHub API answer",
            registry=r,
        )
        self.crashes = Counter(
            "githeal_cycle_crashes_total",
            "Cycles that ended in an unexpected exception",
            registry=r,
        )

    # -- counting helpers: the one way each thing is counted

    def error(self, system: str) -> None:
        self.errors.labels(system_label(system)).inc()

    def heal(self, app: str, policy: str, action: str, mode: str, outcome: str) -> None:
        self.heals.labels(app, policy, action, mode, outcome).inc()

    def verified(self, app: str, action: str, success: bool, seconds: float | None = None) -> None:
        """A verdict on a heal already counted by ``heal``: a separate series, never a second heal."""
        result = "success" if success else "failure"
        self.verifications.labels(app, action, result).inc()
        if seconds is not None and seconds >= 0:
            self.verify_seconds.labels(result).observe(seconds)

    def set_circuits(self, open_apps: Iterable[str], apps: Iterable[str]) -> None:
        """Every known app gets 1 (open) or 0 (closed): a closed circuit must read 0, not stay at 1."""
        opened = set(open_apps)
        known = set(apps) | opened
        shown = self._circuit_shown
        for app in known:
            value = 1 if app in opened else 0
            if shown.get(app) != value:  # a fleet's circuits rarely change: set only what did
                self.circuit_open.labels(app).set(value)
                shown[app] = value
        self.circuits.set(len(opened))

    def open_circuit(self, app: str) -> None:
        self.circuit_open.labels(app).set(1)
        self._circuit_shown[app] = 1

    def dependency(self, name: str, up: bool) -> None:
        self.dependency_up.labels(name).set(1 if up else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
