"""Pure verdicts: has Argo CD applied the heal, is the app healthy on it, has the SLO recovered?

Each function looks at one observation and says which phase the heal is in. Health read before
Argo CD reconciled the heal's sync is stale, and non-OK SLO data is never recovery (nor failure).
No I/O and no clock reads here: the watcher passes ``now`` in.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot import model


class Phase(enum.StrEnum):
    SYNCING = "syncing"  # Argo CD has not synced the heal commit yet
    RECONCILING = "reconciling"  # synced, but health was not re-read since the sync finished
    HEALTH = "health"  # reconciled, not Healthy yet
    SLO = "slo"  # healthy; waiting for the SLO's short window to stay OK
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


def short_window_burning(report: model.SLOReport, slo: model.SLO) -> bool | None:
    """True when the SLO still burns on OK data, False when OK and below, None when data is not OK.

    Uses the short window of every page pair (the long window still remembers the bad period). For a
    threshold SLI, the breach flag itself.
    """
    if slo.kind == "threshold":
        if report.state is not model.SampleState.OK:
            return None
        return report.threshold_breach
    pages = [v for v in report.verdicts if v.window.severity is model.Severity.PAGE]
    if not pages:
        pages = list(report.verdicts)
    if not pages or any(v.short.state is not model.SampleState.OK for v in pages):
        return None
    return any(v.short.value is not None and v.short.value > v.window.factor * slo.budget for v in pages)


def slo_burning(reports: Sequence[model.SLOReport], slos: Sequence[model.SLO]) -> bool | None:
    """Combine several SLOs of one app: any burning -> True; any without OK data -> None."""
    by_name = {s.name: s for s in slos}
    seen: list[bool | None] = [short_window_burning(r, by_name[r.slo]) for r in reports if r.slo in by_name]
    if not seen:
        return None
    if any(s is True for s in seen):
        return True
    if any(s is None for s in seen):
        return None
    return False
