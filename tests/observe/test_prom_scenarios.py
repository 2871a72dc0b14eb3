"""The SLO engine against ONE real Prometheus holding the backfilled fixture history.

Each scenario of fixtures/prometheus/generate.py is classified and tiered at the pinned END.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from promfaults import FaultProxy
from slodefs import AVAILABILITY, BATCH, END, LATENCY

from bot import model
from bot.clients import prometheus as promclient
from bot.observe import collect, queries

pytestmark = pytest.mark.prometheus
S = model.SampleState

SCENARIOS = {
    # app: (state, page, ticket)
    "clean": (S.OK, False, False),
    "fast-burn": (S.OK, True, False),
    "medium-burn": (S.OK, True, False),
    "slow-burn": (S.OK, False, True),
    "spike": (S.OK, False, False),
    "no-traffic": (S.NO_TRAFFIC, False, False),
    "counter-reset": (S.OK, True, False),
    "low-traffic": (S.NO_TRAFFIC, False, False),
    "stale": (S.STALE, False, False),
    "ghost": (S.NO_SERIES, False, False),  # absent from Prometheus altogether
}


@pytest.fixture(scope="module")
def reports(prom_server: object, proxy: FaultProxy) -> dict[str, tuple[model.SLOReport, ...]]:
    proxy.reset()
    with promclient.PrometheusClient.connect(proxy.url) as client:
        return collect.collect_slos(client, [AVAILABILITY], list(SCENARIOS), END)


@pytest.mark.parametrize("app", list(SCENARIOS))
def test_scenario(app: str, reports: dict[str, tuple[model.SLOReport, ...]]) -> None:
    state, page, ticket = SCENARIOS[app]
    (report,) = reports[app]
    assert (report.state, report.page, report.ticket) == (state, page, ticket), report.reason
    assert len(report.samples) == 7


def ratios(report: model.SLOReport) -> dict[str, float | None]:
    return {model.format_duration(s.window): s.value for s in report.samples}


def test_scenario_details(reports: dict[str, tuple[model.SLOReport, ...]]) -> None:
    fast = reports["fast-burn"][0]
    assert ratios(fast)["5m"] == pytest.approx(0.05, abs=1e-12)  # same timestamps: an exact ratio
    assert fast.samples[0].total == pytest.approx(3000)  # 10 req/s for 5 minutes
    assert [v.window.name for v in fast.verdicts if v.firing] == ["1h/5m"]

    medium = reports["medium-burn"][0]
    assert [v.window.name for v in medium.verdicts if v.firing] == ["6h/30m"]

    slow = reports["slow-burn"][0]
    assert [v.window.name for v in slow.verdicts if v.firing] == ["1d/2h", "3d/6h"]

    spike = reports["spike"][0].verdicts[0]  # 1h/5m: long above 14.4x, short back to normal
    assert spike.burn_long is not None and spike.burn_long > 14.4
    assert spike.burn_short is not None and spike.burn_short < 1
    assert not spike.firing

    # rate() sees through the restart: the ratio stays right and nothing turns INVALID
    reset = reports["counter-reset"][0]
    assert ratios(reset)["5m"] == pytest.approx(0.05, abs=0.002)

    no_traffic = {model.format_duration(s.window): s.state for s in reports["no-traffic"][0].samples}
    assert no_traffic == {"5m": S.NO_TRAFFIC, "30m": S.NO_TRAFFIC, "1h": S.NO_TRAFFIC, "2h": S.NO_TRAFFIC,
                          "6h": S.OK, "1d": S.OK, "3d": S.OK}  # fmt: skip

    low = reports["low-traffic"][0]
    assert all(not v.firing for v in low.verdicts)
    assert all(v.short.state is S.NO_TRAFFIC for v in low.verdicts)
    assert ratios(low)["1h"] == pytest.approx(0.1, abs=0.01)  # high ratio, too few events to act on

    stale = reports["stale"][0]
    assert "3m old" in stale.samples[0].detail


def test_threshold_sli_p99_latency(client: promclient.PrometheusClient) -> None:
    got = collect.collect_slos(client, [LATENCY], ["lat-fast", "lat-slow", "lat-idle", "ghost"], END)
    fast, slow, idle, ghost = (got[a][0] for a in ("lat-fast", "lat-slow", "lat-idle", "ghost"))
    assert (fast.state, fast.threshold_breach) == (S.OK, False)
    assert fast.samples[0].value == pytest.approx(0.0974, abs=1e-3)
    assert (slow.state, slow.threshold_breach) == (S.OK, True)
    assert slow.samples[0].value == pytest.approx(0.974, abs=1e-3)
    assert idle.state is S.NO_TRAFFIC and not idle.threshold_breach
    assert ghost.state is S.NO_SERIES


def test_query_not_aggregated_by_app_is_invalid(client: promclient.PrometheusClient) -> None:
    broken = dataclasses.replace(
        AVAILABILITY,
        name="per-code",
        error_query='rate(http_requests_total{code=~"5.."}[{window}])',
        total_query="rate(http_requests_total[{window}])",
    )
    (report,) = collect.collect_slos(client, [broken], ["clean"], END)["clean"]
    assert report.state is S.INVALID and not report.breaching
    assert "aggregate" in report.reason


def test_slos_per_app_mapping(client: promclient.PrometheusClient) -> None:
    got = collect.collect_slos(
        client, [AVAILABILITY, LATENCY], {"fast-burn": ["availability"], "lat-slow": ["latency-p99"]}, END
    )
    assert [r.slo for r in got["fast-burn"]] == ["availability"]
    assert [r.slo for r in got["lat-slow"]] == ["latency-p99"]
    assert got["fast-burn"][0].page and got["lat-slow"][0].threshold_breach


def test_hundred_apps_one_query_per_slo_and_window(
    faults: FaultProxy, client: promclient.PrometheusClient
) -> None:
    apps = [f"batch-{i:03d}" for i in range(100)]
    started = time.perf_counter()
    got = collect.collect_slos(client, [BATCH], apps, END)
    elapsed = time.perf_counter() - started
    assert len(faults.queries) == len(queries.windows_of(BATCH)) == 4
    for i, app in enumerate(apps):
        (report,) = got[app]
        assert report.state is S.OK, report.reason
        burning = i % 10 == 0
        assert (report.page, report.ticket) == (burning, burning), app
        # apps that never failed have no 5xx series at all: errors-or-zero reports 0, not NO_SERIES
        assert report.samples[0].value == pytest.approx(0.05 if burning else 0.0, abs=1e-12)
    print(f"\n100 apps x 1 SLO x 4 windows: {elapsed * 1000:.0f} ms, {len(faults.queries)} queries")
    assert elapsed < 5.0
