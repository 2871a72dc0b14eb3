"""A heal that does not help: the rollback lands and syncs, but checkout keeps failing (the payment
provider broke at the same moment, so the good image errors too). Verification must fail, exactly one
escalation issue must open, the app's circuit must open from that issue, and no second heal follows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import healkit
import pytest

from bot import model
from bot.act import execute, message
from bot.record import history as heal_history
from bot.sandbox import behaviour as bhv
from bot.service import cycle
from bot.verify import watcher

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]
AFTER = 6  # cycles run after the verification failed


@dataclass
class Failed:
    loop: healkit.Loop
    result: execute.Result
    outcome: watcher.Outcome
    after: list[cycle.CycleReport]


@pytest.fixture(scope="module")
def failed() -> Iterator[Failed]:
    with healkit.running() as loop:
        loop.good_then_bad()
        # the provider outage: every checkout image fails from now on, the rollback cannot fix it
        loop.world.sim.set_behaviour("ghcr.io/acme/checkout:*", bhv.Behaviour("errors", error_rate=0.3))

        def merged() -> bool:
            return any(r.outcome is execute.Outcome.MERGED for r in loop.results())

        assert loop.cycles_until(merged, timeout=60), [r.detail for r in loop.results()]
        result = next(r for r in loop.results() if r.outcome is execute.Outcome.MERGED)
        outcome = loop.engine.wait_verifications(timeout=90)[result.action.heal_id]
        start = len(loop.reports)
        for _ in range(AFTER):
            loop.cycles_until(lambda: False, timeout=0.5, every=0.5)
        yield Failed(loop, result, outcome, loop.reports[start:])


def test_verification_fails_because_the_slo_still_burns(failed: Failed) -> None:
    assert not failed.outcome.success
    assert failed.outcome.still_burning, failed.outcome.reason
    assert failed.outcome.synced_at is not None and failed.outcome.healthy_at is not None
    heal = failed.result.commit or ""
    statuses = failed.loop.world.github_state()["statuses"][heal]
    assert [s["state"] for s in statuses if s["context"] == "githeal/verify"] == ["pending", "failure"]
    comments = healkit.pulls(failed.loop.world)[0]["comments"]
    assert len(comments) == 1 and "did not work" in comments[0]["body"]


def test_exactly_one_escalation_issue_names_the_app(failed: Failed) -> None:
    issues = healkit.issues(failed.loop.world)
    assert len(issues) == 1, [i["title"] for i in issues]
    issue = issues[0]
    settings = failed.loop.world.settings()
    assert set(settings.guardrails.escalation_labels) <= set(issue["labels"])
    assert issue["state"] == "open"
    data = message.parse_hidden(issue["body"])
    assert data is not None and data["app"] == "checkout"
    assert data["heal_id"] == failed.result.action.heal_id
    assert "did not help" in issue["body"]
    # issue 12 section 5: the evidence bundle, gathered from the real chain (Argo CD emulator, Git)
    bundle = json.loads(issue["body"].split("```json", 1)[1].split("```", 1)[0])
    assert bundle["app"] == "checkout" and bundle["heal"]["heal_id"] == failed.result.action.heal_id
    assert bundle["heal"]["action"] == "rollback" and bundle["commits"]["good_revision"]
    assert bundle["sli"]["values"] and bundle["argocd"]["events"]


def test_the_circuit_opens_from_the_issue(failed: Failed) -> None:
    last = failed.after[-1]
    assert "checkout" in last.history.open_escalations
    number = healkit.issues(failed.loop.world)[0]["number"]
    assert last.history.open_escalations["checkout"] == f"acme/shop-manifests#{number}"
    registry = failed.loop.rt.metrics.registry
    assert registry.get_sample_value("githeal_circuit_open", {"app": "checkout"}) == 1


def test_no_second_heal_follows(failed: Failed) -> None:
    assert all(r.action.app != "checkout" for rep in failed.after for r in rep.results)
    heals = heal_history.read_history(failed.loop.world.bare, rev="main")
    assert [(h.app, h.action) for h in heals] == [("checkout", "rollback")]
    assert len(healkit.pulls(failed.loop.world)) == 1
    # still burning, still held back: the burn is seen, the guardrails say why nothing is done
    last = failed.after[-1]
    assert any(r.page for r in last.snapshot.apps["checkout"].slos)
    held = [s.reason for s in last.plan.skips if s.app == "checkout"]
    assert held and all(("circuit open" in h) or ("never roll back a heal" in h) for h in held), held
    assert model.ActionKind.ROLLBACK not in {a.kind for a in last.plan.actions}
