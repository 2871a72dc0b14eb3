"""Wait for a heal to take effect: Argo CD synced and healthy at the heal commit, then the SLO recovered.

The watcher only sequences reads and verdicts; what to read is injected (``read_app``, ``read_slos``)
and so are the clock and sleep, so tests drive it without waiting. It never writes anything: the
caller records the outcome (commit status, PR comment, metrics) and escalates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import errors, model
from bot.verify import verdict


class Cancelled(Exception):
    """Raised by an injected sleep when the service stops: the watch ends without an outcome."""


@dataclass(frozen=True)
class Outcome:
    success: bool
    phase: verdict.Phase
    reason: str
    started_at: datetime
    synced_at: datetime | None = None
    healthy_at: datetime | None = None
    recovered_at: datetime | None = None
    checks: int = 0

    @property
    def still_burning(self) -> bool:
        return not self.success and self.phase is verdict.Phase.FAILED and "burning" in self.reason


@dataclass
class Watcher:
    read_app: Callable[[], model.AppStatus]
    read_slos: Callable[[datetime], Sequence[model.SLOReport]]
    slos: Sequence[model.SLO]
    contains: Callable[[str], bool]
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    interval: float = 5.0
    timeout: float = 900.0
    period: float = 300.0  # the short window must stay OK this long
    settle: float = 0.0  # after Healthy, ignore burning for this long (the short window's memory)

    def wait(self, heal_commit: str, pushed_at: datetime) -> Outcome:
        start = self.clock()
        deadline = start + timedelta(seconds=self.timeout)
        synced_at = healthy_at = streak = None
        phase, reason, checks = verdict.Phase.SYNCING, "not checked yet", 0

        def outcome(success: bool, ph: verdict.Phase, why: str) -> Outcome:
            return Outcome(
                success, ph, why, start, synced_at, healthy_at, self.clock() if success else None, checks
            )

        while True:
            now = self.clock()
            if now >= deadline:
                return outcome(False, verdict.Phase.FAILED, f"timed out after {self.timeout:.0f}s: {reason}")
            checks += 1
            try:
                status = self.read_app()
            except errors.ClientError as exc:
                reason = f"cannot read app: {exc}"
                self.sleep(self.interval)
                continue
            v = verdict.app_phase(status, heal_commit, pushed_at, self.contains)
            phase, reason = v.phase, v.reason
            if phase is verdict.Phase.FAILED:
                return outcome(False, phase, reason)
            if phase in (verdict.Phase.RECONCILING, verdict.Phase.HEALTH) and synced_at is None:
                synced_at = now
            if phase is verdict.Phase.HEALTH and status.health is model.HealthStatus.DEGRADED:
                return outcome(
                    False, verdict.Phase.FAILED, f"Degraded at the heal commit: {status.health_message}"
                )
            if phase is not verdict.Phase.SLO:
                self.sleep(self.interval)
                continue
            synced_at = synced_at or now
            healthy_at = healthy_at or now
            if not self.slos:
                streak = now
                return outcome(True, verdict.Phase.VERIFIED, "Synced and Healthy at the heal commit")
            burning = verdict.slo_burning(self.read_slos(now), self.slos)
            settled = now >= healthy_at + timedelta(seconds=self.settle)
            if burning is None:
                streak, reason = None, "SLO data not OK (no evidence of recovery)"
            elif burning:
                streak = None
                if settled:
                    return outcome(False, verdict.Phase.FAILED, "SLO still burning after the heal")
                reason = "SLO short window still holds errors from before the heal"
            else:
                streak = streak or now
                if now - streak >= timedelta(seconds=self.period):
                    return outcome(
                        True, verdict.Phase.VERIFIED, "SLO short window OK for the verification period"
                    )
                reason = "SLO recovering"
            self.sleep(self.interval)
