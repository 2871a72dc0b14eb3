"""The bot's own Prometheus metrics, on an injected ``CollectorRegistry``.

One ``Metrics`` value is built by the wiring and passed to the stages that count things; tests build
their own registry and read samples back. Nothing here touches the global default registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CYCLE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    """Heals, decisions, cycles and errors, labelled the way an SRE slices them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.heals = Counter(
            "githeal_heals_total",
            "Heals executed, by outcome (committed, proposed, merged, verified, failed, skipped, ...)",
            ["app", "policy", "action", "mode", "outcome"],
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
            "Errors talking to an external system",
            ["system"],
            registry=r,
        )
        self.app_errors = Counter(
            "githeal_app_errors_total",
            "Failures confined to one app's boundary (the other apps went on), by stage",
            ["app", "stage"],
            registry=r,
        )
        self.breaching = Gauge(
            "githeal_apps_breaching",
            "Apps with an SLO tier firing on OK data in the last cycle",
            registry=r,
        )
        self.circuit_open = Gauge(
            "githeal_circuit_open",
            "1 while an app's automatic heals are suspended by an open escalation",
            ["app"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
