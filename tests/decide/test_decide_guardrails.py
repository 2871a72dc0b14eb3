"""Every guardrail, once allowing and once blocking, through ``plan`` (ids name the rule)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

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
    status,
)

from bot import model
from bot.decide import past as hist
from bot.settings import policy as pol

NOW = T0 + TICK  # the second cycle of ``cycles(2, ...)``
HOUR = timedelta(hours=1)
RID = rollback_id()


def paging(app: str = "checkout") -> model.AppObservation:
    return obs(app, slos=[report(app, page=True)])


CASES: list[Any] = [
    # rule, history, guardrails kwargs, policy kwargs, blocked-by text (None = the rollback is planned)
    ("kill-switch-off", hist.History(paused=None), {}, {}, None),
    ("kill-switch-all", hist.History(paused=frozenset({"*"})), {}, {}, "paused by the kill switch"),
    ("kill-switch-empty-file", hist.History(paused=frozenset()), {}, {}, "paused by the kill switch"),
    ("kill-switch-this-app", hist.History(paused=frozenset({"checkout"})), {}, {}, "(checkout)"),
    ("kill-switch-other-app", hist.History(paused=frozenset({"cart"})), {}, {}, None),
    (
        "freeze-active",
        hist.History(),
        {"freezes": (pol.FreezeWindow("0 12 * * MON", 3600, "UTC", "release train"),)},
        {},
        "change freeze (0 12 * * MON for 1h): release train",
    ),
    (
        "freeze-inactive",
        hist.History(),
        {"freezes": (pol.FreezeWindow("0 18 * * FRI", 63 * 3600, "Europe/Paris"),)},
        {},
        None,
    ),
    (
        "circuit-open",
        hist.History(open_escalations={"checkout": "#42"}),
        {},
        {},
        "escalation #42 is unresolved",
    ),
    ("circuit-other-app", hist.History(open_escalations={"cart": "#42"}), {}, {}, None),
    (
        "cooldown-active",
        hist.History(heals=(heal(at=NOW - timedelta(minutes=30)),)),
        {},
        {},
        "cooldown: last rollback of checkout (commit ccccccc) was 30m ago, needs 1h",
    ),
    ("cooldown-over", hist.History(heals=(heal(at=NOW - 2 * HOUR),)), {}, {}, None),
    (
        "cooldown-other-action",
        hist.History(heals=(heal(action="scale", at=NOW - timedelta(minutes=30)),)),
        {},
        {},
        None,
    ),
    (
        "cooldown-open-pr",
        hist.History(proposals=(proposal(state="open", at=NOW - timedelta(minutes=5)),)),
        {},
        {},
        "cooldown: last rollback of checkout (PR #1)",
    ),
    (
        "max-heals-reached",
        hist.History(heals=(heal(at=NOW - timedelta(minutes=50)),)),
        {},
        {"cooldown": 0, "max_heals": pol.Budget(1, 3600)},
        "max heals: 1 heals of checkout by rollback-on-page in the last 1h",
    ),
    (
        "max-heals-window-passed",
        hist.History(heals=(heal(at=NOW - timedelta(minutes=61)),)),
        {},
        {"cooldown": 0, "max_heals": pol.Budget(1, 3600)},
        None,
    ),
    (
        "max-heals-other-policy",
        hist.History(heals=(heal(policy_name="other", at=NOW - timedelta(minutes=50)),)),
        {},
        {"cooldown": 0, "max_heals": pol.Budget(1, 3600)},
        None,
    ),
    (
        "commit-budget-spent",
        hist.History(
            heals=(heal("a", at=NOW - timedelta(minutes=1)), heal("b", at=NOW - timedelta(minutes=2)))
        ),
        {"commit_budget": pol.Budget(2, 600)},
        {},
        "commit budget spent: 2 of 2 heals per 10m",
    ),
    (
        "commit-budget-left",
        hist.History(
            heals=(heal("a", at=NOW - timedelta(minutes=1)), heal("b", at=NOW - timedelta(minutes=11)))
        ),
        {"commit_budget": pol.Budget(2, 600)},
        {},
        None,
    ),
    (
        "dedupe-committed",
        hist.History(heals=(heal(heal_id=RID, at=NOW - 2 * HOUR),)),
        {},
        {},
        f"heal {RID} already committed as ccccccc",
    ),
    (
        "dedupe-open-pr",
        hist.History(proposals=(proposal(heal_id=RID, state="open", at=NOW - 2 * HOUR),)),
        {},
        {},
        f"heal {RID} already proposed as PR #1 (open)",
    ),
    (
        "dedupe-merged-pr",
        hist.History(proposals=(proposal(heal_id=RID, state="merged"),)),
        {},
        {},
        "(merged)",
    ),
    (
        "dedupe-human-closed-forever",
        hist.History(proposals=(proposal(heal_id=RID, state="closed", at=T0 - timedelta(days=300)),)),
        {},
        {},
        "closed without merge, blocked for good",
    ),
    ("dedupe-other-heal-id", hist.History(heals=(heal(heal_id="f" * 12, at=NOW - 2 * HOUR),)), {}, {}, None),
    (
        "never-roll-back-a-heal-commit",
        hist.History(heals=(heal(commit=BAD, action="scale", at=NOW - 2 * HOUR),)),
        {},
        {},
        f"revision {BAD[:7]} is itself heal",
    ),
    (
        "never-roll-back-a-heal-commit-short-sha",
        hist.History(heals=(heal(commit=BAD[:10], action="scale", at=NOW - 2 * HOUR),)),
        {},
        {},
        "never roll back a heal",
    ),
    (
        "never-past-known-good",
        hist.History(heals=(heal(at=NOW - 2 * HOUR, trailers={"Heal-Good-Revision": BAD}),)),
        {},
        {},
        "is the known-good revision heal",
    ),
    (
        "known-good-is-another-revision",
        hist.History(heals=(heal(at=NOW - 2 * HOUR, trailers={"Heal-Good-Revision": GOOD}),)),
        {},
        {},
        None,
    ),
]


@pytest.mark.parametrize(
    ("history", "rails", "pkw", "blocked"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_guardrail(
    history: hist.History, rails: dict[str, Any], pkw: dict[str, Any], blocked: str | None
) -> None:
    plan = run(cycles(2, paging()), [policy(**pkw)], rails=guardrails(**rails), history=history)
    if blocked is None:
        assert [a.heal_id for a in plan.actions] == [RID]
        assert plan.skips == ()
    else:
        assert plan.actions == ()
        assert len(plan.skips) == 1
        assert plan.skips[0].reason.startswith(f"auto rollback {RID} held: ")
        assert blocked in plan.skips[0].reason


def test_rollback_of_a_heal_commit_escalates_only_after_the_cooldown() -> None:
    def at(ago: timedelta) -> model.Plan:
        history = hist.History(heals=(heal(commit=BAD, at=NOW - ago),))
        return run(cycles(2, paging()), [policy()], history=history)

    assert at(timedelta(minutes=10)).escalations == ()
    (escalation,) = at(2 * HOUR).escalations
    assert escalation.startswith(f"checkout: revision {BAD[:7]} is itself heal 000000000000 (rollback")
    silenced = hist.History(heals=(heal(commit=BAD, at=NOW - 2 * HOUR),), open_escalations={"checkout": "#7"})
    assert run(cycles(2, paging()), [policy()], history=silenced).escalations == ()


def test_commit_budget_is_spent_within_the_cycle_in_precedence_then_name_order() -> None:
    restart = policy(
        "restart-degraded",
        trigger=pol.HealthTrigger((model.HealthStatus.DEGRADED,), 0),
        remedy=pol.Restart("githeal.io/restartedAt"),
    )
    apps = [
        paging("b-app"),
        paging("c-app"),
        obs("a-app", st=status("a-app", health=model.HealthStatus.DEGRADED)),
    ]
    plan = run(cycles(2, *apps), [policy(), restart], rails=guardrails(commit_budget=pol.Budget(2, 600)))
    assert [(a.app, a.kind) for a in plan.actions] == [("b-app", "rollback"), ("c-app", "rollback")]
    (skip,) = plan.skips
    assert (skip.app, skip.policy) == ("a-app", "restart-degraded")
    assert "commit budget spent: 2 of 2" in skip.reason


@pytest.mark.parametrize(
    ("rails", "count", "blocked"),
    [
        pytest.param({"max_breaching_share": 0.5}, 2, False, id="share-at-limit-allows"),
        pytest.param({"max_breaching_share": 0.5}, 3, True, id="share-above-limit-blocks"),
        pytest.param({"max_breaching_apps": 3}, 3, False, id="count-at-limit-allows"),
        pytest.param({"max_breaching_apps": 3}, 4, True, id="count-above-limit-blocks"),
    ],
)
def test_blast_radius(rails: dict[str, Any], count: int, blocked: bool) -> None:
    names = ["a", "b", "c", "d"]
    apps = [paging(n) if i < count else obs(n, slos=[report(n)]) for i, n in enumerate(names)]
    plan = run(cycles(2, *apps), [policy()], rails=guardrails(**rails))
    if not blocked:
        assert len(plan.actions) == count
        assert plan.escalations == ()
        return
    assert plan.actions == ()
    assert [s.app for s in plan.skips] == names[:count]
    assert all(f"blast radius guard: {count} of 4 apps breaching" in s.reason for s in plan.skips)
    (escalation,) = plan.escalations
    assert escalation.startswith(f"blast radius: {count} of 4 apps breach in the same cycle")
    assert "Suspected shared cause: Prometheus (scrape or recording rules) or a dependency" in escalation
    assert escalation.endswith(
        "Breaching: " + "; ".join(f"{n}: SLO availability" for n in names[:count]) + "."
    )


def test_blast_radius_names_the_cluster_when_health_breaks_everywhere() -> None:
    apps = [obs(n, st=status(n, health=model.HealthStatus.DEGRADED)) for n in "abc"]
    plan = run(cycles(2, *apps), [policy()], rails=guardrails(max_breaching_apps=2))
    (escalation,) = plan.escalations
    assert "Suspected shared cause: the cluster or Argo CD itself" in escalation


def test_a_lone_breaching_app_is_not_a_blast() -> None:
    plan = run(cycles(2, paging()), [policy()], rails=guardrails(max_breaching_share=0.5))
    assert [a.app for a in plan.actions] == ["checkout"]


def test_non_ok_data_does_not_count_as_breaching() -> None:
    bad_data = [obs(n, slos=[report(n, page=True, state=model.SampleState.STALE)]) for n in "abc"]
    plan = run(cycles(2, paging(), *bad_data), [policy()], rails=guardrails(max_breaching_apps=1))
    assert [a.app for a in plan.actions] == ["checkout"]
    assert plan.escalations == ()


def test_kill_switch_for_all_silences_even_the_blast_escalation() -> None:
    apps = [paging(n) for n in "abc"]
    history = hist.History(paused=frozenset({"*"}))
    plan = run(cycles(2, *apps), [policy()], rails=guardrails(max_breaching_apps=1), history=history)
    assert (plan.actions, plan.escalations) == ((), ())
    assert len(plan.skips) == 3


@pytest.mark.parametrize(
    ("history", "rails"),
    [
        pytest.param(hist.History(), {"freezes": (pol.FreezeWindow("0 12 * * MON", 3600),)}, id="freeze"),
        pytest.param(hist.History(open_escalations={"checkout": "#1"}), {}, id="circuit"),
        pytest.param(hist.History(heals=(heal(at=NOW - timedelta(minutes=1)),)), {}, id="cooldown"),
        pytest.param(
            hist.History(heals=(heal("x", at=NOW),)), {"commit_budget": pol.Budget(1, 600)}, id="budget"
        ),
    ],
)
def test_observe_mode_records_through_write_guardrails(history: hist.History, rails: dict[str, Any]) -> None:
    plan = run(
        cycles(2, paging()), [policy(mode=model.Mode.OBSERVE)], rails=guardrails(**rails), history=history
    )
    (action,) = plan.actions
    assert action.mode is model.Mode.OBSERVE
    blocked = run(cycles(2, paging()), [policy()], rails=guardrails(**rails), history=history)
    assert blocked.actions == ()
