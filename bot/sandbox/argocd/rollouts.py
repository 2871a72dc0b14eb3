"""The Argo Rollouts controller as far as Argo CD can see it: a canary ``Rollout``'s steps, abort and status.

Modelled on argoproj/argo-rollouts (commit 9f8d111d8f8e3e88b6d7f8bbdf62fd3cd863ef9d): a new pod template
becomes a new revision whose canary walks ``setWeight``/``pause``/``analysis`` steps; a failed step
AnalysisRun aborts it (``status.abort``, canary scaled to zero, the stable ReplicaSet serving, condition
``Progressing/RolloutAborted`` "Rollout aborted update to revision N: Step-based analysis phase
error/failed: ...", rollout/sync.go + rollout/analysis.go); a template equal to the stable one is a
"Rollback to stable ReplicaSets" that skips the steps and clears the abort (rollout/canary.go). The
status it writes follows utils/rollout/rolloututil.go CalculateRolloutPhase. Time is passed in; no I/O.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ANALYSIS_FAILED = 'Metric "success-rate" assessed Failed due to failed (1) > failureLimit (0)'
Judge = Callable[[Mapping[str, str]], str | None]
"""canary images -> "Failed" / "Successful", or None to let the analysis pass (the default)."""


def pod_hash(template: object) -> str:
    """A pod-template hash in the shape Argo Rollouts gives ReplicaSets (10 characters)."""
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def images_of(manifest: Mapping[str, Any]) -> dict[str, str]:
    pod = ((manifest.get("spec") or {}).get("template") or {}).get("spec") or {}
    return {str(c.get("name", "")): str(c.get("image", "")) for c in pod.get("containers") or []}


def _spec(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    return manifest.get("spec") or {}


def steps_of(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    canary = (_spec(manifest).get("strategy") or {}).get("canary") or {}
    return list(canary.get("steps") or [])


def replicas_of(manifest: Mapping[str, Any]) -> int:
    value = _spec(manifest).get("replicas")
    return 1 if value is None else int(value)


@dataclass
class Run:
    """What the rollouts controller keeps about one Rollout (in its status and ReplicaSets)."""

    revision: int
    stable_hash: str
    current_hash: str
    step: int  # status.currentStepIndex; len(steps) when fully promoted
    step_started: float
    generation: int = 1  # metadata.generation: bumped by every spec change
    observed: int = 1  # status.observedGeneration: the controller caught up with the spec
    spec_seen: str = ""
    changed_at: float = 0.0
    abort: bool = False
    aborted_at: float | None = None
    abort_message: str = ""
    images: dict[str, dict[str, str]] = field(default_factory=dict)  # pod hash -> container images
    revisions: dict[str, int] = field(default_factory=dict)  # pod hash -> ReplicaSet revision
    served: dict[str, Any] = field(default_factory=dict)  # the live object as last reconciled


def track(run: Run | None, manifest: Mapping[str, Any], now: float) -> Run:
    """Notice the live spec: a new Rollout is promoted at once (its first revision has no canary); a new
    template starts revision N+1 at step 0; the stable template again skips the steps and clears abort."""
    spec_text = json.dumps(_spec(manifest), sort_keys=True)
    template = _spec(manifest).get("template")
    current, images = pod_hash(template), images_of(manifest)
    if run is None:
        return Run(
            1,
            current,
            current,
            len(steps_of(manifest)),
            now,
            spec_seen=spec_text,
            changed_at=now,
            images={current: images},
            revisions={current: 1},
        )
    if spec_text == run.spec_seen:
        return run
    run.spec_seen, run.generation, run.changed_at = spec_text, run.generation + 1, now
    if current == run.current_hash:
        return run
    run.revision += 1
    run.images[current], run.revisions[current] = images, run.revision
    run.current_hash, run.step_started = current, now
    run.abort, run.aborted_at, run.abort_message = False, None, ""
    run.step = len(steps_of(manifest)) if current == run.stable_hash else 0
    return run


def advance(
    run: Run,
    manifest: Mapping[str, Any],
    now: float,
    ready: float,
    judge: Judge,
    *,
    canary_ok: bool = True,
    observe_delay: float = 0.25,
) -> None:
    """Walk the canary steps up to ``now``: a ``setWeight`` is done once its pods are ready (``ready``
    seconds; never while they crash, ``canary_ok`` False), ``pause`` after its duration (never without
    one), ``analysis`` after ``ready`` seconds with the judge's verdict on the canary images; a failure
    aborts. All steps done: promote."""
    if now < run.changed_at + observe_delay:
        return  # the controller has not yet observed the new spec (status.observedGeneration lags)
    run.observed = run.generation
    steps = steps_of(manifest)
    while not run.abort and run.current_hash != run.stable_hash:
        if run.step >= len(steps):
            if now < run.step_started + ready or not canary_ok:
                return  # no steps (or the last one done): the remaining replicas roll out
            run.stable_hash = run.current_hash
            return
        step, started = steps[run.step], run.step_started
        if "pause" in step:
            duration = (step.get("pause") or {}).get("duration")
            if duration is None:
                return  # an indefinite pause waits for a promote
            done = started + _seconds(duration)
        elif "analysis" in step:
            done = started + ready
            if now >= done and judge(run.images[run.current_hash]) == "Failed":
                run.abort, run.aborted_at = True, done
                run.abort_message = f"Step-based analysis phase error/failed: {ANALYSIS_FAILED}"
                return
        else:
            done = started + ready  # setWeight (and other steps): the canary pods become available
            if not canary_ok:
                return
        if now < done:
            return
        run.step, run.step_started = run.step + 1, done


def _seconds(value: object) -> float:
    text = str(value)
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    return float(text[:-1]) * units[text[-1]] if text[-1:] in units else float(text)


def weight(run: Run, manifest: Mapping[str, Any]) -> int:
    """The canary's share of traffic in percent: the last setWeight reached; 0 once aborted."""
    if run.abort:
        return 0
    if run.current_hash == run.stable_hash:
        return 100
    steps = steps_of(manifest)[: run.step + 1]
    return next((int(s["setWeight"]) for s in reversed(steps) if "setWeight" in s), 0)


