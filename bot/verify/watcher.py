"""Wait for a heal to take effect: Argo CD synced and healthy at the heal commit, then the SLO judged on
the SLI from that moment on (never on windows that still hold the incident).

The watcher only sequences reads and verdicts; what to read is injected (``read_app``, ``read_since``)
and so are the clock and sleep, so tests drive it without waiting. It never writes anything: the
caller records the outcome (commit status, PR comment, metrics) and escalates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
    failed_in: verdict.Phase | None = None  # the phase the heal was in when it failed
    evidence: str = ""  # the last post-heal SLI reading, for comments and issues

    @property
    def still_burning(self) -> bool:
        return not self.success and self.phase is verdict.Phase.FAILED and "burning" in self.reason

    def advice(self) -> tuple[str, ...]:
        return verdict.next_steps(self.failed_in or verdict.Phase.SYNCING, self.still_burning)


# (since, now) -> one classified sample per SLO name: the SLI from ``since`` to the data's instant
ReadSince = Callable[[datetime, datetime], Mapping[str, model.Sample]]


@dataclass
class Watcher:
    """``timeout`` bounds reaching Synced + Healthy at the heal commit; the SLO judgement then gets
    ``period`` of post-heal data, which Prometheus answers ``lag`` (``prometheus.offset``) late."""

    read_app: Callable[[], model.AppStatus]
    read_since: ReadSince
    slos: Sequence[model.SLO]
    contains: Callable[[str], bool]
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    interval: float = 5.0
    timeout: float = 900.0
    period: float = 300.0  # seconds of post-heal data needed before judging
    lag: float = 0.0  # how far in the past the SLI reader evaluates (prometheus.offset)

    def wait(self, heal_commit: str, pushed_at: datetime) -> Outcome:
        start = self.clock()
        deadline = start + timedelta(seconds=self.timeout + self.lag)
        synced_at: datetime | None = None
        healthy_at: datetime | None = None
        phase, reason, checks, evidence = verdict.Phase.SYNCING, "not checked yet", 0, ""

        def outcome(success: bool, ph: verdict.Phase, why: str) -> Outcome:
            return Outcome(
                success,
                ph,
                why,
                start,
                synced_at,
                healthy_at,
                self.clock() if success else None,
                checks,
                None if success else phase,
                evidence,
            )

        while True:
            now = self.clock()
            if now >= deadline:
                return outcome(False, verdict.Phase.FAILED, f"timed out after {self.timeout:.0f}s: {reason}")
            checks += 1
            if healthy_at is None:
                try:
                    status = self.read_app()
                except errors.ClientError as exc:
                    reason = f"cannot read app: {exc}"
                    self.sleep(self.interval)
                    continue
                v = verdict.app_phase(status, heal_commit, pushed_at, self.contains)
                phase, reason = v.phase, v.reason
                if phase is verdict.Phase.FAILED:
                    phase = verdict.Phase.SYNCING
                    return outcome(False, verdict.Phase.FAILED, v.reason)
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
                healthy_at = now
                if not self.slos:
                    return outcome(True, verdict.Phase.VERIFIED, "Synced and Healthy at the heal commit")
                # the judgement needs `period` of data after this instant, read `lag` late
                ready = healthy_at + timedelta(seconds=self.period + self.lag)
                deadline = max(deadline, ready + timedelta(seconds=self.interval))
            ready = healthy_at + timedelta(seconds=self.period + self.lag)
            if now < ready:
                reason = f"waiting for {self.period:.0f}s of SLI data from after the heal took effect"
                self.sleep(min(self.interval, max((ready - now).total_seconds(), 0.001)))
                continue
            samples = self.read_since(healthy_at, now)
            burning = verdict.slo_burning(samples, self.slos)
            evidence = verdict.describe(samples, self.slos)
            if burning is None:
                reason = f"SLO data since the heal is not OK (no evidence of recovery): {evidence}"
            elif burning:
                return outcome(False, verdict.Phase.FAILED, f"SLO still burning after the heal: {evidence}")
            else:
                return outcome(
                    True, verdict.Phase.VERIFIED, f"SLO within its page threshold since the heal: {evidence}"
                )
            self.sleep(self.interval)
