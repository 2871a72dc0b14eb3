"""A heal PR that a human merges later, and that does not help, gets the full verification.

The bot only proposes the rollback; a human merges it after more than ``verify.timeout`` (the PR sat
waiting for review). The checkout provider is broken meanwhile, so the good image fails too. Required:
verified from the MERGE time (not dropped as too old), the same record as an immediate heal: one
``failure`` commit status, one PR comment, one escalation issue naming the app, the circuit open.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import model
from bot.act import execute, message
from bot.decide import past as hist
from bot.sandbox import behaviour as bhv
from bot.sandbox import world as sandbox
from bot.service import cycle
from bot.verify import run, watcher

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
import healkit

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]
HOUR = timedelta(hours=1)
TIMEOUT = 12.0  # verify.timeout of this world (seconds); the human merges later than that


class LateWorld(sandbox.World):
    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["verify"] = {"timeout": f"{TIMEOUT:.0f}s", "period": "5s"}
        for p in cfg["policies"]:
            if p["name"].startswith("rollback"):
                p.update({"mode": "propose", "merge": "pr"})
        return cfg


@dataclass
class Late:
    loop: healkit.Loop
    proposed: execute.Result
    outcome: watcher.Outcome
    merged_after: float
    after: list[cycle.CycleReport]


@pytest.fixture(scope="module")
def late() -> Iterator[Late]:
    healkit.require_prometheus()
    with LateWorld(sandbox.Options()) as w:
        rt = w.runtime()
        engine = cycle.Engine(rt)
        loop = healkit.Loop(w, rt, engine)
        try:
            loop.good_then_bad()
            w.sim.set_behaviour("ghcr.io/acme/checkout:*", bhv.Behaviour("errors", error_rate=0.3))

            def proposed() -> bool:
                return any(r.outcome is execute.Outcome.PROPOSED for r in loop.results())

            assert loop.cycles_until(proposed, timeout=60), [r.detail for r in loop.results()]
            result = next(r for r in loop.results() if r.outcome is execute.Outcome.PROPOSED)
            assert result.pr is not None
            opened = time.monotonic()
            while time.monotonic() - opened < TIMEOUT + 3:  # the PR waits for a human
                loop.cycle()
                time.sleep(0.5)
            url = f"{w.github.url}/_emulator/repos/{sandbox.GITHUB_REPO}/pulls/{result.pr.number}/merge"
            httpx.post(url, json={"login": "alice"}, timeout=5).raise_for_status()
            merged_after = time.monotonic() - opened
            heal_id = result.action.heal_id
            assert loop.cycles_until(lambda: heal_id in engine._watching, timeout=20)
            outcome = engine.wait_verifications(timeout=60)[heal_id]
            start = len(loop.reports)
            for _ in range(3):
                loop.cycles_until(lambda: False, timeout=0.5, every=0.5)
            yield Late(loop, result, outcome, merged_after, loop.reports[start:])
        finally:
            engine.close()
            rt.close()


def test_verified_from_the_merge_time_and_failed(late: Late) -> None:
    assert late.merged_after > TIMEOUT  # older than verify.timeout when it landed: still verified
    assert not late.outcome.success and late.outcome.still_burning, late.outcome.reason
    heal = late.proposed.commit or ""
    statuses = late.loop.world.github_state()["statuses"][heal]
    assert [s["state"] for s in statuses if s["context"] == "githeal/verify"] == ["pending", "failure"]


def test_the_pr_gets_the_verification_comment(late: Late) -> None:
    comments = healkit.pulls(late.loop.world)[0]["comments"]
    assert len(comments) == 1 and "did not work" in comments[0]["body"], comments


def test_one_escalation_issue_and_the_circuit_opens(late: Late) -> None:
    issues = healkit.issues(late.loop.world)
    assert len(issues) == 1, [i["title"] for i in issues]
    data = message.parse_hidden(issues[0]["body"])
    assert data is not None and data["app"] == "checkout"
    assert data["heal_id"] == late.proposed.action.heal_id
    assert "did not help" in issues[0]["body"] and "kept burning" in issues[0]["body"]
    assert "checkout" in late.after[-1].history.open_escalations
    registry = late.loop.rt.metrics.registry
    assert registry.get_sample_value("githeal_circuit_open", {"app": "checkout"}) == 1


def test_a_second_verifier_adopts_the_recorded_verdict(late: Late) -> None:
    """Issue 9 section 3: one verdict per heal. A second verifier instance (another replica) asked to
    verify the same heal reads the recorded verdict: no new status, comment or issue."""
    e = late.loop.engine
    other = run.Verifier(
        e.rt.settings, e.rt.argocd, e.rt.prometheus, dict(e.rt.clones), e.rt.github, e.rt.metrics,
        e.rt.clock, e.rt.sleep,
    )  # fmt: skip
    before = late.loop.world.github_state()
    out = other.verify(late.proposed)
    assert not out.success and "already recorded" in out.reason
    after = late.loop.world.github_state()
    assert after["statuses"] == before["statuses"] and after["issues"] == before["issues"]
    assert healkit.pulls(late.loop.world)[0]["comments"] == before["pulls"][0]["comments"]


def test_landed_at_is_the_merge_time() -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    heal = model.HealRecord("h1", "checkout", "p", "rollback", "a" * 40, t0)
    merged = hist.Proposal("h1", "checkout", "p", "rollback", "merged", False, None, 7, t0 + 3 * HOUR)
    other = hist.Proposal("h2", "checkout", "p", "rollback", "merged", False, None, 8, t0 + 5 * HOUR)
    assert run.landed_at(heal, [other, merged]) == t0 + 3 * HOUR
    assert run.landed_at(heal, [other]) == t0
