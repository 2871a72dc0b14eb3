"""Latency regressions on a real Prometheus (issue 12 §1: "latency: a comparison of histogram buckets
... with the same discipline"). A ``latency: {histogram, le}`` SLI counts requests slower than the bucket
as bad, so the deploy comparison is the same Fisher test on (slow, all) since the deploy and before it,
and the burn-rate query reads the same share. One app's exporter spells the bound ``1`` and another
``1.0`` (Prometheus 3 normalises ``le`` on ingestion): both are read."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from slodefs import HAVE_PROMETHEUS

from bot import model
from bot.clients import prometheus as promclient
from bot.decide import regression as rg
from bot.observe import deploys, queries
from bot.sandbox import prometheus as promserver
from bot.settings import rules, slos

END = 1_793_491_200
DEPLOY = END - 600
SCRAPE = 5
HISTOGRAM = "http_request_duration_seconds"

# app -> (requests/s, slow share before the deploy, after it, how the exporter spells the 1 s bound)
APPS = {
    "slowed": (20.0, 0.002, 0.25, "1"),
    "steady": (20.0, 0.002, 0.002, "1"),
    "slowed-v3": (20.0, 0.002, 0.25, "1.0"),
}
BOUNDS = ("0.1", "{one}", "+Inf")


def _slo() -> model.SLO:
    cfg = rules.SLOConfig(name="latency", objective=99.0, latency={"histogram": HISTOGRAM, "le": "1"})
    return slos.from_config(cfg, app_label="app", scrape_interval=SCRAPE, source="test")


def _history(path: Path) -> None:
    series: dict[str, list[str]] = {}
    for app, (rps, before, after, one) in APPS.items():
        fast = slow = 0.0
        for t in range(END - 3600, END + 1, SCRAPE):
            share = before if t <= DEPLOY else after
            fast += rps * SCRAPE * (1 - share)
            slow += rps * SCRAPE * share
            counts = {"0.1": fast * 0.5, one: fast, "+Inf": fast + slow}
            for le, value in counts.items():
                key = f'{HISTOGRAM}_bucket{{app="{app}",le="{le}"}}'
                series.setdefault(key, []).append(f"{key} {math.floor(value)} {t}")
            key = f'{HISTOGRAM}_count{{app="{app}"}}'
            series.setdefault(key, []).append(f"{key} {math.floor(fast + slow)} {t}")
    lines = [line for key in sorted(series) for line in series[key]]
    path.write_text(f"# TYPE {HISTOGRAM} histogram\n" + "\n".join(lines) + "\n# EOF\n")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[promclient.PrometheusClient]:
    if not HAVE_PROMETHEUS:
        pytest.skip("prometheus/promtool not installed (make prometheus)")
    om = tmp_path_factory.mktemp("latency") / "latency.om"
    _history(om)
    with (
        promserver.PrometheusServer(backfill=[om]) as server,
        promclient.PrometheusClient.connect(server.url, timeout=10.0) as c,
    ):
        yield c


def test_a_deploy_that_slows_requests_regresses_and_a_steady_one_does_not(
    client: promclient.PrometheusClient,
) -> None:
    slo = _slo()
    found = {a: deploys.Deploy(a, "abc123", DEPLOY) for a in APPS}
    answers = deploys.collect(client, [slo], found, END, step=SCRAPE, window=900, baseline=1800)
    got = {e.app: e.data for e in answers}
    judged = rg.Rules(alpha=0.001, looks=180, budget=slo.budget)
    verdicts = {}
    for app, data in got.items():
        assert data.error == "" and data.since is not None and data.baseline is not None, (app, data)
        verdicts[app] = rg.judge(data.baseline, data.since, judged).verdict
    assert verdicts == {
        "slowed": rg.Verdict.REGRESSED,
        "steady": rg.Verdict.CLEAN,
        "slowed-v3": rg.Verdict.REGRESSED,  # the bound spelt "1.0" is the same bucket
    }
    since = got["slowed"].since
    assert since is not None and since.ratio == pytest.approx(0.25, abs=0.02)
    assert since.total == pytest.approx(20 * 600, rel=0.05)


def test_the_burn_rate_query_reads_the_slow_share(client: promclient.PrometheusClient) -> None:
    slo = _slo()
    expr = queries.window_query(slo, 300.0)
    data = queries.parse(slo, 300.0, client.query(expr, at=END).pairs())
    assert data.error == ""
    assert data.values["slowed"] == pytest.approx(0.25, abs=0.02)
    assert data.values["slowed-v3"] == pytest.approx(0.25, abs=0.02)
    assert data.values["steady"] == pytest.approx(0.002, abs=0.002)
    assert data.events["steady"] == pytest.approx(20 * 300, rel=0.05)
