"""The full heal loop in a sandbox World: a bad deploy of checkout is rolled back through an auto-merged
PR, Argo CD syncs the merge, the heal is verified, and everything is read back from Git and GitHub.

One module fixture runs the story once (about a minute of real time: Prometheus windows are short but
real); each test checks one promise of it. A second decision of the same incident must create nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import healkit
import pytest

from bot import model
from bot.act import execute, message
from bot.record import auditlog as heal_history
from bot.service import audit, report
from bot.verify import watcher

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]


@dataclass
class Healed:
    loop: healkit.Loop
    good: str
    bad: str
    result: execute.Result
    outcome: watcher.Outcome
    heals: list[model.HealRecord]


@pytest.fixture(scope="module")
def healed() -> Iterator[Healed]:
    with healkit.running(verify=healkit.SHORT_VERIFY) as loop:
        good, bad = loop.good_then_bad()

        def merged() -> bool:
            return any(r.outcome is execute.Outcome.MERGED for r in loop.results())

        assert loop.cycles_until(merged, timeout=60), [r.detail for r in loop.results()]
        result = next(r for r in loop.results() if r.outcome is execute.Outcome.MERGED)
        outcomes = loop.engine.wait_verifications(timeout=90)
        loop.cycle()  # reads the verified heal back (commit status) like any later cycle
        heals = heal_history.read_history(loop.world.bare, rev="main")
        yield Healed(loop, good, bad, result, outcomes[result.action.heal_id], heals)


def test_the_rollback_is_planned_from_the_burn_and_auto_merged(healed: Healed) -> None:
    a = healed.result.action
    assert (a.app, a.kind, a.policy, a.mode) == (
        "checkout",
        model.ActionKind.ROLLBACK,
        "rollback-on-burn",
        model.Mode.AUTO,
    )
    assert a.params["bad_revision"] == healed.bad
    assert a.params["merge"] == "pr-automerge"
    assert "page tier of availability fired on OK data" in a.reason


def test_exactly_one_heal_commit_on_main_with_its_trailers(healed: Healed) -> None:
    assert len(healed.heals) == 1
    h = healed.heals[0]
    assert (h.app, h.action, h.policy, h.heal_id) == (
        "checkout",
        "rollback",
        "rollback-on-burn",
        healed.result.action.heal_id,
    )
    for key in ("Heal-Id", "Heal-App", "Heal-Policy", "Heal-Action"):
        assert key in h.trailers, h.trailers
    # merge method "merge": the heal commit itself is on main, under GitHub's merge commit
    merge = healkit.bare_git(healed.loop.world, "rev-parse", "main").strip()
    parents = healkit.bare_git(healed.loop.world, "log", "-1", "--format=%P", merge).split()
    assert h.commit in parents[1:]
    assert healed.result.commit == h.commit and healed.result.landed == merge


def test_the_heal_diff_touches_only_the_image_line(healed: Healed) -> None:
    sha = healed.heals[0].commit
    files = healkit.bare_git(healed.loop.world, "show", "--format=", "--name-only", sha).split()
    assert files == [healkit.DEPLOYMENT]
    diff = healkit.bare_git(healed.loop.world, "show", "--format=", "--unified=0", sha)
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == [
        f"-          image: {healkit.BAD}",
        f"+          image: {healkit.GOOD}",
    ]


def _pr(healed: Healed) -> dict[str, Any]:
    pulls = healkit.pulls(healed.loop.world)
    assert len(pulls) == 1, [p["title"] for p in pulls]
    return pulls[0]


def test_the_pr_body_carries_evidence_sparkline_and_hidden_data(healed: Healed) -> None:
    pr = _pr(healed)
    body = pr["body"]
    assert "## Evidence" in body and "availability: error ratio" in body
    assert "error ratio over the last 1m: `" in body
    spark = body.split("error ratio over the last 1m: `", 1)[1].split("`", 1)[0]
    assert any(ch in message.BARS for ch in spark), spark  # a real series, not only gaps
    data = message.parse_hidden(body)
    assert data is not None
    assert data["heal_id"] == healed.result.action.heal_id and data["app"] == "checkout"
    assert data["bad"] == healed.bad and data["good"] == healed.good
    assert pr["labels"] == ["githeal", "rollback"]


def test_the_pr_was_merged_by_the_bot(healed: Healed) -> None:
    pr = _pr(healed)
    assert pr["merged"] is True and pr["merged_by"] == "githeal"
    assert pr["head"].startswith("githeal/checkout/rollback-")


def test_verification_succeeded_and_was_recorded(healed: Healed) -> None:
    assert healed.outcome.success, healed.outcome.reason
    assert healed.outcome.synced_at and healed.outcome.healthy_at and healed.outcome.recovered_at
    statuses = healed.loop.world.github_state()["statuses"][healed.heals[0].commit]
    assert [s["state"] for s in statuses if s["context"] == "githeal/verify"] == ["pending", "success"]
    comments = _pr(healed)["comments"]
    assert len(comments) == 1 and "verified" in comments[0]["body"]
    assert healed.loop.world.github_state()["issues"] == []


def test_history_shows_the_verified_heal(healed: Healed) -> None:
    records = audit.history(repo=None, config=healed.loop.world.settings(), app=None, since=None)
    assert [(r.app, r.action, r.verify) for r in records] == [("checkout", "rollback", "success")]
    table = report.history_table(records)
    assert "rollback-on-burn" in table and "success" in table
    ledger = healed.loop.reports[-1].history
    assert [h.verify for h in ledger.heals] == ["success"]
    assert ledger.heals[0].landed == healed.result.landed  # the merge counts as the heal


def test_a_second_decision_of_the_same_incident_creates_nothing(healed: Healed) -> None:
    loop = healed.loop
    head = loop.world.head()
    rep = loop.cycle()
    assert [r for r in rep.results if r.action.app == "checkout"] == []
    # the same action executed again (two replicas racing, a restart mid-heal): a duplicate, no writes
    again = execute.execute(
        model.Plan(at=rep.at, actions=(healed.result.action,)), rep.snapshot, loop.engine.tools
    )
    assert [r.outcome for r in again] == [execute.Outcome.DUPLICATE]
    assert loop.world.head() == head
    assert len(healkit.pulls(loop.world)) == 1
    assert len(heal_history.read_history(loop.world.bare, rev="main")) == 1
