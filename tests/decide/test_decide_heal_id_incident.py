"""A Heal-Id names the incident, not the policy that noticed it (issue 9 §3): two policies, or two
replicas configured with them in another order, compute the same id for one incident, so the
dedupe on the target branch and on PR branches (``githeal/<app>/<kind>-<id>``) catches the second."""

from __future__ import annotations

from plankit import BAD, cycles, obs, policy, report, run, scale_spec
from test_decide_scaling import LOAD

from bot import model
from bot.settings import policy as pol


def test_two_scale_policies_with_different_targets_share_the_incidents_id() -> None:
    gentle = policy("scale-gentle", trigger=LOAD, remedy=scale_spec(target_per_replica=60.0), cooldown=0)
    eager = policy("scale-eager", trigger=LOAD, remedy=scale_spec(target_per_replica=40.0), cooldown=0)
    seen = obs(load=120.0, replicas=3)
    [a] = run(cycles(2, seen), [gentle, eager]).actions
    [b] = run(cycles(2, seen), [eager, gentle]).actions  # another replica, policies in another order
    assert (a.policy, b.policy) == ("scale-gentle", "scale-eager")
    assert a.params["to"] != b.params["to"]  # the policies disagree on the remedy's size...
    assert a.heal_id == b.heal_id  # ...but it is one incident: at most one of them may land


def test_two_notify_policies_share_the_incidents_id() -> None:
    page = report(page=True)
    first = policy("tell-sre", remedy=pol.Notify(("sre",)))
    second = policy("tell-team", remedy=pol.Notify(("team",)))
    [a] = run(cycles(2, obs(slos=[page])), [first, second]).actions
    [b] = run(cycles(2, obs(slos=[page])), [second, first]).actions
    assert a.policy != b.policy and a.heal_id == b.heal_id


def test_rollback_id_is_the_bad_revision_whatever_the_policy() -> None:
    page = report(page=True)
    [a] = run(cycles(2, obs(slos=[page])), [policy("rollback-a")]).actions
    [b] = run(cycles(2, obs(slos=[page])), [policy("rollback-b")]).actions
    assert a.heal_id == b.heal_id == model.heal_id("checkout", "rollback", BAD)
