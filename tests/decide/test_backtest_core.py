"""The backtest's replay of the decision core (issue 12 section 4), table-driven on pure values.

Each row is a sequence of per-step SLO states for one app; the expected fire intervals, flaps and
heals follow from the policy's ``cycles`` and ``cooldown`` exactly as a live cycle would decide them.
"""

from __future__ import annotations

import pytest
from plankit import S, obs, policy, report

from bot import model
from bot.decide import backtest as core
from bot.settings import policy as pol

STEP = 60.0
F, C, H = "F", "C", "H"  # firing (page burn on OK data), clear (OK, within budget), hold (NO_TRAFFIC)


def observations(pattern: str, app: str = "checkout") -> dict[float, dict[str, model.AppObservation]]:
    reading = {
        F: report(app, page=True),
        C: report(app),
        H: report(app, state=S.NO_TRAFFIC, reason="no traffic"),
    }
    return {i * STEP: {app: obs(app, st=None, slos=[reading[c]])} for i, c in enumerate(pattern)}


def run(pattern: str, *policies: pol.Policy, flap: float = 600.0) -> list[core.Outcome]:
    steps = observations(pattern)
    return core.simulate(sorted(steps), steps.__getitem__, list(policies), flap_window=flap)


@pytest.mark.parametrize(
    ("pattern", "intervals", "flaps"),
    [
        ("CCCCCC", [], 0),
        ("CFCFCC", [], 0),  # never 2 cycles in a row: never fires
        ("CFFFCC", [(2, 4, False)], 0),  # fires at the 2nd firing step, clears at the first CLEAR
        ("CFFHHFCC", [(2, 6, False)], 0),  # NO_TRAFFIC holds the streak and the interval
        ("CFFCFFCC", [(2, 3, False), (5, 6, False)], 1),  # fire -> clear -> fire: a flap
        ("CFFCCCCCCCCCCCFFC", [(2, 3, False), (15, 16, False)], 0),  # 12 min apart: not a flap
        ("CCFFFF", [(3, 5, True)], 0),  # still firing at the end: open
    ],
)
def test_intervals_and_flaps(pattern: str, intervals: list[tuple[int, int, bool]], flaps: int) -> None:
    [out] = run(pattern, policy(cooldown=0))
    assert [(i.start / STEP, i.end / STEP, i.open) for i in out.intervals] == intervals
    assert out.flaps == flaps


def test_heals_respect_the_cooldown_per_app_and_action() -> None:
    # a rollback at step 2, refused again at 5 (within 5 min), allowed at 9
    [out] = run("CFFCFFCCFFC", policy(cooldown=5 * STEP))
    assert [h.at / STEP for h in out.heals] == [2, 9]
    assert out.heals[0].kind == "rollback" and "2 consecutive cycles" in out.heals[0].reason


def test_one_heal_per_app_per_step_by_precedence_and_cooldowns_per_kind() -> None:
    rollback = policy("rollback", cooldown=10 * STEP)
    restart = policy("restart", remedy=pol.Restart("kubectl.kubernetes.io/restartedAt"), cooldown=10 * STEP)
    second = policy("rollback-too", cooldown=10 * STEP)
    outs = {o.policy: o for o in run("CFFFFC", restart, rollback, second)}
    # the rollback goes first; next step the rollback kind cools down (both rollback policies) but
    # a restart may still go
    assert [h.at / STEP for h in outs["rollback"].heals] == [2]
    assert [h.at / STEP for h in outs["restart"].heals] == [3]
    assert outs["rollback-too"].heals == ()


def test_argo_cd_triggers_are_not_replayable() -> None:
    health = policy("restart-degraded", trigger=pol.HealthTrigger((model.HealthStatus.DEGRADED,), 300.0))
    labelled = policy("by-label", labels={"team": "pay"})
    load = policy("scale", trigger=pol.LoadTrigger(10.0, 2))
    canary = policy("canary", trigger=pol.RolloutAbortedTrigger())
    outs = {o.policy: o for o in run("CFFC", health, labelled, load, canary)}
    assert not outs["restart-degraded"].replayable and "Argo CD state" in outs["restart-degraded"].note
    assert not outs["canary"].replayable and "Argo CD state" in outs["canary"].note
    assert not outs["by-label"].replayable and "labels" in outs["by-label"].note
    assert not outs["scale"].replayable and "load_query" in outs["scale"].note
