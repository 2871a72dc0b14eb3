"""Replica maths (HPA-style) and the scale path through the planner: up, down, stabilization, bounds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from plankit import T0, TICK, cycles, heal, obs, policy, proposal, report, run, scale_spec, snap

from bot import model
from bot.decide import past as hist
from bot.decide import scaling
from bot.settings import policy as pol


@pytest.mark.parametrize(
    ("replicas", "load", "spec", "hpa", "expect"),
    [
        pytest.param(4, 90.0, {}, None, ("replicas", 4, 6, 6, ()), id="up-ceil-4x1.5"),
        pytest.param(4, 65.0, {}, None, "within 10%", id="deadband-upper"),
        pytest.param(4, 54.5, {}, None, "within 10%", id="deadband-lower"),
        pytest.param(2, 600.0, {}, None, ("replicas", 2, 6, 10, ("max", "step")), id="step-limit-up"),
        pytest.param(8, 120.0, {}, None, ("replicas", 8, 10, 10, ("max",)), id="max-bound-up"),
        pytest.param(10, 120.0, {}, None, "policy maximum of 10", id="at-max-escalates"),
        pytest.param(0, 120.0, {}, None, "no running replicas", id="zero-replicas"),
        pytest.param(4, 90.0, {}, (2, 5), ("hpa", 2, 6, 6, ()), id="hpa-raise-min-and-max"),
        pytest.param(4, 90.0, {}, (6, 10), "HPA minReplicas 6 already covers", id="hpa-min-covers"),
    ],
)
def test_up(
    replicas: int,
    load: float,
    spec: dict[str, float],
    hpa: tuple[int, int] | None,
    expect: tuple[str, int, int, int, tuple[str, ...]] | str,
) -> None:
    result = scaling.up(replicas, load, scale_spec(**spec), hpa)
    if isinstance(expect, str):
        assert isinstance(result, str)
        assert expect in result
        return
    assert isinstance(result, scaling.Change)
    target, _, desired, _, _ = expect
    assert (result.target, result.current, result.desired, result.recommended, result.limits) == expect
    if target == "hpa":
        assert (result.hpa_min, result.hpa_max) == (desired, max(hpa[1], desired) if hpa else None)


@pytest.mark.parametrize(
    ("replicas", "recommended", "spec", "hpa", "expect"),
    [
        pytest.param(8, 3, {}, None, (8, 7, ("step",)), id="down-one-step"),
        pytest.param(8, 3, {"max_step_down": 10}, None, (8, 3, ()), id="down-to-recommendation"),
        pytest.param(8, 1, {"max_step_down": 10}, None, (8, 2, ()), id="down-never-below-min"),
        pytest.param(8, 2, {"max_step_down": 10, "baseline": 4}, None, (8, 4, ()), id="down-to-baseline"),
        pytest.param(4, 4, {}, None, None, id="at-recommendation-no-change"),
        pytest.param(4, 2, {"baseline": 4}, None, None, id="at-baseline-no-change"),
        pytest.param(3, 2, {}, (6, 10), (6, 5, ("step",)), id="hpa-lower-min"),
    ],
)
def test_down(
    replicas: int,
    recommended: int,
    spec: dict[str, float],
    hpa: tuple[int, int] | None,
    expect: tuple[int, int, tuple[str, ...]] | None,
) -> None:
    result = scaling.down(replicas, recommended, scale_spec(**spec), hpa)
    if expect is None:
        assert result is None
        return
    assert result is not None
    assert (result.current, result.desired, result.limits) == expect
    assert result.target == ("hpa" if hpa else "replicas")


@pytest.mark.parametrize(
    ("replicas", "load", "baseline", "expect"),
    [
        pytest.param(4, 62.0, None, 4, id="deadband-keeps"),
        pytest.param(4, 15.0, None, 2, id="clamped-to-min"),
        pytest.param(4, 15.0, 3, 3, id="clamped-to-baseline"),
        pytest.param(4, 600.0, None, 10, id="clamped-to-max"),
    ],
)
def test_recommend(replicas: int, load: float, baseline: int | None, expect: int) -> None:
    assert scaling.recommend(replicas, load, scale_spec(baseline=baseline)) == expect


def test_stabilization_takes_the_max_within_the_window() -> None:
    recs = [(T0, 9), (T0 + timedelta(minutes=6), 5), (T0 + timedelta(minutes=12), 3)]
    assert scaling.stabilized(recs, T0 + timedelta(minutes=12), 600) == 5
    assert scaling.stabilized(recs, T0 + timedelta(minutes=30), 600) is None


# --------------------------------------------------------------------------- through the planner

LOAD = pol.LoadTrigger(80.0, 2)


def scaler(name: str = "scale-on-load", **kw: float | int | None) -> pol.Policy:
    return policy(name, trigger=LOAD, remedy=scale_spec(**kw), cooldown=0)


def test_scale_up_after_two_cycles_with_params() -> None:
    plan = run(cycles(2, obs(load=120.0, replicas=3)), [scaler()])
    (action,) = plan.actions
    assert action.kind is model.ActionKind.SCALE
    want = {"direction": "up", "from": 3, "to": 6, "replicas": 6, "target": "replicas", "merge": "direct"}
    assert want.items() <= dict(action.params).items()
    assert action.reason == (
        "scale-on-load: load fired on OK data for 2 consecutive cycles (needed 2): "
        "scale up: replicas 3 -> 6 (recommended 6)"
    )
    assert "load 120 per replica > 80 on 3 replicas" in action.evidence
    assert run(cycles(1, obs(load=120.0, replicas=3)), [scaler()]).actions == ()


def test_scale_up_with_hpa_writes_bounds_not_replicas() -> None:
    plan = run(cycles(2, obs(load=120.0, replicas=3, hpa=(2, 4))), [scaler()])
    (action,) = plan.actions
    assert (action.params["target"], action.params["replicas"]) == ("hpa", None)
    assert (action.params["hpa_min"], action.params["hpa_max"]) == (6, 6)


def low_load(minutes: int, replicas: int = 8, load: float = 10.0) -> list[model.Snapshot]:
    return [snap(obs(load=load, replicas=replicas), at=T0 + i * TICK) for i in range(minutes * 2 + 1)]


def test_scale_down_waits_for_the_whole_stabilization_window() -> None:
    early = run(low_load(5), [scaler()])
    assert early.actions == ()
    assert "stabilizing, 5m of 10m seen" in early.skips[0].reason
    (action,) = run(low_load(10), [scaler()]).actions
    assert (action.params["direction"], action.params["from"], action.params["to"]) == ("down", 8, 7)
    assert "highest recommendation over the last 10m: 2" in action.evidence


def test_scale_down_uses_the_highest_recent_recommendation() -> None:
    busy = [snap(obs(load=70.0, replicas=8), at=T0 + i * TICK) for i in range(4)]  # recommends 10
    calm = [snap(obs(load=10.0, replicas=8), at=T0 + (4 + i) * TICK) for i in range(20)]
    assert run(busy + calm, [scaler(max_step_down=10)]).actions == ()  # max over 10m is still 10
    later = calm + [snap(obs(load=10.0, replicas=8), at=T0 + (24 + i) * TICK) for i in range(10)]
    (action,) = run(busy + later, [scaler(max_step_down=10)]).actions
    assert action.params["to"] == 2


def test_scale_down_returns_to_baseline_not_below() -> None:
    (action,) = run(low_load(10), [scaler(max_step_down=10, baseline=4)]).actions
    assert action.params["to"] == 4
    at_baseline = run(low_load(10, replicas=4), [scaler(baseline=4)])
    assert (at_baseline.actions, at_baseline.skips) == ((), ())


@pytest.mark.parametrize(
    ("observation", "history", "blocked"),
    [
        pytest.param(obs(load=10.0, replicas=8), hist.History(), None, id="allowed"),
        pytest.param(
            obs(load=10.0, replicas=8, slos=[report(page=True)]),
            hist.History(),
            "no scale-down while an SLO tier fires",
            id="slo-tier-firing",
        ),
        pytest.param(
            obs(load=10.0, replicas=8, slos=[report(state=model.SampleState.QUERY_ERROR)]),
            hist.History(),
            "no scale-down on partial SLO data",
            id="partial-slo-data",
        ),
        pytest.param(
            obs(load=10.0, replicas=8),
            hist.History(heals=(heal(at=T0 - timedelta(minutes=30)),)),
            "no scale-down within 1h of a rollback",
            id="rollback-within-1h",
        ),
        pytest.param(
            obs(load=10.0, replicas=8),
            hist.History(proposals=(proposal(state="open"),)),
            "scaling frozen while a rollback is in flight",
            id="rollback-pr-open",
        ),
        pytest.param(
            obs(load=10.0, replicas=8),
            hist.History(heals=(heal(action="scale", at=T0 - timedelta(minutes=5)),)),
            "scale-down cooldown",
            id="cooldown-down",
        ),
        pytest.param(
            obs(load=10.0, replicas=8),
            hist.History(heals=(heal(action="scale", at=T0 - timedelta(minutes=16)),)),
            None,
            id="cooldown-down-over",
        ),
    ],
)
def test_scale_down_interlocks(
    observation: model.AppObservation, history: hist.History, blocked: str | None
) -> None:
    steps = [snap(observation, at=T0 - timedelta(minutes=10) + i * TICK) for i in range(21)]
    plan = run(steps, [scaler()], history=history)
    if blocked is None:
        assert [a.params["direction"] for a in plan.actions] == ["down"]
    else:
        assert plan.actions == ()
        assert any(blocked in s.reason for s in plan.skips), plan.skips


@pytest.mark.parametrize(
    ("minutes_ago", "allowed"),
    [pytest.param(4, False, id="cooldown-up-blocks"), pytest.param(5, True, id="cooldown-up-over")],
)
def test_scale_up_cooldown(minutes_ago: int, allowed: bool) -> None:
    history = hist.History(heals=(heal(action="scale", at=T0 + TICK - timedelta(minutes=minutes_ago)),))
    plan = run(cycles(2, obs(load=120.0, replicas=3)), [scaler()], history=history)
    assert bool(plan.actions) is allowed
    if not allowed:
        assert "scale-up cooldown" in plan.skips[0].reason


def test_scale_needs_load_figures() -> None:
    p = policy("scale-on-page", remedy=scale_spec(), cooldown=0)
    plan = run(cycles(2, obs(slos=[report(page=True)])), [p])
    assert plan.actions == ()
    assert plan.skips[0].reason.startswith("scale needs OK load and replica figures")


def test_scale_at_max_escalates_once() -> None:
    plan = run(cycles(2, obs(load=120.0, replicas=10)), [scaler(), scaler("scale-too")])
    assert plan.actions == ()
    assert len(plan.escalations) == 1
    assert plan.escalations == (
        "checkout: scale-up needed (load 120 per replica on 10 replicas) but already at the policy maximum "
        "of 10 replicas (escalate instead)",
    )
