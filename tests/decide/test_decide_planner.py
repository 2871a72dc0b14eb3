"""The planner as a whole: precedence, modes, earned trust, empty input, determinism, reasons."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import pytest
from plankit import (
    BAD,
    GOOD,
    T0,
    TICK,
    cycles,
    guardrails,
    heal,
    obs,
    policy,
    proposal,
    report,
    rollback_id,
    run,
    scale_spec,
    snap,
    status,
)

from bot import model, settings
from bot.decide import memory as mem
from bot.decide import past as hist
from bot.decide import planner
from bot.settings import policy as pol
from bot.settings import tree

H = model.HealthStatus
NOW = T0 + TICK

ROLLBACK = policy("rollback-on-page", cooldown=0)
SCALE = policy("scale-on-page", remedy=scale_spec(), cooldown=0)
RECONCILE = policy("drift", trigger=pol.OutOfSyncTrigger(0), remedy=pol.Reconcile("adopt"), cooldown=0)
RESTART = policy(
    "restart-degraded", trigger=pol.HealthTrigger((H.DEGRADED,), 0), remedy=pol.Restart("a/b"), cooldown=0
)
NOTIFY = policy("tell", remedy=pol.Notify(("sre",)), cooldown=0)
ALL = [NOTIFY, RESTART, RECONCILE, SCALE, ROLLBACK]  # config order is deliberately the reverse


def everything_wrong() -> model.AppObservation:
    st = status(health=H.DEGRADED, sync=model.SyncStatus.OUT_OF_SYNC, message="crash loop")
    return obs(st=st, slos=[report(page=True)], load=120.0, replicas=3)


@pytest.mark.parametrize(
    ("policies", "winner"),
    [
        pytest.param(ALL, "rollback", id="rollback-beats-all"),
        pytest.param([NOTIFY, RESTART, RECONCILE, SCALE], "scale", id="scale-beats-reconcile"),
        pytest.param([NOTIFY, RESTART, RECONCILE], "reconcile", id="reconcile-beats-restart"),
        pytest.param([NOTIFY, RESTART], "restart", id="restart-beats-notify"),
        pytest.param([NOTIFY], "notify", id="notify-alone"),
    ],
)
def test_precedence_one_action_per_app(policies: list[pol.Policy], winner: str) -> None:
    plan = run(cycles(2, everything_wrong()), policies)
    (action,) = plan.actions
    assert action.kind == winner
    assert len(plan.skips) == len(policies) - 1
    for skip in plan.skips:
        assert f"held: superseded by {winner}" in skip.reason
        assert "rollback > scale > reconcile > restart > notify" in skip.reason


def test_observe_policy_never_blocks_a_writing_heal() -> None:
    observer = policy("watch-rollback", mode=model.Mode.OBSERVE, cooldown=0)
    plan = run(cycles(2, everything_wrong()), [observer, RESTART])
    assert [(a.kind, a.mode) for a in plan.actions] == [("restart", "auto")]


def test_a_held_stronger_heal_lets_a_weaker_one_act() -> None:
    cooling = policy("rollback-on-page", cooldown=3600)
    history = hist.History(heals=(heal(at=NOW - timedelta(minutes=10), heal_id="9" * 12),))
    plan = run(cycles(2, everything_wrong()), [cooling, RESTART], history=history)
    assert [a.kind for a in plan.actions] == ["restart"]


def test_a_weaker_write_yields_to_a_stronger_heal_in_flight() -> None:
    history = hist.History(
        heals=(heal(heal_id=rollback_id(), verify="pending", at=NOW - timedelta(minutes=1)),)
    )
    plan = run(cycles(2, everything_wrong()), [ROLLBACK, RESTART, NOTIFY], history=history)
    assert [a.kind for a in plan.actions] == ["notify"]
    reasons = {s.policy: s.reason for s in plan.skips}
    assert "already committed" in reasons["rollback-on-page"]
    assert (
        f"yields to rollback {rollback_id()} (rollback-on-page) still in flight"
        in reasons["restart-degraded"]
    )


@pytest.mark.parametrize(
    ("mode", "merge", "expect_mode", "expect_merge"),
    [
        pytest.param(model.Mode.OBSERVE, pol.Merge.PR, "observe", "pr", id="observe"),
        pytest.param(model.Mode.PROPOSE, pol.Merge.PR, "propose", "pr", id="propose"),
        pytest.param(model.Mode.AUTO, pol.Merge.PR_AUTOMERGE, "auto", "pr-automerge", id="auto-automerge"),
        pytest.param(model.Mode.AUTO, pol.Merge.DIRECT, "auto", "direct", id="auto-direct"),
    ],
)
def test_modes(mode: model.Mode, merge: pol.Merge, expect_mode: str, expect_merge: str) -> None:
    (action,) = run(cycles(2, obs(slos=[report(page=True)])), [policy(mode=mode, merge=merge)]).actions
    assert (action.mode, action.params["merge"]) == (expect_mode, expect_merge)


def test_rollback_action_carries_reason_evidence_and_params() -> None:
    (action,) = run(cycles(2, obs(slos=[report(page=True)])), [policy()]).actions
    assert action == model.Action(
        app="checkout",
        kind=model.ActionKind.ROLLBACK,
        policy="rollback-on-page",
        mode=model.Mode.AUTO,
        reason=(
            "rollback-on-page: page tier of availability fired on OK data for 2 consecutive cycles "
            f"(needed 2): roll back {BAD[:7]} (revert strategy)"
        ),
        heal_id=model.heal_id("checkout", "rollback", BAD),
        evidence=("availability: error ratio 31.2% over 1h (burn 31.2x, threshold 14.4x) and 30.5% over 5m",),
        params=MappingProxyType(
            {
                "merge": "direct",
                "pr_labels": (),
                "pr_reviewers": (),
                "strategy": "revert",
                "bad_revision": BAD,
                "previous_revision": GOOD,
                "path": "apps/checkout",
                "repo_url": "https://example.test/manifests.git",
                "target_revision": "main",
            }
        ),
    )


def test_status_unreadable_skips_a_rollback_but_notify_still_goes() -> None:
    sick = obs(st=False, error="argocd: 503", slos=[report(page=True)])
    plan = run(cycles(2, sick), [ROLLBACK, NOTIFY])
    assert [a.kind for a in plan.actions] == ["notify"]
    assert plan.skips[0].reason == "Argo CD status unreadable, cannot rollback: argocd: 503"


TRUSTED = policy(mode=model.Mode.AUTO, merge=pol.Merge.PR_AUTOMERGE, trust_after=3, cooldown=0)


def merged(n: int, days: float, **kw: object) -> hist.Proposal:
    return proposal(heal_id=f"{n:012d}", number=n, at=T0 - timedelta(days=days), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("history", "mode", "why"),
    [
        pytest.param(hist.History(), "propose", "0 of 3 human-merged verified PRs so far", id="new-policy"),
        pytest.param(
            hist.History(proposals=(merged(1, 3), merged(2, 2))), "propose", "2 of 3", id="two-of-three"
        ),
        pytest.param(
            hist.History(proposals=(merged(1, 3), merged(2, 2), merged(3, 1))), "auto", "", id="promoted"
        ),
        pytest.param(
            hist.History(proposals=(merged(1, 3), merged(2, 2), merged(3, 1, by_bot=True))),
            "propose",
            "2 of 3",
            id="bot-merged-does-not-count",
        ),
        pytest.param(
            hist.History(proposals=(merged(1, 3), merged(2, 2), merged(3, 1, verified=False))),
            "propose",
            "2 of 3",
            id="unverified-does-not-count",
        ),
        pytest.param(
            hist.History(
                proposals=(merged(1, 3), merged(2, 2), merged(3, 1, verified=None)),
                heals=(heal(heal_id=f"{3:012d}", verify="success"),),
            ),
            "auto",
            "",
            id="verified-by-commit-status",
        ),
        pytest.param(
            hist.History(
                proposals=(merged(1, 5), merged(2, 4), merged(3, 3)),
                heals=(heal(verify="failure", commit="d" * 40, at=T0 - timedelta(days=2)),),
            ),
            "propose",
            "verification of ddddddd failed; 0 of 3",
            id="demoted-by-failure",
        ),
        pytest.param(
            hist.History(
                proposals=(
                    merged(1, 5),
                    merged(2, 4),
                    merged(3, 3),
                    merged(4, 1.5),
                    merged(5, 1),
                    merged(6, 0.5),
                ),
                heals=(heal(verify="failure", at=T0 - timedelta(days=2)),),
            ),
            "auto",
            "",
            id="re-earned-after-failure",
        ),
        pytest.param(
            hist.History(
                proposals=(merged(1, 3), merged(2, 2), merged(3, 1)),
                heals=(heal(verify="failure", policy_name="other", at=T0 - timedelta(hours=1)),),
            ),
            "auto",
            "",
            id="other-policy-failure-ignored",
        ),
    ],
)
def test_earned_trust(history: hist.History, mode: str, why: str) -> None:
    (action,) = run(cycles(2, obs(slos=[report(page=True)])), [TRUSTED], history=history).actions
    assert action.mode == mode
    if mode == "propose":
        assert action.reason.endswith("]")
        assert f"[auto downgraded to propose until trusted: {why}" in action.reason
        assert action.params["merge"] == "pr"
    else:
        assert "downgraded" not in action.reason
        assert action.params["merge"] == "pr-automerge"


def test_trust_after_zero_is_trusted_until_a_failure() -> None:
    zero = policy(trust_after=0, merge=pol.Merge.PR_AUTOMERGE, cooldown=0)
    paging = cycles(2, obs(slos=[report(page=True)]))
    assert run(paging, [zero]).actions[0].mode == "auto"
    failed = hist.History(heals=(heal(verify="failure"),))
    assert run(paging, [zero], history=failed).actions[0].mode == "propose"


def test_empty_snapshot_gives_an_empty_plan() -> None:
    plan = planner.plan(snap(), [ROLLBACK, SCALE], guardrails(), hist.History(), mem.Memory(), now=T0)
    assert plan == model.Plan(at=T0)
    assert plan.empty
    quiet = run(cycles(3, obs(slos=[report()], load=60.0, replicas=2)), ALL)
    assert quiet == model.Plan(at=T0 + 2 * TICK)


def test_no_policies_gives_an_empty_plan() -> None:
    assert run(cycles(2, everything_wrong()), []) == model.Plan(at=NOW)


def test_same_inputs_same_plan_and_heal_ids() -> None:
    apps = [everything_wrong(), obs("cart", slos=[report("cart", page=True)])]
    first = run(cycles(2, *apps), ALL)
    again = run(cycles(2, *reversed(apps)), ALL)  # another replica, apps listed in another order
    assert first == again
    assert [a.heal_id for a in first.actions] == [rollback_id("cart"), rollback_id("checkout")]


def test_plan_brings_a_stale_memory_up_to_date() -> None:
    steps = cycles(2, obs(slos=[report(page=True)]))
    memory = mem.remember(mem.Memory(), steps[0], [ROLLBACK])
    stale = planner.plan(steps[1], [ROLLBACK], guardrails(), hist.History(), memory, now=NOW)
    fresh = planner.plan(
        steps[1],
        [ROLLBACK],
        guardrails(),
        hist.History(),
        mem.remember(memory, steps[1], [ROLLBACK]),
        now=NOW,
    )
    assert stale == fresh
    assert len(stale.actions) == 1


def test_held_streak_is_reported_once_data_goes_bad() -> None:
    steps = [snap(obs(slos=[report(page=True)]), at=T0)]
    steps.append(snap(obs(slos=[report(state=model.SampleState.QUERY_ERROR, reason="timeout")]), at=NOW))
    plan = run(steps, [ROLLBACK])
    assert plan.actions == ()
    (skip,) = plan.skips
    assert skip.reason == "data not OK, streak held at 1: availability QUERY_ERROR: timeout"


def test_app_spec_narrows_scale_bounds_and_supplies_the_rollback_strategy() -> None:
    apps = {"checkout": tree.AppSpec("checkout", "manifests", ("apps/",), min_replicas=3, max_replicas=5)}
    scaler = policy("scale-on-load", trigger=pol.LoadTrigger(80.0, 2), remedy=scale_spec(), cooldown=0)
    steps = cycles(2, obs(load=200.0, replicas=2))
    memory = mem.Memory()
    for s in steps:
        memory = mem.remember(memory, s, [scaler], apps=apps)
    plan = planner.plan(steps[-1], [scaler], guardrails(), hist.History(), memory, now=NOW, apps=apps)
    (action,) = plan.actions
    assert (action.params["to"], action.params["recommended"]) == (5, 5)  # policy max 10, app max 5
    default_strategy = policy(remedy=pol.Rollback(""), cooldown=0)
    apps = {"checkout": tree.AppSpec("checkout", "manifests", ("apps/",), rollback="pin-image")}
    paging = cycles(2, obs(slos=[report(page=True)]))
    memory = mem.Memory()
    for s in paging:
        memory = mem.remember(memory, s, [default_strategy], apps=apps)
    plan = planner.plan(
        paging[-1], [default_strategy], guardrails(), hist.History(), memory, now=NOW, apps=apps
    )
    assert plan.actions[0].params["strategy"] == "pin-image"
    assert run(paging, [default_strategy]).actions[0].params["strategy"] == ""


def test_policies_from_the_example_config() -> None:
    config = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
    if not config.is_file():
        pytest.skip("config/example.yaml not present")
    loaded = settings.load(config, env={}, check_secrets=False)
    paging = cycles(2, obs(slos=[report(page=True)]))
    plan = run(paging, loaded.policies, rails=loaded.guardrails)
    (action,) = plan.actions
    assert (action.kind, action.policy, action.mode) == ("rollback", "rollback-on-page", "propose")
    assert "0 of 3 human-merged verified PRs so far" in action.reason
    assert action.params["pr_labels"] == ("githeal", "rollback")
