"""The last N evaluation steps from the same batched queries (level-triggered ``cycles: N``).

``collect_history`` sends each batched (SLO x window) expression once, as a range query over the last
N steps, and must give at every step exactly what an instant query at that step gives. Partial
answers (warnings) hold every step, as they hold a single one (slo-math.md 4.3).
"""

from __future__ import annotations

import pytest
from promfaults import WARNINGS, FaultProxy
from slodefs import AVAILABILITY, END

from bot import model
from bot.clients import prometheus as promclient
from bot.observe import collect, queries

pytestmark = pytest.mark.prometheus
APPS = ["clean", "fast-burn", "medium-burn", "spike", "no-traffic", "stale", "ghost"]
STEP = 60.0


def test_instants_end_at_the_pinned_time() -> None:
    assert collect.instants(1000.0, 3, 30.0) == (940.0, 970.0, 1000.0)
    assert collect.instants(1000.0, 3, 0.0) == (1000.0,)


def test_each_step_equals_an_instant_query_at_that_step(
    client: promclient.PrometheusClient, faults: FaultProxy
) -> None:
    history = collect.collect_history(client, [AVAILABILITY], APPS, END, 3, STEP)
    calls = len(faults.queries)
    assert calls == len(queries.plan([AVAILABILITY]))  # one call per (SLO x window), whatever N
    assert sorted(history) == [END - 2 * STEP, END - STEP, END]
    for t, reports in history.items():
        single = collect.collect_slos(client, [AVAILABILITY], APPS, t)
        for app in APPS:
            (got,), (want,) = reports[app], single[app]
            assert (got.state, got.page, got.ticket) == (want.state, want.page, want.ticket), (t, app)
            for a, b in zip(got.samples, want.samples, strict=True):
                assert a.state == b.state and a.value == pytest.approx(b.value, nan_ok=True), (t, app)


def test_partial_answers_hold_every_step(client: promclient.PrometheusClient, faults: FaultProxy) -> None:
    faults.fault = WARNINGS
    history = collect.collect_history(client, [AVAILABILITY], ["fast-burn"], END, 2, STEP)
    for reports in history.values():
        (report,) = reports["fast-burn"]
        assert report.state is model.SampleState.QUERY_ERROR and not report.page
