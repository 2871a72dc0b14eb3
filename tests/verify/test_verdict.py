"""Table tests for the pure verification verdicts and the watcher driven by a fake clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot import errors, model
from bot.verify import verdict, watcher

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
HEAL = "a" * 40
OLD = "b" * 40


def status(**kw: object) -> model.AppStatus:
    base = model.AppStatus(
        name="checkout",
        project="default",
        repo_url="file:///r",
        path="apps/checkout",
        target_revision="main",
        sync=model.SyncStatus.SYNCED,
        health=model.HealthStatus.HEALTHY,
        revision=HEAL,
        reconciled_at=T0 + timedelta(seconds=20),
        operation_phase="Succeeded",
        operation_finished_at=T0 + timedelta(seconds=10),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def contains(rev: str) -> bool:
    return rev == HEAL


@pytest.mark.parametrize(
    ("changes", "phase"),
    [
        ({}, verdict.Phase.SLO),
        ({"revision": OLD}, verdict.Phase.SYNCING),
        ({"revision": ""}, verdict.Phase.SYNCING),
        ({"sync": model.SyncStatus.OUT_OF_SYNC}, verdict.Phase.SYNCING),
        ({"operation_running": True}, verdict.Phase.SYNCING),
        ({"reconciled_at": T0 + timedelta(seconds=5)}, verdict.Phase.RECONCILING),
        ({"reconciled_at": None}, verdict.Phase.RECONCILING),
        (
            {"operation_finished_at": None, "reconciled_at": T0 - timedelta(seconds=1)},
            verdict.Phase.RECONCILING,
        ),
        ({"health": model.HealthStatus.PROGRESSING}, verdict.Phase.HEALTH),
        ({"health": model.HealthStatus.DEGRADED}, verdict.Phase.HEALTH),
        ({"operation_phase": "Failed"}, verdict.Phase.FAILED),
    ],
)
def test_app_phase(changes: dict[str, object], phase: verdict.Phase) -> None:
    assert verdict.app_phase(status(**changes), HEAL, T0, contains).phase is phase


SLO = model.SLO(
    name="avail",
    objective=0.99,
    period=30 * 86400,
    windows=(model.BurnWindow(model.Severity.PAGE, 3600, 300, 14.4),),
)


def sample(value: float | None, state: model.SampleState = model.SampleState.OK) -> model.Sample:
    return model.Sample("checkout", "avail", 300, state, value, 1000)


@pytest.mark.parametrize(
    ("value", "state", "expected"),
    [
        (0.0, model.SampleState.OK, False),
        (0.143, model.SampleState.OK, False),  # just below 14.4 x 1%
        (0.2, model.SampleState.OK, True),
        (float("nan"), model.SampleState.NO_TRAFFIC, None),
        (None, model.SampleState.NO_SERIES, None),
        (None, model.SampleState.QUERY_ERROR, None),
        (0.0, model.SampleState.STALE, None),
    ],
)
def test_burning_since_the_heal(value: float | None, state: model.SampleState, expected: bool | None) -> None:
    assert verdict.burning_since(sample(value, state), SLO) is expected


def test_recovery_uses_the_strictest_page_threshold_and_its_event_guard() -> None:
    # default workbook tiers at 99.9%: page thresholds 14.4x and 6x -> 0.6%; ceil(3 / 0.006) = 500 events
    slo = model.SLO("avail", 0.999, 30 * 86400, windows=model.tier_windows(30 * 86400, model.WORKBOOK_TIERS))
    assert verdict.recovery_threshold(slo) == pytest.approx(0.006)
    assert verdict.recovery_min_events(slo) == 500


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def run(
    statuses: list[model.AppStatus | Exception], slo_values: list[float | None], **kw: object
) -> watcher.Outcome:
    clock = FakeClock()
    apps = iter(statuses)
    values = iter(slo_values)
    last: list[model.AppStatus] = []
    reads: list[tuple[datetime, datetime]] = []

    def read_app() -> model.AppStatus:
        item = next(apps, None)
        if isinstance(item, Exception):
            raise item
        if item is not None:
            last[:] = [item]
        return last[0]

    def read_since(since: datetime, now: datetime) -> dict[str, model.Sample]:
        reads.append((since, now))
        v = next(values, 0.0)
        return {"avail": sample(v) if v is not None else sample(None, model.SampleState.NO_TRAFFIC)}

    w = watcher.Watcher(
        read_app=read_app,
        read_since=read_since,
        slos=[SLO],
        contains=contains,
        clock=clock,
        sleep=clock.sleep,
        interval=10,
        timeout=kw.pop("timeout", 600),  # type: ignore[arg-type]
        period=30,
        lag=15,
    )
    pushed = T0 - timedelta(seconds=30)
    out = w.wait(HEAL, pushed)
    READS[:] = reads
    return out


READS: list[tuple[datetime, datetime]] = []


def test_watcher_verifies_after_sync_health_and_slo_period() -> None:
    seq: list[model.AppStatus | Exception] = [
        status(revision=OLD),
        errors.ArgoCDUnavailable("down"),
        status(health=model.HealthStatus.PROGRESSING),
        status(),
    ]
    out = run(seq, [0.0])
    assert out.success and out.phase is verdict.Phase.VERIFIED
    assert out.synced_at is not None and out.healthy_at is not None and out.recovered_at is not None
    # judged once, on data from the moment it was Healthy, after period (30s) + offset (15s)
    assert [(out.healthy_at, out.recovered_at)] == READS
    assert out.recovered_at - out.healthy_at >= timedelta(seconds=45)
    assert out.recovered_at - out.healthy_at < timedelta(seconds=60)


def test_watcher_fails_when_still_burning_on_post_heal_data() -> None:
    out = run([status()], [0.5])
    assert not out.success and out.still_burning
    assert out.failed_in is verdict.Phase.SLO
    assert any("kept burning on data from after the heal" in s for s in out.advice())


def test_watcher_never_counts_missing_data_as_recovery() -> None:
    out = run([status()], [None] * 100, timeout=200)
    assert not out.success and "timed out" in out.reason
    assert out.recovered_at is None and not out.still_burning
    advice = " ".join(out.advice())
    assert "no usable data" in advice and "did not sync" not in advice


def test_watcher_fails_on_degraded_at_heal_commit() -> None:
    out = run([status(health=model.HealthStatus.DEGRADED, health_message="crash")], [])
    assert not out.success and "Degraded" in out.reason
    assert out.failed_in is verdict.Phase.HEALTH and "never became Healthy" in " ".join(out.advice())


def test_watcher_times_out_when_never_synced() -> None:
    out = run([status(revision=OLD)], [], timeout=100)
    assert not out.success and out.phase is verdict.Phase.FAILED and "timed out" in out.reason
    assert "did not sync the heal commit" in " ".join(out.advice())


def test_a_slow_sync_still_gets_its_period_of_post_heal_data() -> None:
    # Healthy only after 590s of a 600s timeout: the judgement still waits for period + offset
    seq: list[model.AppStatus | Exception] = [status(revision=OLD)] * 59 + [status()]
    out = run(seq, [0.0])
    assert out.success, out.reason
    assert out.healthy_at is not None and out.healthy_at - T0 >= timedelta(seconds=590)
