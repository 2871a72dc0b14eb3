"""The workload simulator's pure model: what one app serves given its live state and offered load.

Image behaviours, ConfigMap rules, traffic profiles and the capacity/latency curve live here as frozen
values and one function, ``serve``, that turns them into per-code shares, a latency and a health.
This module must not do I/O, keep state or read a clock: the simulator owns time and counters.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot import model

HEALTHY, ERRORS, SLOW, CRASH_LOOP = "healthy", "errors", "slow", "crash-loop"
KINDS = (HEALTHY, ERRORS, SLOW, CRASH_LOOP)
# Above this utilisation queueing starts to show in latency (the HPA's usual 80% target).
KNEE = 0.8


@dataclass(frozen=True)
class Behaviour:
    """How a container image behaves: ``errors`` returns 500 for ``error_rate`` of requests, ``slow``
    adds ``latency`` seconds, ``crash-loop`` serves nothing (all 503) and makes the app Degraded."""

    kind: str = HEALTHY
    error_rate: float = 0.0
    latency: float = 0.0

    @classmethod
    def parse(cls, raw: object) -> Behaviour:
        """``"healthy"``, ``"crash-loop"`` or ``{kind, error_rate, latency}`` (latency a duration)."""
        if isinstance(raw, str):
            raw = {"kind": raw}
        if not isinstance(raw, Mapping):
            raise ValueError(f"behaviour must be a kind name or a mapping, got {raw!r}")
        unknown = set(raw) - {"kind", "error_rate", "latency"}
        if unknown:
            raise ValueError(f"unknown behaviour keys {sorted(unknown)}")
        kind = str(raw.get("kind", ERRORS if "error_rate" in raw else SLOW if "latency" in raw else HEALTHY))
        if kind not in KINDS:
            raise ValueError(f"behaviour kind {kind!r} is not one of {', '.join(KINDS)}")
        rate = _fraction(raw.get("error_rate", 0.0), "error_rate")
        latency = model.parse_duration(raw.get("latency", 0.0))
        if kind == ERRORS and rate == 0.0:
            raise ValueError("behaviour 'errors' needs an error_rate above 0")
        if kind == SLOW and latency == 0.0:
            raise ValueError("behaviour 'slow' needs a latency above 0")
        return cls(kind, rate, latency)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "error_rate": self.error_rate, "latency": self.latency}


@dataclass(frozen=True)
class ConfigRule:
    """A bad ConfigMap value causes errors: when ``configmaps[configmap][key]`` is in ``bad_values``,
    ``error_rate`` of the served requests fail with 500. ``app`` limits the rule to one app."""

    configmap: str
    key: str
    bad_values: tuple[str, ...]
    error_rate: float
    app: str | None = None

    @classmethod
    def parse(cls, raw: object) -> ConfigRule:
        if not isinstance(raw, Mapping):
            raise ValueError(f"config rule must be a mapping, got {raw!r}")
        unknown = set(raw) - {"configmap", "key", "bad_values", "error_rate", "app"}
        missing = {"configmap", "key", "bad_values", "error_rate"} - set(raw)
        if unknown or missing:
            raise ValueError(f"config rule: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        bad = raw["bad_values"]
        if not isinstance(bad, list | tuple) or not bad:
            raise ValueError("config rule: bad_values must be a non-empty list")
        app = raw.get("app")
        return cls(
            configmap=str(raw["configmap"]),
            key=str(raw["key"]),
            bad_values=tuple(str(v) for v in bad),
            error_rate=_fraction(raw["error_rate"], "error_rate"),
            app=None if app is None else str(app),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "configmap": self.configmap,
            "key": self.key,
            "bad_values": list(self.bad_values),
            "error_rate": self.error_rate,
            "app": self.app,
        }


@dataclass(frozen=True)
class AppSpec:
    """One simulated app: steady offered load, capacity of one replica, latency when not loaded."""

    name: str
    rps: float = 20.0
    capacity: float = 50.0  # requests/s one replica serves before shedding
    base_latency: float = 0.05  # seconds


@dataclass(frozen=True)
class Traffic:
    """Offered load: ``rps * multiplier``; the multiplier falls back to 1 at ``until`` (sim seconds)."""

    rps: float
    multiplier: float = 1.0
    until: float | None = None

    def rate(self, now: float) -> float:
        return self.rps * self.current_multiplier(now)

    def current_multiplier(self, now: float) -> float:
        if self.until is not None and now >= self.until:
            return 1.0
        return self.multiplier


@dataclass(frozen=True)
class Outcome:
    """What an app does with its offered load right now. Shares sum to 1."""

    rate: float
    replicas: int
    share: Mapping[str, float]  # code -> share of requests: "200", "500", "503"
    latency: float  # seconds, for served requests
    shed_latency: float  # seconds, for requests refused (503)
    health: str  # Healthy | Degraded | Progressing
    behaviour: Behaviour = field(default_factory=Behaviour)
    images: tuple[str, ...] = ()
    bad_config: tuple[str, ...] = ()  # "configmap/key=value" that matched a rule

    @property
    def load_per_replica(self) -> float:
        return self.rate / max(self.replicas, 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "replicas": self.replicas,
            "load_per_replica": self.load_per_replica,
            "images": list(self.images),
            "behaviour": self.behaviour.to_json(),
            "bad_config": list(self.bad_config),
            "share": dict(self.share),
            "latency": self.latency,
            "health": self.health,
        }


def behaviour_for(images: Iterable[str], behaviours: Mapping[str, Behaviour]) -> Behaviour:
    """Combine the behaviours of all images: crash-loop wins, error rates compound, latencies add."""
    matched = []
    for image in images:
        # first matching glob wins for one image
        found = next((b for glob, b in behaviours.items() if fnmatch.fnmatchcase(image, glob)), None)
        if found is not None:
            matched.append(found)
    rate = compound(b.error_rate for b in matched)
    latency = sum(b.latency for b in matched)
    if any(b.kind == CRASH_LOOP for b in matched):
        return Behaviour(CRASH_LOOP, rate, latency)
    return Behaviour(ERRORS if rate > 0 else SLOW if latency > 0 else HEALTHY, rate, latency)


def compound(rates: Iterable[float]) -> float:
    """Share failing when independent failures stack; exact (no float residue) for a single cause."""
    causes = [r for r in rates if r > 0]
    if len(causes) <= 1:
        return causes[0] if causes else 0.0
    return 1.0 - math.prod(1.0 - r for r in causes)


def config_errors(
    app: str, configmaps: Mapping[str, Mapping[str, str]], rules: Iterable[ConfigRule]
) -> tuple[float, tuple[str, ...]]:
    """Error share caused by bad ConfigMap values, and which values matched."""
    rates, matched = [], []
    for rule in rules:
        if rule.app not in (None, app):
            continue
        value = configmaps.get(rule.configmap, {}).get(rule.key)
        if value is not None and str(value) in rule.bad_values:
            rates.append(rule.error_rate)
            matched.append(f"{rule.configmap}/{rule.key}={value}")
    return compound(rates), tuple(matched)


def latency_at(utilisation: float, base: float) -> float:
    """Flat up to the knee, then linear growth: 3x base at 100%, 13x at 200% (queueing, no randomness)."""
    return base * (1.0 + 10.0 * max(0.0, utilisation - KNEE))


def effective_replicas(declared: int, hpa: tuple[int, int] | None, rate: float, capacity: float) -> int:
    """Without an HPA, the declared count. With one, what an instantaneous HPA targeting 80% would pick."""
    if hpa is None:
        return declared
    low, high = hpa
    wanted = math.ceil(rate / (capacity * KNEE)) if capacity > 0 else high
    return max(low, min(high, wanted))


def serve(
    spec: AppSpec,
    rate: float,
    replicas: int,
    images: tuple[str, ...],
    behaviours: Mapping[str, Behaviour],
    *,
    config_error: float = 0.0,
    bad_config: tuple[str, ...] = (),
    progressing: bool = False,
) -> Outcome:
    """Split offered ``rate`` into 200/500/503 shares and compute latency and health."""
    behaviour = behaviour_for(images, behaviours)
    base = spec.base_latency
    if behaviour.kind == CRASH_LOOP or replicas <= 0:
        # No ready endpoints: the Service refuses every request quickly.
        health = "Degraded" if behaviour.kind == CRASH_LOOP else "Healthy"
        share = {"200": 0.0, "500": 0.0, "503": 1.0}
        return Outcome(rate, replicas, share, base, base, health, behaviour, images, bad_config)
    served_capacity = replicas * spec.capacity
    shed = max(0.0, (rate - served_capacity) / rate) if rate > 0 else 0.0
    utilisation = rate / served_capacity if served_capacity > 0 else 0.0
    fail = compound((behaviour.error_rate, config_error))
    served = 1.0 - shed
    share = {"200": served * (1.0 - fail), "500": served * fail, "503": shed}
    latency = latency_at(utilisation, base) + behaviour.latency
    health = "Progressing" if progressing else "Healthy"
    return Outcome(rate, replicas, share, latency, base, health, behaviour, images, bad_config)


def _fraction(value: object, key: str) -> float:
    if isinstance(value, str) and value.endswith("%"):
        value = float(value[:-1]) / 100.0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{key} must be a number between 0 and 1, got {value!r}")
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{key} must be between 0 and 1 (or a percentage), got {value!r}")
    return number


def mix(stable: Outcome, canary: Outcome, weight: float) -> Outcome:
    """A canary taking ``weight`` of the requests: shares add up by weight; latency is the weighted mean
    (one latency per outcome is all the simulator's histogram takes); the worse health wins."""
    share = {c: (1 - weight) * stable.share[c] + weight * canary.share[c] for c in stable.share}
    latency = (1 - weight) * stable.latency + weight * canary.latency
    health = canary.health if canary.health == "Degraded" else stable.health
    images = tuple(sorted({*stable.images, *canary.images}))
    return Outcome(
        stable.rate,
        stable.replicas,
        share,
        latency,
        stable.shed_latency,
        health,
        canary.behaviour if weight > 0 else stable.behaviour,
        images,
        stable.bad_config,
    )


def analysis(images: Iterable[str], behaviours: Mapping[str, Behaviour], max_error: float = 0.05) -> str:
    """What a canary AnalysisRun measuring the success rate (>= 1 - ``max_error``) and readiness says
    about these images: ``Failed`` or ``Successful``."""
    found = behaviour_for(images, behaviours)
    return "Failed" if found.kind == CRASH_LOOP or found.error_rate > max_error else "Successful"
