"""Replica maths for scale policies, HPA-style (slo-math.md section 6): recommend, step, bound.

``recommend`` is the HPA formula with its 0.1 deadband; ``up`` and ``down`` turn a recommendation
into one bounded commit (step limits, min/max, baseline floor, scale-down stabilization = the max
recommendation over the window). When an HPA owns the workload the change is written as HPA
minReplicas/maxReplicas, never ``replicas`` (6.3). Pure arithmetic: no history, no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.settings import policy as pol
from bot.settings import tree

TOLERANCE = 0.1  # HPA --horizontal-pod-autoscaler-tolerance


@dataclass(frozen=True)
class Change:
    """One scale commit. ``target`` says what the act stage writes: ``replicas`` or the HPA bounds."""

    direction: str  # "up" | "down"
    current: int  # the count being changed: replicas, or the HPA minReplicas when an HPA owns the workload
    desired: int  # after step limits and bounds
    recommended: int  # before step limits (stabilized when scaling down)
    target: str  # "replicas" | "hpa"
    hpa_min: int | None = None  # new HPA bounds to write when target == "hpa"
    hpa_max: int | None = None
    limits: tuple[str, ...] = ()  # what held the change back: "step" (per-commit limit), "max" (bound)

    def describe(self) -> str:
        what = (
            f"HPA minReplicas {self.current} -> {self.hpa_min} (maxReplicas {self.hpa_max})"
            if self.target == "hpa"
            else f"replicas {self.current} -> {self.desired}"
        )
        held = f"; limited by {', '.join(self.limits)}" if self.limits else ""
        return f"scale {self.direction}: {what} (recommended {self.recommended}{held})"


def bounded(spec: pol.Scale, app: tree.AppSpec | None) -> pol.Scale:
    """The policy's bounds narrowed by the app's own ``scaling: {min, max}``: the stricter one wins."""
    if app is None:
        return spec
    hi = min(spec.max, app.max_replicas) if app.max_replicas is not None else spec.max
    lo = max(spec.min, app.min_replicas) if app.min_replicas is not None else spec.min
    return replace(spec, min=min(lo, hi), max=hi)


def floor_of(spec: pol.Scale) -> int:
    """The lowest count the bot scales down to: the baseline when one is set, never below ``min``."""
    return max(spec.min, spec.baseline if spec.baseline is not None else spec.min)


def recommend(replicas: int, load: float, spec: pol.Scale) -> int:
    """``ceil(replicas * load / target)`` unless within the deadband, clamped to [floor, max].

    The result is the recommendation the stabilization window remembers; the floor (baseline or
    min) is applied here so a quiet period recommends "back to baseline", never below it.
    """
    ratio = load / spec.target_per_replica
    raw = replicas if abs(ratio - 1.0) <= TOLERANCE else math.ceil(replicas * ratio)
    return min(max(raw, floor_of(spec)), spec.max)


def within_deadband(load: float, spec: pol.Scale) -> bool:
    return abs(load / spec.target_per_replica - 1.0) <= TOLERANCE


def up(replicas: int, load: float, spec: pol.Scale, hpa: tuple[int, int] | None) -> Change | str:
    """A scale-up commit, or the reason there is none (deadband, already at max, HPA already covers it)."""
    if replicas <= 0:
        return "no running replicas: load per replica is undefined"
    if within_deadband(load, spec):
        return (
            f"load {load:g} per replica is within {TOLERANCE:.0%} of the target {spec.target_per_replica:g}"
        )
    ratio = load / spec.target_per_replica
    raw = math.ceil(replicas * ratio)
    recommended = min(max(raw, spec.min), spec.max)
    limits = ["max"] if raw > spec.max else []
    desired = recommended
    if desired > replicas + spec.max_step_up:
        desired = replicas + spec.max_step_up
        limits.append("step")
    if hpa is not None:
        hpa_min, hpa_max = hpa
        if desired <= hpa_min:
            return f"HPA minReplicas {hpa_min} already covers the {desired} replicas needed"
        return Change(
            "up", hpa_min, desired, recommended, "hpa", desired, max(hpa_max, desired), tuple(limits)
        )
    if desired <= replicas:
        if replicas >= spec.max:
            return f"already at the policy maximum of {spec.max} replicas (escalate instead)"
        return f"recommendation {recommended} does not exceed the current {replicas} replicas"
    return Change("up", replicas, desired, recommended, "replicas", limits=tuple(limits))


def stabilized(recommendations: Iterable[tuple[datetime, int]], at: datetime, window: float) -> int | None:
    """The highest recommendation of the last ``window`` seconds (HPA scale-down stabilization)."""
    start = at - timedelta(seconds=window)
    values = [n for t, n in recommendations if t >= start]
    return max(values) if values else None


def down(replicas: int, recommended: int, spec: pol.Scale, hpa: tuple[int, int] | None) -> Change | None:
    """A scale-down commit toward the stabilized recommendation, one bounded step; None when none is due.

    With an HPA the bot only lowers the minReplicas it may have raised: the HPA scales pods itself.
    """
    current = hpa[0] if hpa is not None else replicas
    target = max(recommended, floor_of(spec))
    if target >= current:
        return None
    limits = []
    desired = target
    if desired < current - spec.max_step_down:
        desired = current - spec.max_step_down
        limits.append("step")
    if hpa is not None:
        return Change(
            "down", current, desired, recommended, "hpa", desired, max(hpa[1], desired), tuple(limits)
        )
    return Change("down", current, desired, recommended, "replicas", limits=tuple(limits))
