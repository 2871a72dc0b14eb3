"""A bad deploy (30% errors) is rolled back by the regression trigger (issue 12 §1), on the real
Prometheus: the SLI since Argo CD's ``deployedAt`` against the minute before it, seconds after the
deploy, while the burn-rate page tier (60s/15s at 14.4x a 1% budget) still needs its long window to
pass 14.4% errors: about 29 s at 30%, plus a second cycle.

Argo CD polls Git every 10 minutes here (120-180 s in a real install, argocd-api.md): the releases are
pushed with a refresh (a Git webhook), the heal only by githeal itself, which must ask Argo CD to refresh
right after it lands (issue 12 §2) or wait for the poll.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import healkit
import pytest

from bot import model
from bot.act import execute
from bot.sandbox import world as sandbox

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]

REGRESSION = {"window": "2m", "baseline": "1m", "min_events": 100, "alpha": 0.001}


def release(loop: healkit.Loop, image: str, message: str) -> str:
    sha = loop.world.commit(healkit.DEPLOYMENT, healkit.IMAGE, image, message)
    loop.world.argo.controller.refresh("checkout")  # the Git webhook: Argo CD reads the push at once
    return sha


def test_bad_deploy_is_rolled_back_by_regression_before_burn_rate_would_fire() -> None:
    opts = sandbox.Options(regression=REGRESSION, argo_poll=600.0, argo_poll_jitter=0.0)
    with healkit.running(opts) as loop:
        for app in sandbox.APPS:
            loop.world.argo.controller.refresh(app)
        good = release(loop, healkit.GOOD, "checkout: release 1.4.3")
        assert loop.world.wait(lambda: loop.synced_healthy("checkout", good), timeout=30)
        assert loop.cycles_until(lambda: loop.slo_ok("checkout"), timeout=40), "no OK SLO data"
        bad = release(loop, healkit.BAD, "checkout: release 1.5.0")
        pushed = time.monotonic()

        def planned() -> list[model.Action]:
            return [a for rep in loop.reports for a in rep.plan.actions if a.app == "checkout"]

        assert loop.cycles_until(lambda: bool(planned()), timeout=40, every=1.0)
        detected = time.monotonic() - pushed
        action = planned()[0]
        assert action.policy == "rollback-on-regression", action.reason
        assert action.kind is model.ActionKind.ROLLBACK
        assert action.params["bad_revision"] == bad
        assert action.heal_id == model.heal_id("checkout", "rollback", bad)  # the burn-rate one's incident
        assert "regression of availability since" in action.reason
        assert any("since the deploy vs" in line and "p=" in line for line in action.evidence)
        # the burn-rate page tier was not firing when the regression rolled back
        firing = loop.reports[-1].snapshot.apps["checkout"].slos
        assert not any(r.page for r in firing), [r.reason for r in firing]
        # the commit's push, Argo CD's poll (1s) and the 2s rollout are in this too
        assert detected < 20, detected
        print(f"regression rollback planned {detected:.1f}s after the bad commit")

        def merged() -> execute.Result | None:
            return next((r for r in loop.results() if r.outcome is execute.Outcome.MERGED), None)

        assert loop.cycles_until(lambda: merged() is not None, timeout=20), [r.detail for r in loop.results()]
        heal = merged()
        assert heal is not None and heal.at is not None
        landed = heal.commit or heal.landed or ""
        # no poll for 10 minutes: only githeal's refresh right after landing makes Argo CD sync the heal
        assert loop.world.wait(lambda: loop.synced_healthy("checkout", landed), timeout=15)
        took = (datetime.now(UTC) - heal.at).total_seconds()
        assert took < 10, took
        workloads = loop.world.live("checkout").get("workloads") or []
        assert any(healkit.GOOD in w["images"].values() for w in workloads), workloads
        assert good != bad
