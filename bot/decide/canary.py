"""Read an app's Argo Rollouts canaries for the ``rollout_aborted`` trigger: aborted, fine, or cannot say.

Aborted means Argo CD reports a Rollout Degraded because its canary was aborted (the Lua health check
surfaces the Rollouts phase message "RolloutAborted: Rollout aborted update to revision N: ...", or a
legacy ``status.abort``), while Git still says that version: the app is Synced, no sync is running and
the Rollouts controller has observed the spec. Paused, Progressing or Healthy Rollouts are not aborted;
unreadable, Unknown, not-yet-observed or contradictory data holds. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import model

H = model.HealthStatus


@dataclass(frozen=True)
class Finding:
    state: str  # "firing" | "clear" | "hold" (triggers.Reading values)
    evidence: tuple[str, ...] = ()
    note: str = ""
    suspect: bool = False  # held while a Rollout looked aborted: worth a Skip saying why


def _images(images: tuple[str, ...]) -> str:
    return ", ".join(images) if images else "images unknown"


def describe(r: model.RolloutState) -> tuple[str, ...]:
    """Evidence lines: the abort as Argo CD words it, and which ReplicaSet serves instead."""
    lines = [f"Rollout {r.namespace}/{r.name} {r.health}: {r.message or 'aborted (status.abort)'}"]
    if r.stable_hash:
        lines.append(
            f"stable ReplicaSet {r.name}-{r.stable_hash} serves {_images(r.stable_images)}; "
            f"aborted canary {r.name}-{r.current_hash or '?'} ran {_images(r.canary_images)}"
        )
    return tuple(lines)


def read(obs: model.AppObservation) -> Finding:
    """FIRING for an aborted canary that Git still asks for; HOLD on any doubt; CLEAR otherwise."""
    status = obs.status
    if status is None:
        return Finding("hold", note=f"Argo CD status unreadable: {obs.error or 'unknown error'}")
    if not status.rollouts and not obs.rollouts:
        return Finding("clear")  # the app has no Rollout
    aborted = [r for r in obs.rollouts if r.abort_reported]
    if obs.rollout_error:
        return Finding("hold", note=obs.rollout_error, suspect=bool(aborted))
    if not obs.rollouts:
        return Finding("hold", note=f"Rollouts of {status.name} not observed")
    if not aborted:
        unknown = [r for r in obs.rollouts if r.health is H.UNKNOWN]
        if unknown:
            names = ", ".join(f"{r.namespace}/{r.name}" for r in unknown)
            return Finding("hold", note=f"Rollout health Unknown: {names}")
        return Finding("clear")  # Healthy, Progressing, Suspended (paused), or Degraded for another cause
    first = aborted[0]
    doubt = ""
    if status.sync is not model.SyncStatus.SYNCED:
        doubt = f"app is {status.sync}: Git no longer matches the aborted version; waiting for Argo CD"
    elif status.operation_running or status.operation_phase in ("Running", "Terminating"):
        doubt = "a sync operation is running"
    elif first.aborted is False:
        doubt = f"Rollout {first.name} health says aborted but its live status.abort is false"
    elif first.observed is False:
        doubt = f"Rollout {first.name} spec changed and is not yet observed by Argo Rollouts"
    if doubt:
        return Finding("hold", note=doubt, suspect=True)
    evidence = tuple(line for r in aborted for line in describe(r))
    revision = f" revision {first.revision}" if first.revision else ""
    return Finding("firing", evidence, note=f"canary of Rollout {first.name}{revision} aborted")
