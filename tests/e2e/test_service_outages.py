"""Outages of Prometheus and Argo CD through a fault-injecting proxy, with the daemon running for real.

For each fault (down, slow, 5xx, 401/403, 429 with Retry-After, a cut answer): the service stays up,
/readyz says which dependency is down and why, the metrics say so too, no heal is made on missing
data, and everything recovers by itself once the dependency answers again.
Facts: Argo CD's API gateway answers 403 {"code":7} for PermissionDenied and 429 for ResourceExhausted
(grpc-gateway HTTPStatusFromCode); a reverse proxy in front of Prometheus answers 429 with Retry-After.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import faultproxy
import healkit
import httpx
import pytest
from ruamel.yaml import YAML

from bot import settings
from bot.record import metrics
from bot.sandbox import world as sandbox
from bot.service import daemon, wiring

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]


@dataclass
class Outage:
    world: sandbox.World
    service: daemon.Service
    proxies: dict[str, faultproxy.FaultProxy]
    slept: list[float]

    @property
    def url(self) -> str:
        return self.service.http.url

    def readyz(self) -> tuple[int, dict[str, object]]:
        r = httpx.get(f"{self.url}/readyz", timeout=2)
        return r.status_code, r.json()

    def sample(self, name: str, **labels: str) -> float:
        return self.service.rt.metrics.registry.get_sample_value(name, labels) or 0.0

    def heals(self, app: str | None = None) -> float:
        total = 0.0
        for fam in self.service.rt.metrics.registry.collect():
            for s in fam.samples:
                if s.name == "githeal_heals_total" and (app is None or s.labels["app"] == app):
                    total += s.value
        return total


def until(done: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(step)
    return done()


@pytest.fixture(scope="module")
def outage() -> Iterator[Outage]:
    healkit.require_prometheus()
    with (
        sandbox.World(sandbox.Options(interval=0.5)) as w,  # a cycle every 0.5 s: outages seen sooner
        faultproxy.FaultProxy(w.prometheus.url) as prom,
        faultproxy.FaultProxy(w.argo.url) as argo,
        faultproxy.FaultProxy(w.github.url) as gh,
    ):
        cfg = w.config()
        cfg["prometheus"].update(url=prom.url, timeout="1s")
        cfg["argocd"].update(url=argo.url, timeout="1s")
        cfg["github"]["base_url"] = gh.url + w.github.base_path
        # the bot reaches the bare remote through a link that a test can remove (the remote is gone)
        # while the emulators keep using the repository itself
        link = w.dir / "remote" / "bot-view.git"
        link.symlink_to(w.bare)
        cfg["repos"]["manifests"]["url"] = str(link)
        path = w.dir / "githeal-outage.yaml"
        with path.open("w") as fh:
            YAML().dump(cfg, fh)
        rt = wiring.build(settings.load(path))
        slept: list[float] = []

        def sleep(seconds: float) -> None:  # record what the retry asked for, wait only a little
            slept.append(seconds)
            time.sleep(min(seconds, 0.05))

        for policy in (rt.prometheus.retry, rt.argocd.retry):
            policy.sleep = sleep
            policy.cooldown = 5.0
        rt.prometheus.margin = 0.3
        service = daemon.Service(rt, host="127.0.0.1", port=0)
        service.start()
        service.scheduler.start()
        try:
            yield Outage(w, service, {"prometheus": prom, "argocd": argo, "github": gh}, slept)
        finally:
            service.stop()
            rt.close()


PROM_ERROR = '{"status":"error","errorType":"unavailable","error":"overloaded"}'
ARGO_DENIED = '{"error":"permission denied","code":7,"message":"permission denied"}'
RETRY_AFTER = {"Retry-After": "1", "Content-Type": "text/plain"}
CASES = [
    ("prometheus", "down", None),
    ("prometheus", "503", faultproxy.Fault(503, PROM_ERROR)),
    ("prometheus", "401", faultproxy.Fault(401, "Unauthorized", {"Content-Type": "text/plain"})),
    ("prometheus", "429", faultproxy.Fault(429, "Too Many Requests", RETRY_AFTER)),
    ("prometheus", "truncated", faultproxy.Fault(truncated=True)),
    ("prometheus", "partial", faultproxy.Fault(partial=True)),
    ("prometheus", "slow", faultproxy.Fault(delay=1.6)),
    ("argocd", "down", None),
    ("argocd", "503", faultproxy.Fault(503, "upstream connect error", {"Content-Type": "text/plain"})),
    ("argocd", "403", faultproxy.Fault(403, ARGO_DENIED)),
    ("argocd", "429", faultproxy.Fault(429, "Too Many Requests", RETRY_AFTER)),
    ("argocd", "truncated", faultproxy.Fault(truncated=True)),
    ("argocd", "partial", faultproxy.Fault(partial=True)),
    ("argocd", "slow", faultproxy.Fault(delay=1.6)),
    ("github", "down", None),
    ("github", "502", faultproxy.Fault(502, "Bad Gateway", {"Content-Type": "text/plain"})),
    ("github", "429", faultproxy.Fault(429, '{"message":"rate limited"}', {"Retry-After": "1"})),
]


@pytest.mark.parametrize(("dependency", "name", "fault"), CASES, ids=[f"{d}-{n}" for d, n, _ in CASES])
def test_an_outage_is_reported_and_recovered_from(
    outage: Outage, dependency: str, name: str, fault: faultproxy.Fault | None
) -> None:
    assert until(lambda: outage.readyz()[0] == 200, timeout=30), outage.readyz()
    proxy = outage.proxies[dependency]
    errors_before = outage.sample("githeal_errors_total", system=dependency)
    heals_before = outage.heals()
    outage.slept.clear()
    if fault is None:
        proxy.down()
    else:
        proxy.fault = fault
    try:
        assert until(lambda: dependency in outage.readyz()[1]["down"], timeout=20), outage.readyz()  # type: ignore[operator]
        status, body = outage.readyz()
        detail = body["dependencies"][dependency]  # type: ignore[index]
        assert status == 503 and detail["up"] is False and detail["last_error"]
        assert httpx.get(f"{outage.url}/healthz", timeout=2).status_code == 200
        assert outage.sample("githeal_dependency_up", dependency=dependency) == 0
        assert until(lambda: outage.sample("githeal_errors_total", system=dependency) > errors_before, 20)
        if name == "429" and dependency != "github":  # GitHub's is the github client's business
            assert 1.0 in outage.slept, outage.slept  # Retry-After honoured
        assert outage.heals() == heals_before, "a heal was made on missing data"
    finally:
        proxy.fault = None
        proxy.up()
    assert until(lambda: outage.readyz()[0] == 200, timeout=30), outage.readyz()
    assert outage.sample("githeal_dependency_up", dependency=dependency) == 1
    systems = {
        s.labels["system"]
        for fam in outage.service.rt.metrics.registry.collect()
        for s in fam.samples
        if s.name == "githeal_errors_total"
    }
    assert systems <= metrics.SYSTEMS | {metrics.OTHER}, systems


def test_a_git_remote_that_is_gone_is_reported_and_recovered_from(outage: Outage) -> None:
    assert until(lambda: outage.readyz()[0] == 200, timeout=30), outage.readyz()
    link = outage.world.dir / "remote" / "bot-view.git"
    link.unlink()
    try:
        assert until(lambda: "git:manifests" in outage.readyz()[1]["down"], timeout=20), outage.readyz()  # type: ignore[operator]
        detail = outage.readyz()[1]["dependencies"]["git:manifests"]  # type: ignore[index]
        assert detail["last_error"] and detail["last_success"]
        assert outage.sample("githeal_dependency_up", dependency="git:manifests") == 0
        assert outage.sample("githeal_errors_total", system="git") > 0
    finally:
        link.symlink_to(outage.world.bare)
    assert until(lambda: outage.readyz()[0] == 200, timeout=30), outage.readyz()


def test_no_scale_on_missing_load_data_then_the_heal_once_prometheus_is_back(outage: Outage) -> None:
    assert until(lambda: outage.readyz()[0] == 200, timeout=30), outage.readyz()
    before = outage.heals("cart")
    outage.proxies["prometheus"].fault = faultproxy.Fault(503, PROM_ERROR)
    try:
        outage.world.sim.spike("cart", 3.0, 60)
        cycles = outage.sample("githeal_cycle_duration_seconds_count")
        assert until(lambda: outage.sample("githeal_cycle_duration_seconds_count") >= cycles + 4, 30)
        assert outage.heals("cart") == before, "scaled on missing load data"
    finally:
        outage.proxies["prometheus"].fault = None
    assert until(lambda: outage.heals("cart") > before, timeout=40), "no scale once Prometheus was back"
