"""Pure verdicts: has Argo CD applied the heal, is the app healthy on it, has the SLO recovered?

Each function looks at one observation and says which phase the heal is in. Health read before
Argo CD reconciled the heal's sync is stale. Recovery is judged on the SLI over the interval since the
heal took effect (never on burn-rate windows that still remember the incident), against the page
tier's threshold with its minimum-events guard; non-OK data is never recovery (nor failure).
No I/O and no clock reads here: the watcher passes ``now`` in.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot import model
from bot.observe import burnrate, classify
from bot.observe import slo as slo_eval


class Phase(enum.StrEnum):
    SYNCING = "syncing"  # Argo CD has not synced the heal commit yet
    RECONCILING = "reconciling"  # synced, but health was not re-read since the sync finished
    HEALTH = "health"  # reconciled, not Healthy yet
    SLO = "slo"  # healthy; judging the SLI on data from after the heal took effect
    VERIFIED = "verified"
    FAILED = "failed"


@dataclass(frozen=True)
class AppVerdict:
    phase: Phase
    reason: str


def app_phase(
    status: model.AppStatus,
    heal_commit: str,
    pushed_at: datetime,
    contains: Callable[[str], bool],
) -> AppVerdict:
    """Where the app stands relative to the heal commit.

    ``contains(rev)`` says whether ``rev`` is the heal commit or a descendant of it (a git question the
    caller answers). The sync must have finished after the push and health must have been reconciled
    after that sync; only then is ``Healthy`` evidence about the heal.
    """
    rev = status.revision
    if not rev or not contains(rev):
        return AppVerdict(
            Phase.SYNCING, f"synced revision {rev[:7] or '-'} does not contain {heal_commit[:7]}"
        )
    if status.sync is not model.SyncStatus.SYNCED:
        return AppVerdict(Phase.SYNCING, f"sync status {status.sync}")
    if status.operation_running:
        return AppVerdict(Phase.SYNCING, "a sync operation is still running")
    finished = status.operation_finished_at
    failed_op = status.operation_phase not in (None, "Succeeded")
    if finished is not None and failed_op and finished >= pushed_at:
        return AppVerdict(Phase.FAILED, f"sync operation ended {status.operation_phase}")
    # An app that auto-synced before we looked may show an older operation; the revision check above
    # already proves the heal is applied, so only demand that health was read after that operation.
    if finished is not None and (status.reconciled_at is None or status.reconciled_at <= finished):
        return AppVerdict(Phase.RECONCILING, "health not reconciled since the sync finished")
    if status.reconciled_at is not None and status.reconciled_at < pushed_at:
        return AppVerdict(Phase.RECONCILING, "health was last reconciled before the heal was pushed")
    if status.health is not model.HealthStatus.HEALTHY:
        return AppVerdict(Phase.HEALTH, f"health {status.health}")
    return AppVerdict(Phase.SLO, "Synced and Healthy at the heal commit")


def judged_pairs(slo: model.SLO) -> list[model.BurnWindow]:
    """The pairs whose thresholds judge recovery: the page tier (all pairs when there is none)."""
    return [w for w in slo.windows if w.severity is model.Severity.PAGE] or list(slo.windows)


def recovery_threshold(slo: model.SLO) -> float:
    """The error ratio the post-heal interval must stay at or under: the strictest page threshold."""
    pairs = judged_pairs(slo)
    return min(w.factor for w in pairs) * slo.budget if pairs else 0.0


def recovery_min_events(slo: model.SLO) -> float:
    """Events the post-heal interval needs before its ratio can be compared with that threshold
    (slo-math.md 8.4: ``ceil(k / (BR * B))``; a threshold SLI uses its own guard)."""
    if slo.kind == "threshold":
        return classify.threshold_min_events(slo)
    pairs = judged_pairs(slo)
    if not pairs:
        return 0.0
    strictest = min(pairs, key=lambda w: w.factor)
    return float(burnrate.min_events(strictest, slo.budget, slo.min_events_k))


def burning_since(sample: model.Sample, slo: model.SLO) -> bool | None:
    """True when the SLI since the heal took effect breaches, False when OK and within, None when the
    data is not OK (missing, NaN, stale, partial, too few events: no evidence either way)."""
    if sample.state is not model.SampleState.OK or sample.value is None:
        return None
    if slo.kind == "threshold":
        compare = slo_eval.COMPARISONS.get(slo.comparison)
        return None if compare is None else compare(sample.value, slo.threshold)
    return sample.value > recovery_threshold(slo)


def slo_burning(samples: Mapping[str, model.Sample], slos: Sequence[model.SLO]) -> bool | None:
    """Combine the app's SLOs: any burning -> True; any without OK data -> None; else False."""
    seen = [burning_since(samples[s.name], s) if s.name in samples else None for s in slos]
    if not seen:
        return None
    if any(s is True for s in seen):
        return True
    if any(s is None for s in seen):
        return None
    return False


def describe(samples: Mapping[str, model.Sample], slos: Sequence[model.SLO]) -> str:
    """``availability 2.1% > 0.6% over 5m12s since the heal took effect`` (or why there is no evidence)."""
    out = []
    for slo in slos:
        s = samples.get(slo.name)
        if s is None:
            out.append(f"{slo.name}: not read")
        elif s.state is not model.SampleState.OK or s.value is None:
            out.append(f"{slo.name} {s.state}: {s.detail}".rstrip(": "))
        elif slo.kind == "threshold":
            out.append(f"{slo.name} {s.value:.4g} vs {slo.comparison} {slo.threshold:g}")
        else:
            op = ">" if s.value > recovery_threshold(slo) else "<="
            out.append(
                f"{slo.name} error ratio {s.value:.3%} {op} {recovery_threshold(slo):.3%} over "
                f"{model.format_duration(s.window)} ({s.total or 0:.0f} events)"
            )
    return "; ".join(out)


def next_steps(failed_in: Phase, still_burning: bool) -> tuple[str, ...]:
    """The advice of an escalation, matching the phase in which the heal failed."""
    steps = ["Check the app's recent Argo CD events and pod logs."]
    if still_burning:
        steps.append(
            "Argo CD was Synced and Healthy at the heal commit, but the SLO kept burning on data from "
            "after the heal: suspect a dependency or infrastructure, not this deploy."
        )
    elif failed_in is Phase.SLO:
        steps.append(
            "Argo CD was Synced and Healthy at the heal commit, but the SLO had no usable data since "
            "(no traffic, stale or missing series, query errors): check scraping and the SLI queries."
        )
    elif failed_in is Phase.HEALTH:
        steps.append("The heal commit synced but the app never became Healthy: check its health message.")
    elif failed_in is Phase.RECONCILING:
        steps.append("Synced, but Argo CD did not re-read health in time: check the controller.")
    else:
        steps.append("Argo CD did not sync the heal commit in time: check sync errors and the operation.")
    steps.append("Close this issue (or remove its label) to let githeal act on this app again.")
    return tuple(steps)