def split(run: Run, manifest: Mapping[str, Any]) -> tuple[int, int]:
    """(stable replicas, canary replicas) of a basic canary: weight of the replicas, rounded up."""
    total = replicas_of(manifest)
    if run.current_hash == run.stable_hash:
        return 0, total
    canary = min(total, math.ceil(total * weight(run, manifest) / 100))
    return total - canary, canary


def _ts(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind: str, status: str, reason: str, message: str, at: float) -> dict[str, Any]:
    stamp = _ts(at)
    return {
        "lastTransitionTime": stamp,
        "lastUpdateTime": stamp,
        "message": message,
        "reason": reason,
        "status": status,
        "type": kind,
    }


def status(run: Run, manifest: Mapping[str, Any], now: float, canary_available: bool) -> dict[str, Any]:
    """``status`` of the live Rollout, phase and message as rolloututil.CalculateRolloutPhase sets them."""
    total, steps = replicas_of(manifest), steps_of(manifest)
    stable_n, canary_n = split(run, manifest)
    promoted = run.current_hash == run.stable_hash
    available = stable_n + (canary_n if canary_available else 0)
    pause = not promoted and not run.abort and run.step < len(steps) and "pause" in steps[run.step]
    out: dict[str, Any] = {
        "observedGeneration": str(run.observed),
        "currentPodHash": run.current_hash,
        "stableRS": run.stable_hash,
        "replicas": stable_n + canary_n,
        "updatedReplicas": canary_n,
        "readyReplicas": available,
        "availableReplicas": available,
        "HPAReplicas": stable_n + canary_n,
        "canary": {},
        "selector": f"app={manifest.get('metadata', {}).get('name', '')}",
    }
    if steps:
        out["currentStepIndex"] = min(run.step, len(steps))
        out["currentStepHash"] = pod_hash(steps)
    conditions = [_condition("Available", "True", "AvailableReason", "Rollout has minimum availability", now)]
    if run.abort:
        message = f"Rollout aborted update to revision {run.revision}: {run.abort_message}"
        at = run.aborted_at or now
        conditions.append(_condition("Progressing", "False", "RolloutAborted", message, at))
        out.update(abort=True, abortedAt=_ts(at), phase="Degraded", message=f"RolloutAborted: {message}")
    elif pause:
        reason = "CanaryPauseStep"
        out["pauseConditions"] = [{"reason": reason, "startTime": _ts(run.step_started)}]
        out["controllerPause"] = True
        conditions.append(_condition("Progressing", "Unknown", "RolloutPaused", "Rollout is paused", now))
        out.update(phase="Paused", message=reason)
    else:
        phase, message = _phase(out, total, promoted)
        reason = "NewReplicaSetAvailable" if phase == "Healthy" else "ReplicaSetUpdated"
        conditions.append(_condition("Progressing", "True", reason, message or "Rollout is healthy", now))
        out.update(phase=phase, message=message)
    out["conditions"] = conditions
    return out


def _phase(st: Mapping[str, Any], total: int, promoted: bool) -> tuple[str, str]:
    if st["updatedReplicas"] < total:
        return "Progressing", "more replicas need to be updated"
    if st["availableReplicas"] < st["updatedReplicas"]:
        return "Progressing", "updated replicas are still becoming available"
    if st["replicas"] > st["updatedReplicas"]:
        return "Progressing", "old replicas are pending termination"
    if not promoted:
        return "Progressing", "waiting for all steps to complete"
    return "Healthy", ""


def served(run: Run, manifest: Mapping[str, Any], now: float, canary_available: bool) -> dict[str, Any]:
    """The live object as the API server returns it: metadata.generation, the revision annotation, status."""
    out = dict(manifest)
    meta = dict(out.get("metadata") or {})
    meta["generation"] = run.generation
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        "rollout.argoproj.io/revision": str(run.revision),
    }
    out["metadata"] = meta
    out["status"] = status(run, manifest, now, canary_available)
    return out


def reconcile(
    run: Run,
    manifest: Mapping[str, Any],
    now: float,
    ready: float,
    judge: Judge,
    failing: Callable[[str], str | None] | None = None,
) -> None:
    """One pass of the rollouts controller: walk the steps, then write the live object to ``run.served``.
    Canary images that ``failing`` names crash: their pods never become available, and an analysis of
    them fails even when the judge has no opinion."""
    canary = run.images[run.current_hash]
    ok = not (failing and any(failing(image) for image in canary.values()))

    def verdict(images: Mapping[str, str]) -> str | None:
        return judge(images) or (None if ok else "Failed")

    advance(run, manifest, now, ready, verdict, canary_ok=ok)
    run.served = served(run, manifest, now, ok)
