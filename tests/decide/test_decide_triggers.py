"""When-evaluation and cross-cycle memory: FIRING/CLEAR/HOLD per trigger, streak semantics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from plankit import BAD, T0, TICK, cycles, obs, policy, report, run, snap, status

from bot import model
from bot.decide import memory as mem
from bot.decide import triggers
from bot.settings import policy as pol

R = triggers.Reading
H = model.HealthStatus
NON_OK = [s for s in model.SampleState if s is not model.SampleState.OK]

PAGE2 = pol.SloTrigger(model.Severity.PAGE, 2)
TICKET1 = pol.SloTrigger(model.Severity.TICKET, 1)
DEGRADED5M = pol.HealthTrigger((H.DEGRADED, H.MISSING), 300.0)
OOS10M = pol.OutOfSyncTrigger(600.0)
LAT3 = pol.ThresholdTrigger("latency", 3)
LOAD80 = pol.LoadTrigger(80.0, 2)


@pytest.mark.parametrize(
    ("trigger", "observation", "reading"),
    [
        pytest.param(PAGE2, obs(slos=[report(page=True)]), R.FIRING, id="slo-page-fires"),
        pytest.param(PAGE2, obs(slos=[report()]), R.CLEAR, id="slo-page-clear"),
        pytest.param(PAGE2, obs(slos=[report(ticket=True)]), R.CLEAR, id="slo-page-ignores-ticket"),
        pytest.param(TICKET1, obs(slos=[report(ticket=True)]), R.FIRING, id="slo-ticket-fires"),
        pytest.param(TICKET1, obs(slos=[report(page=True)]), R.FIRING, id="slo-ticket-fires-on-page"),
        pytest.param(PAGE2, obs(), R.HOLD, id="slo-no-report-holds"),
        pytest.param(
            pol.SloTrigger(model.Severity.PAGE, 1, ("other",)),
            obs(slos=[report(page=True)]),
            R.HOLD,
            id="slo-named-slo-missing-holds",
        ),
        pytest.param(
            PAGE2,
            obs(slos=[report(page=True), report(slo="latency", state=model.SampleState.QUERY_ERROR)]),
            R.FIRING,
            id="slo-one-ok-firing-report-fires",
        ),
        pytest.param(DEGRADED5M, obs(st=status(health=H.DEGRADED)), R.FIRING, id="health-degraded-fires"),
        pytest.param(DEGRADED5M, obs(st=status(health=H.MISSING)), R.FIRING, id="health-missing-fires"),
        pytest.param(
            DEGRADED5M, obs(st=status(health=H.PROGRESSING)), R.CLEAR, id="health-progressing-clear"
        ),
        pytest.param(DEGRADED5M, obs(st=status(health=H.UNKNOWN)), R.HOLD, id="health-unknown-holds"),
        pytest.param(DEGRADED5M, obs(st=False, error="503"), R.HOLD, id="health-unreadable-holds"),
        pytest.param(OOS10M, obs(st=status(sync=model.SyncStatus.OUT_OF_SYNC)), R.FIRING, id="oos-fires"),
        pytest.param(OOS10M, obs(), R.CLEAR, id="oos-synced-clear"),
        pytest.param(OOS10M, obs(st=status(sync=model.SyncStatus.UNKNOWN)), R.HOLD, id="oos-unknown-holds"),
        pytest.param(OOS10M, obs(st=False), R.HOLD, id="oos-unreadable-holds"),
        pytest.param(
            LAT3, obs(slos=[report(slo="latency", threshold_breach=True)]), R.FIRING, id="threshold-fires"
        ),
        pytest.param(LAT3, obs(slos=[report(slo="latency")]), R.CLEAR, id="threshold-clear"),
        pytest.param(
            LAT3, obs(slos=[report(slo="other", threshold_breach=True)]), R.HOLD, id="threshold-missing"
        ),
        pytest.param(LOAD80, obs(load=95.0, replicas=2), R.FIRING, id="load-above-fires"),
        pytest.param(LOAD80, obs(load=80.0, replicas=2), R.CLEAR, id="load-at-bound-clear"),
        pytest.param(LOAD80, obs(load=None), R.HOLD, id="load-missing-holds"),
        pytest.param(LOAD80, obs(load=float("nan")), R.HOLD, id="load-nan-holds"),
        pytest.param(LOAD80, obs(load=-1.0), R.HOLD, id="load-negative-holds"),
    ],
)
def test_reading(trigger: pol.Trigger, observation: model.AppObservation, reading: triggers.Reading) -> None:
    assert triggers.read(trigger, observation).reading is reading


@pytest.mark.parametrize("state", NON_OK, ids=[str(s) for s in NON_OK])
def test_non_ok_slo_data_never_fires_even_with_page_set(state: model.SampleState) -> None:
    signal = triggers.read(PAGE2, obs(slos=[report(page=True, state=state)]))
    assert signal.reading is R.HOLD
    assert signal.suspect
    assert str(state) in signal.note


@pytest.mark.parametrize("state", NON_OK, ids=[str(s) for s in NON_OK])
def test_non_ok_threshold_data_never_fires(state: model.SampleState) -> None:
    signal = triggers.read(LAT3, obs(slos=[report(slo="latency", threshold_breach=True, state=state)]))
    assert signal.reading is R.HOLD


@pytest.mark.parametrize("state", NON_OK, ids=[str(s) for s in NON_OK])
def test_non_ok_data_never_plans_an_action(state: model.SampleState) -> None:
    p = policy(trigger=pol.SloTrigger(model.Severity.PAGE, 1), cooldown=0)
    plan = run(cycles(5, obs(slos=[report(page=True, state=state)])), [p])
    assert plan.actions == ()
    assert [s.reason for s in plan.skips] == [
        f"data not OK, streak held at 0: availability {state}: page",
    ]


def test_slo_evidence_reads_like_the_incident() -> None:
    signal = triggers.read(PAGE2, obs(slos=[report(page=True)]))
    assert signal.evidence == (
        "availability: error ratio 31.2% over 1h (burn 31.2x, threshold 14.4x) and 30.5% over 5m",
    )


@pytest.mark.parametrize(
    ("readings", "count"),
    [
        pytest.param([R.FIRING, R.FIRING], 2, id="two-firing"),
        pytest.param([R.FIRING, R.HOLD, R.FIRING], 2, id="hold-neither-adds-nor-resets"),
        pytest.param([R.FIRING, R.CLEAR, R.FIRING], 1, id="clear-resets"),
        pytest.param([R.HOLD, R.HOLD], 0, id="hold-from-nothing"),
    ],
)
def test_streak_steps(readings: list[triggers.Reading], count: int) -> None:
    streak = mem.Streak()
    for i, r in enumerate(readings):
        streak = mem.step(streak, r, T0 + i * TICK)
    assert streak.count == count


def test_streak_since_is_the_first_firing_cycle_and_survives_holds() -> None:
    streak = mem.step(mem.Streak(), R.FIRING, T0)
    streak = mem.step(streak, R.HOLD, T0 + TICK)
    streak = mem.step(streak, R.FIRING, T0 + 2 * TICK)
    assert streak.since == T0
    assert streak.held_for(T0 + 2 * TICK) == 60.0


def test_remember_counts_per_app_and_policy_and_a_partial_cycle_keeps_the_other_apps() -> None:
    # issue 8 section 1: an Alertmanager-triggered evaluation of a few apps must not reset the others
    p = policy()
    m = mem.Memory()
    m = mem.remember(m, snap(obs(slos=[report(page=True)]), obs("cart", slos=[report(page=True)])), [p])
    m = mem.remember(m, snap(obs(slos=[report(page=True)]), at=T0 + TICK), [p])
    assert m.streak("checkout", p.name).count == 2
    assert m.streak("cart", p.name).count == 1
    m = mem.remember(m, snap(obs(slos=[report(page=True)]), at=T0 + 2 * TICK), [policy("other")])
    assert m.streak("cart", p.name) == mem.Streak()  # a policy no longer configured is forgotten


def test_remembering_the_same_snapshot_twice_counts_once() -> None:
    p = policy()
    s = snap(obs(slos=[report(page=True)]))
    m = mem.remember(mem.remember(mem.Memory(), s, [p]), s, [p])
    assert m.streak("checkout", p.name).count == 1


def test_label_selector_with_unreadable_status_holds_the_streak() -> None:
    p = policy(labels={"env": "prod"})
    ok = obs(st=status(labels={"env": "prod"}), slos=[report(page=True)])
    m = mem.remember(mem.Memory(), snap(ok), [p])
    m = mem.remember(m, snap(obs(st=False, slos=[report(page=True)]), at=T0 + TICK), [p])
    assert m.streak("checkout", p.name).count == 1
    assert triggers.selects(p, obs(st=status(labels={"env": "dev"}))) is False
    assert triggers.selects(policy(names=("cart",), labels={"env": "prod"}), obs(st=False)) is False


@pytest.mark.parametrize(
    ("seconds", "acts"),
    [pytest.param(270, False, id="degraded-4m30s-waits"), pytest.param(300, True, id="degraded-5m-acts")],
)
def test_health_duration_trigger(seconds: int, acts: bool) -> None:
    p = policy(
        "restart-degraded", trigger=DEGRADED5M, remedy=pol.Restart("githeal.io/restartedAt"), cooldown=0
    )
    sick = obs(st=status(health=H.DEGRADED, message="back-off restarting failed container"))
    steps = [snap(sick, at=T0 + timedelta(seconds=s)) for s in range(0, seconds + 1, 30)]
    plan = run(steps, [p])
    assert bool(plan.actions) is acts
    if acts:
        (action,) = plan.actions
        assert action.evidence == ("Degraded for 5m: back-off restarting failed container",)
        assert action.reason.startswith("restart-degraded: Degraded for 5m (needed 5m): restart")
        assert action.heal_id == model.heal_id("checkout", "restart", BAD)


def test_out_of_sync_interrupted_by_synced_starts_over() -> None:
    p = policy("drift", trigger=OOS10M, remedy=pol.Reconcile("enforce"), cooldown=0)
    drift, synced = obs(st=status(sync=model.SyncStatus.OUT_OF_SYNC)), obs()
    steps = [snap(drift, at=T0), snap(synced, at=T0 + timedelta(minutes=5))]
    steps += [snap(drift, at=T0 + timedelta(minutes=m)) for m in (6, 11, 16)]
    plan = run(steps, [p])
    (action,) = plan.actions
    assert action.kind is model.ActionKind.RECONCILE
    assert action.evidence[0].startswith("OutOfSync for 10m: live differs from main")
    assert run(steps[:-1], [p]).actions == ()
