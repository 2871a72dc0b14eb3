"""The cycle's Prometheus queries go out beside the Argo CD Application list, not after it.

Both are waits on other servers (a 1,000-Application list is ~0.2 s of the Argo CD server's time, the
batched queries ~0.15 s of Prometheus'), and the queries are per SLO, never per app: nothing in them
waits for the list. Real Prometheus (behind the counting proxy) and the Argo CD emulator over HTTP;
the Argo CD request is held at the wire until Prometheus has seen a query, so code that asks them one
after the other cannot pass (it would wait out the hold and find no query).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from promfaults import FaultProxy
from slodefs import AVAILABILITY, END, LATENCY

from bot import model
from bot.clients import argocd
from bot.clients import prometheus as promclient
from bot.observe import queries, snapshot
from bot.sandbox.argocd import workload

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "argocd"))
from argokit import API_TOKEN, CHECKOUT, Clock, Repo, make_emulator

pytestmark = pytest.mark.prometheus
HOLD = 10.0  # seconds the Argo CD request waits for a Prometheus query before giving up
AT = datetime.fromtimestamp(END, UTC)


class Held:
    """An httpx request hook holding the Argo CD list until the proxy has seen a Prometheus query."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.queries_during_list: list[str] | None = None
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> None:
        if request.url.path != "/api/v1/applications":
            return
        deadline = time.monotonic() + HOLD
        while not self.proxy.queries and time.monotonic() < deadline:
            time.sleep(0.01)
        with self.lock:
            self.queries_during_list = list(self.proxy.queries)


@pytest.fixture
def argo(tmp_path: Path, faults: FaultProxy) -> Iterator[tuple[argocd.ArgoCDClient, Held]]:
    repo = Repo(tmp_path)
    repo.commit({"apps/checkout/app.yaml": CHECKOUT.replace("{tag}", "1.4.2")}, "checkout 1.4.2")
    held = Held(faults)
    with (
        make_emulator(repo, Clock(), workload.DefaultModel(rollout_delay=1.0)) as emu,
        httpx.Client(base_url=emu.url, timeout=HOLD + 10, event_hooks={"request": [held]}) as http,
    ):
        yield argocd.ArgoCDClient(http, token=API_TOKEN, refresh_timeout=10.0), held


def sources(argo: argocd.ArgoCDClient, prom: promclient.PrometheusClient) -> snapshot.Sources:
    return snapshot.Sources(argocd=argo, prometheus=prom, slos=[AVAILABILITY, LATENCY], step=60.0, offset=0.0)


def windows(slo: model.SLO) -> int:
    return sum(1 for q in queries.plan([slo]))


def test_prometheus_is_asked_while_the_application_list_is_in_flight(
    argo: tuple[argocd.ArgoCDClient, Held], client: promclient.PrometheusClient, faults: FaultProxy
) -> None:
    argocd_client, held = argo
    target = snapshot.Target("fast-burn", "checkout", None, ("availability",))
    started = time.monotonic()
    snap = snapshot.observe(sources(argocd_client, client), [target], AT)
    assert held.queries_during_list, "Argo CD's list was answered before Prometheus saw any query"
    assert time.monotonic() - started < HOLD
    obs = snap.apps["fast-burn"]
    assert obs.status is not None and obs.status.name == "checkout" and not obs.error
    (report,) = obs.slos
    assert report.slo == "availability" and report.page  # the fixture's fast burn, read as ever
    # only the configured apps' SLO: the latency SLO nobody uses is not asked
    assert len(faults.queries) == windows(AVAILABILITY)


def test_an_slo_only_a_discovered_application_names_is_asked_after_the_list(
    argo: tuple[argocd.ArgoCDClient, Held], client: promclient.PrometheusClient, faults: FaultProxy
) -> None:
    """Fleet templates name availability; an Application's annotation picks the latency SLO too.
    The templates' SLO goes out beside the list, the annotation's after discovery, each once."""
    argocd_client, held = argo

    def discovered(statuses: Sequence[model.AppStatus]) -> list[snapshot.Target]:
        assert [s.name for s in statuses] == ["checkout"]
        return [snapshot.Target("lat-slow", "checkout", None, ("availability", "latency-p99"))]

    snap = snapshot.observe(
        sources(argocd_client, client), [], AT, fleet=discovered, fleet_slos={"availability"}
    )
    assert held.queries_during_list  # the templates' SLO did not wait for the list
    reports = {r.slo: r for r in snap.apps["lat-slow"].slos}
    assert set(reports) == {"availability", "latency-p99"}
    assert reports["latency-p99"].breaching  # lat-slow's p99 is over 0.5 s in the fixture
    latency_queries = [q for q in faults.queries if "http_request_duration_seconds" in q]
    assert len(latency_queries) == windows(LATENCY)
    assert len(faults.queries) == windows(AVAILABILITY) + windows(LATENCY)


def test_a_run_for_configured_apps_only_asks_no_template_slo(
    argo: tuple[argocd.ArgoCDClient, Held], client: promclient.PrometheusClient, faults: FaultProxy
) -> None:
    """``githeal once --app fast-burn`` with a fleet configured: the templates' SLOs are not asked."""
    argocd_client, _ = argo
    target = snapshot.Target("fast-burn", "checkout", None, ("availability",))

    def discovered(statuses: Sequence[model.AppStatus]) -> list[snapshot.Target]:
        return [snapshot.Target("lat-slow", "checkout", None, ("latency-p99",))]

    snap = snapshot.observe(
        sources(argocd_client, client),
        [target],
        AT,
        only=["fast-burn"],
        fleet=discovered,
        fleet_slos={"latency-p99"},
    )
    assert list(snap.apps) == ["fast-burn"]
    assert len(faults.queries) == windows(AVAILABILITY)
