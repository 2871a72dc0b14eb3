"""The regression trigger (issue 12 §1): FIRING on a significant regression after a deploy, HOLD while
the evidence cannot say, CLEAR otherwise; its heal is the burn-rate rollback's incident (same Heal-Id);
many apps regressing at once is the blast-radius guard's case."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from plankit import BAD, GOOD, T0, guardrails, obs, policy, report, rollback_id, run, snap, status

from bot import model
from bot.decide import triggers
from bot.settings import policy as pol

R = triggers.Reading
C = model.EventCounts
REG = pol.RegressionTrigger(window=900.0, baseline=1800.0, alpha=0.001, step=30.0)
CLEAN_BASE = C(10, 10_000)  # 0.1%
BAD_SINCE = C(300, 1_000)  # 30%


def evidence(
    baseline: C | None = CLEAN_BASE,
    since: C | None = BAD_SINCE,
    *,
    slo: str = "availability",
    revision: str = BAD,
    error: str = "",
    budget: float = 0.001,
) -> model.DeployEvidence:
    at = T0 - timedelta(minutes=2)
    return model.DeployEvidence(slo, revision, at, 120.0, baseline, since, error, budget=budget)


def deployed(*items: model.DeployEvidence, app: str = "checkout", **kw: object) -> model.AppObservation:
    return replace(obs(app, **kw), deploys=tuple(items))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("trigger", "observation", "reading"),
    [
        pytest.param(REG, deployed(evidence()), R.FIRING, id="30pct-after-deploy-fires"),
        pytest.param(REG, deployed(evidence(since=C(2, 1_000))), R.CLEAR, id="same-ratio-clear"),
        pytest.param(REG, deployed(), R.CLEAR, id="no-recent-deploy-clear"),
        pytest.param(REG, deployed(evidence(since=C(30, 50))), R.HOLD, id="too-few-events-waiting-holds"),
        pytest.param(REG, deployed(evidence(baseline=C(0, 5))), R.HOLD, id="no-baseline-holds"),
        pytest.param(REG, deployed(evidence(baseline=C(500, 10_000))), R.HOLD, id="bad-baseline-holds"),
        pytest.param(REG, deployed(evidence(None, None, error="stale: no fresh sample")), R.HOLD, id="stale"),
        pytest.param(REG, deployed(evidence(None, None, error="up == 0")), R.HOLD, id="no-traffic-holds"),
        pytest.param(
            REG, deployed(evidence(C(float("nan"), 10_000), C(300, 1_000))), R.HOLD, id="invalid-nan-holds"
        ),
        pytest.param(REG, deployed(evidence(), st=False, error="503"), R.HOLD, id="argo-unreadable-holds"),
        pytest.param(
            REG, deployed(evidence(revision=GOOD)), R.CLEAR, id="evidence-of-an-older-revision-ignored"
        ),
        pytest.param(
            replace(REG, slos=("latency",)), deployed(evidence()), R.CLEAR, id="other-slo-not-looked-at"
        ),
        pytest.param(
            replace(REG, min_ratio=400.0), deployed(evidence()), R.CLEAR, id="effect-below-min-ratio-clear"
        ),
        pytest.param(REG, deployed(evidence(since=C(5, 1_000))), R.CLEAR, id="increase-below-budget-clear"),
        pytest.param(
            REG,
            deployed(evidence(since=C(2, 1_000)), evidence(slo="latency", since=C(400, 1_000))),
            R.FIRING,
            id="any-slo-regressing-fires",
        ),
        pytest.param(
            REG,
            deployed(evidence(since=C(2, 1_000)), evidence(slo="latency", error="query failed")),
            R.HOLD,
            id="one-slo-unreadable-holds",
        ),
    ],
)
def test_reading(trigger: pol.RegressionTrigger, observation: model.AppObservation, reading: R) -> None:
    assert triggers.read(trigger, observation).reading is reading


def test_looks_split_alpha_over_window_by_step() -> None:
    rules = triggers.regression_rules(REG, 0.001)
    assert rules.looks == 30 and rules.per_look_alpha == pytest.approx(0.001 / 30)
    # a p-value between the per-look and the overall bound does not fire: the bound holds over all looks
    weak = deployed(evidence(baseline=C(10, 10_000), since=C(9, 1_500)))
    signal = triggers.read(REG, weak)
    assert signal.reading is R.CLEAR


def test_firing_evidence_names_slo_revision_and_p_value() -> None:
    signal = triggers.read(REG, deployed(evidence()))
    assert signal.note == f"regression of availability since {BAD[:7]}"
    assert "30.00% over 1000 events since the deploy vs 0.10% over 10000 before" in signal.evidence[0]


REGRESSION = policy("rollback-on-regression", trigger=REG)


def test_regression_rolls_back_the_bad_revision_on_the_first_cycle() -> None:
    plan = run([snap(deployed(evidence()))], [REGRESSION])
    (action,) = plan.actions
    assert action.kind is model.ActionKind.ROLLBACK
    assert action.params["bad_revision"] == BAD and action.params["previous_revision"] == GOOD
    assert action.heal_id == rollback_id("checkout", BAD)  # the same incident as a burn-rate rollback
    assert "regression of availability" in action.reason


def test_a_held_regression_makes_no_heal() -> None:
    plan = run([snap(deployed(evidence(since=C(30, 50))))], [REGRESSION])
    assert plan.actions == ()


def test_regression_and_burn_rate_policies_agree_on_the_heal_id() -> None:
    """Two policies seeing one incident: one heal (one action per app), one Heal-Id."""
    burn = policy("rollback-on-page")
    o = replace(deployed(evidence()), slos=(report(page=True),))
    two = [snap(o, at=T0), snap(o, at=T0 + timedelta(seconds=30))]
    (by_burn,) = run(two, [burn]).actions
    (by_regression,) = run(two, [REGRESSION]).actions
    assert by_burn.heal_id == by_regression.heal_id == rollback_id("checkout", BAD)
    (action,) = run(two, [REGRESSION, burn]).actions
    assert action.policy == "rollback-on-regression"  # first in config wins the tie between rollbacks


APPS = ("checkout", "cart", "catalog", "search")


def test_fleet_wide_regression_is_held_by_the_blast_radius_guard() -> None:
    """Every app regressing right after its deploy (a shared base image, a dependency): no rollbacks."""
    apps = [deployed(evidence(), app=a, st=status(a)) for a in APPS]
    plan = run([snap(*apps)], [REGRESSION], rails=guardrails(max_breaching_share=0.5))
    assert plan.actions == ()
    assert all("blast radius guard: 4 of 4 apps breaching" in s.reason for s in plan.skips)
    (escalation,) = plan.escalations
    assert "checkout: regression of availability" in escalation


def test_one_regressing_app_of_four_still_rolls_back() -> None:
    apps = [deployed(evidence(), st=status("checkout"))] + [deployed(app=a, st=status(a)) for a in APPS[1:]]
    plan = run([snap(*apps)], [REGRESSION], rails=guardrails(max_breaching_share=0.5))
    assert [a.app for a in plan.actions] == ["checkout"]
