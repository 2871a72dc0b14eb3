"""``githeal once`` from cron heals a ``cycles: 2`` burn: every run is a fresh process (a fresh Engine).

The demo world's rollback policy needs the page tier for 2 cycles. Counting cycles in process memory,
fresh processes never get past 1 (issue 8 section 1); derived from the data (the same batched queries
at the last 2 evaluation steps), two runs one step apart heal. Real git, Argo CD and GitHub emulators,
the workload simulator and a real Prometheus.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from bot.act import execute
from bot.service import cycle

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
import healkit

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]


def test_fresh_processes_one_step_apart_heal_a_two_cycle_burn() -> None:
    with healkit.running() as loop:
        loop.good_then_bad()
        loop.engine.close()  # the long-lived engine is gone: from here on, cron runs `githeal once`
        step = loop.rt.settings.prometheus.step
        deadline = time.monotonic() + 60
        runs: list[cycle.CycleReport] = []
        healed: list[execute.Result] = []
        while time.monotonic() < deadline and not healed:
            started = time.monotonic()
            engine = cycle.Engine(loop.rt)
            try:
                rep = engine.run_once()
            finally:
                engine.close(wait=0.0)
            runs.append(rep)
            healed = [
                r for r in rep.results if r.action.app == "checkout" and r.action.kind.value == "rollback"
            ]
            time.sleep(max(0.0, step - (time.monotonic() - started)))
        assert healed, [s.reason for rep in runs for s in rep.plan.skips]
        assert healed[0].outcome in (
            execute.Outcome.MERGED,
            execute.Outcome.AUTOMERGE,
            execute.Outcome.COMMITTED,
        )
        assert "2 consecutive cycles" in healed[0].action.reason
        # the run that healed saw the burn at its own step and the one before, from the data alone
        last = runs[-1].snapshot
        assert [h.apps["checkout"].slos[0].page for h in last.history] == [True]
