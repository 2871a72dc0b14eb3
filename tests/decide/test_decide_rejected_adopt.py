"""A human closing an adopt PR: the drift is enforced away when the policy says so, else left alone."""

from __future__ import annotations

import pytest
from plankit import BAD, cycles, obs, policy, proposal, run, status

from bot import model
from bot.decide import past as hist
from bot.settings import policy as pol

OOS = status(sync=model.SyncStatus.OUT_OF_SYNC)
ADOPT_ID = model.heal_id("checkout", "reconcile", f"adopt:{BAD}")


def drift_policy(on_reject: str) -> pol.Policy:
    return policy(
        "drift",
        trigger=pol.OutOfSyncTrigger(0),
        remedy=pol.Reconcile("adopt", on_reject=on_reject),
        cooldown=0,
    )


@pytest.mark.parametrize(
    ("on_reject", "state", "expected"),
    [
        pytest.param("enforce", "closed", "enforce", id="closed-adopt-enforces"),
        pytest.param("nothing", "closed", None, id="closed-adopt-left-alone"),
        pytest.param("enforce", "open", None, id="open-adopt-waits"),
    ],
)
def test_closed_adopt_pr(on_reject: str, state: str, expected: str | None) -> None:
    history = hist.History(
        proposals=(proposal(heal_id=ADOPT_ID, policy_name="drift", action="reconcile", state=state),)
    )
    plan = run(cycles(2, obs("checkout", st=OOS)), [drift_policy(on_reject)], history=history)
    modes = [str(a.params["mode"]) for a in plan.actions]
    assert modes == ([expected] if expected else [])
    if expected:
        [action] = plan.actions
        assert action.heal_id != ADOPT_ID and "closed by a human" in action.reason


def test_adopt_without_any_proposal_is_planned_as_adopt() -> None:
    plan = run(cycles(2, obs("checkout", st=OOS)), [drift_policy("enforce")])
    assert [a.params["mode"] for a in plan.actions] == ["adopt"]
    assert plan.actions[0].heal_id == ADOPT_ID
