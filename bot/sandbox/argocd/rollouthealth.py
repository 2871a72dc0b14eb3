"""Argo CD's built-in health check of an Argo Rollouts ``Rollout`` (argoproj.io/v1alpha1), ported from Lua.

Source: argoproj/argo-cd ``resource_customizations/argoproj.io/Rollout/health.lua`` at commit
37ee0097cf851bc2dd7665fc081bbce61a7e836e, line for line: generation checks first, then the v1.0+
``status.phase``/``message`` surfaced as is (``Paused`` becomes ``Suspended``), then the legacy
conditions, pause, replica and strategy checks. A Lua runtime error (e.g. ``ipairs(nil)`` on a status
without ``conditions``) is what Argo CD reports as health ``Unknown`` with the error text. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.sandbox.argocd import workload


class LuaError(Exception):
    """Where the Lua script would raise (indexing nil, comparing nil, ipairs(nil))."""


def _tonumber(value: object) -> float | None:
    """Lua ``tonumber``: numbers as they are, numeric strings parsed, anything else nil."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return None
    return None


def _table(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``obj.key`` where the script indexes into it: nil there is a Lua error."""
    value = obj.get(key)
    if not isinstance(value, Mapping):
        raise LuaError(f"attempt to index a nil value (field '{key}')")
    return value


def _number(value: object, default: float) -> float:
    """``getNumberValueOrDefault``: any non-nil value is returned as is (numbers in practice)."""
    if value is None:
        return default
    number = _tonumber(value)
    if number is None:
        raise LuaError(f"attempt to compare string with number ({value!r})")
    return number


def _generation_observed(obj: Mapping[str, Any]) -> bool:
    """``isGenerationObserved``: only a numeric observedGeneration (v0.10+) is compared."""
    status = obj.get("status")
    if status is None:
        return False
    observed = _tonumber(status.get("observedGeneration"))
    if observed is None:
        return True  # a v0.9 rollout: observedGeneration is a hash
    generation = _tonumber((obj.get("metadata") or {}).get("generation"))
    if generation is None:
        raise LuaError("attempt to compare nil with number (metadata.generation)")
    if observed > generation:
        return True  # a v0.9 rollout whose hash happens to be all digits
    return observed == generation


def _workload_generation_observed(obj: Mapping[str, Any]) -> bool:
    """``isWorkloadGenerationObserved``: only for v1.1+ rollouts with ``spec.workloadRef``."""
    annotations = (obj.get("metadata") or {}).get("annotations")
    if _table(obj, "spec").get("workloadRef") is None or annotations is None:
        return True
    wanted = _tonumber(annotations.get("rollout.argoproj.io/workload-generation"))
    seen = _tonumber((obj.get("status") or {}).get("workloadObservedGeneration"))
    return wanted == seen


def _stable_rs(status: Mapping[str, Any]) -> str:
    """``getStableRS``: v0.8+ ``status.stableRS``, else the deprecated ``status.canary.stableRS``."""
    if status.get("stableRS") is not None:
        return str(status["stableRS"])
    canary = status.get("canary")
    if canary is not None:
        return str(canary.get("stableRS") or "")
    return ""


def _run(obj: Mapping[str, Any]) -> workload.Health:
    if not _generation_observed(obj) or not _workload_generation_observed(obj):
        return workload.Health("Progressing", "Waiting for rollout spec update to be observed")
    spec, status = _table(obj, "spec"), _table(obj, "status")
    if status.get("phase") is not None:
        phase = str(status["phase"])
        return workload.Health("Suspended" if phase == "Paused" else phase, str(status.get("message") or ""))
    conditions = status.get("conditions")
    if conditions is None:
        raise LuaError("bad argument #1 to 'ipairs' (table expected, got nil)")
    for condition in conditions:
        kind, reason = condition.get("type"), condition.get("reason")
        if kind == "InvalidSpec" or (
            kind == "Progressing" and reason in ("RolloutAborted", "ProgressDeadlineExceeded")
        ):
            return workload.Health("Degraded", str(condition.get("message") or ""))
    pause_conditions = status.get("pauseConditions")
    if (pause_conditions is not None and len(pause_conditions) > 0) or spec.get("paused") not in (
        None,
        False,
    ):
        return workload.Health("Suspended", "Rollout is paused")
    if status.get("currentPodHash") is None:
        return workload.Health(
            "Progressing", "Waiting for rollout to finish: status has not been reconciled."
        )
    desired = _number(spec.get("replicas"), 1)
    replicas = _number(status.get("replicas"), 0)
    updated = _number(status.get("updatedReplicas"), 0)
    available = _number(status.get("availableReplicas"), 0)
    if updated < desired:
        return workload.Health(
            "Progressing", "Waiting for roll out to finish: More replicas need to be updated"
        )
    if available < updated:
        return workload.Health(
            "Progressing", "Waiting for roll out to finish: updated replicas are still becoming available"
        )
    stable, current = _stable_rs(status), status.get("currentPodHash")
    strategy = _table(spec, "strategy")
    if strategy.get("blueGreen") is not None:
        blue_green = status.get("blueGreen")
        if blue_green is None or blue_green.get("activeSelector") != current:
            return workload.Health("Progressing", "active service cutover pending")
        if stable not in ("", current):
            return workload.Health("Progressing", "waiting for analysis to complete")
    elif strategy.get("canary") is not None:
        if replicas > updated:
            return workload.Health(
                "Progressing", "Waiting for roll out to finish: old replicas are pending termination"
            )
        if stable == "" or stable != current:
            return workload.Health("Progressing", "Waiting for rollout to finish steps")
    return workload.Health("Healthy", "")


def health(obj: Mapping[str, Any]) -> workload.Health:
    """The health Argo CD shows for this live Rollout object (``Unknown`` when the script errors)."""
    try:
        return _run(obj)
    except (LuaError, AttributeError, TypeError) as exc:
        return workload.Health("Unknown", f"failed to get resource health for Rollout: {exc}")
