"""A real Prometheus scrapes the running simulator; the SLO queries see the simulated world."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest

from bot.sandbox import behaviour, prometheus, simulator

ERROR_RATIO = (
    'sum by (app) (rate(http_requests_total{code=~"5.."}[30s]))'
    " / sum by (app) (rate(http_requests_total[30s]))"
)
P99 = "histogram_quantile(0.99, sum by (app, le) (rate(http_request_duration_seconds_bucket[30s])))"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.prometheus,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs the prometheus binary"),
]


def query(http: httpx.Client, promql: str) -> dict[str, float]:
    body = http.get("/api/v1/query", params={"query": promql}).json()
    assert body["status"] == "success", body
    return {r["metric"].get("app", ""): float(r["value"][1]) for r in body["data"]["result"]}


def test_prometheus_scrapes_exact_error_ratios(specs, world) -> None:
    world.set_image("checkout", "ghcr.io/acme/checkout:1.5.0")
    bad = {"ghcr.io/acme/checkout:1.5.0": behaviour.Behaviour("errors", 0.3)}
    with simulator.Simulator(specs, world, behaviours=bad, tick=0.2) as sim:
        sim.set_traffic("cart", rps=240)  # 2 replicas x 50 rps: 140 of 240 shed
        with (
            prometheus.PrometheusServer(scrape_targets=[f"{sim.url}/metrics"], scrape_interval="1s") as prom,
            httpx.Client(base_url=prom.url, timeout=5) as http,
        ):
            deadline = time.monotonic() + 15
            ratios: dict[str, float] = {}
            while time.monotonic() < deadline:
                ratios = query(http, ERROR_RATIO)
                if len(ratios) == 3:
                    break
                time.sleep(0.25)
            p99 = query(http, P99)
            replicas = query(http, "githeal_sim_replicas")
            load = query(http, "githeal_sim_inflight_load")
    assert ratios.keys() == {"checkout", "cart", "catalog"}
    assert ratios["checkout"] == pytest.approx(0.3, abs=0.02)
    assert ratios["cart"] == pytest.approx(140 / 240, abs=0.02)
    assert ratios["catalog"] == 0.0
    # cart's served requests take 0.05 * (1 + 10 * 1.6) = 0.85 s: p99 lands in the (0.75, 1] bucket
    assert 0.75 < p99["cart"] <= 1.0
    assert p99["catalog"] <= 0.025
    assert replicas == {"checkout": 2.0, "cart": 2.0, "catalog": 2.0}
    assert load["cart"] == 120.0
