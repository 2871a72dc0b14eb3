"""The daemon over real HTTP on port 0 inside a sandbox World: probes, metrics after a real heal, and
an Alertmanager webhook (bearer token) that makes the scheduler evaluate just the alerting app.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import healkit
import httpx
import pytest
from ruamel.yaml import YAML

from bot import settings
from bot.sandbox import world as sandbox
from bot.service import cycle, daemon, wiring

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]
TOKEN = "alertmanager-e2e-token"


@dataclass
class Running:
    world: sandbox.World
    service: daemon.Service
    reports: list[cycle.CycleReport]

    @property
    def url(self) -> str:
        return self.service.http.url

    def until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Poll in short steps, keeping every new cycle report (the service only holds the last)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rep = self.service.last_report
            if rep is not None and (not self.reports or self.reports[-1] is not rep):
                self.reports.append(rep)
            if done():
                return True
            time.sleep(0.02)
        return done()


def _config(w: sandbox.World) -> Path:
    cfg = w.config()
    secret = w.dir / "secrets" / "alertmanager-token"
    secret.write_text(TOKEN)
    cfg["service"]["webhooks"] = {"alertmanager_token": {"file": str(secret)}}
    cfg["verify"] = {**cfg["verify"], **healkit.SHORT_VERIFY}  # the scale heal's verdict sooner
    path = w.dir / "githeal-service.yaml"
    with path.open("w") as fh:
        YAML().dump(cfg, fh)
    return path


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    healkit.require_prometheus()
    with sandbox.World(sandbox.Options(interval=1.0)) as w:
        rt = wiring.build(settings.load(_config(w)))
        service = daemon.Service(rt, host="127.0.0.1", port=0)
        service.start()
        try:
            yield Running(w, service, [])
        finally:
            service.stop()
            rt.close()


def test_probes_before_and_after_the_first_cycle(running: Running) -> None:
    assert httpx.get(f"{running.url}/healthz", timeout=5).status_code == 200
    before = httpx.get(f"{running.url}/readyz", timeout=5)
    assert before.status_code == 503 and before.json()["last_cycle_age_seconds"] is None
    running.service.scheduler.start()
    assert running.until(lambda: running.service.last_report is not None, timeout=15)
    after = httpx.get(f"{running.url}/readyz", timeout=5)
    assert after.status_code == 200, after.json()
    deps = after.json()["dependencies"]
    assert set(deps) == {"prometheus", "argocd", "github", "git:manifests"}
    assert all(d["up"] and d["last_success"] for d in deps.values()), deps


def test_metrics_show_a_heal(running: Running) -> None:
    if running.service.last_report is None:
        running.service.scheduler.start()
    # wait for OK load data before the spike, so the scale-up is what the metrics show
    assert running.until(
        lambda: (
            bool(running.reports) and running.reports[-1].snapshot.apps["cart"].load_per_replica is not None
        ),
        timeout=30,
    )
    running.world.sim.spike("cart", 3.0, 60)

    def scaled() -> bool:
        return any(r.action.app == "cart" and r.landed for rep in running.reports for r in rep.results)

    assert running.until(scaled, timeout=40), [s.reason for s in running.reports[-1].plan.skips]
    text = httpx.get(f"{running.url}/metrics", timeout=5).text
    heals = [line for line in text.splitlines() if line.startswith("githeal_heals_total{")]
    assert any(
        'app="cart"' in line and 'outcome="committed"' in line and 'action="scale"' in line for line in heals
    )
    assert "githeal_cycle_duration_seconds_count" in text and "githeal_decisions_total{" in text

    # each heal counted once, its verdict in its own series (the verdict used to count the heal again)
    def verdict() -> bool:
        return (
            'githeal_verifications_total{action="scale",app="cart"'
            in running.service.rt.metrics.render().decode()
        )

    assert running.until(verdict, timeout=60), "no verdict on the scale heal"
    text = httpx.get(f"{running.url}/metrics", timeout=5).text
    heals = [line for line in text.splitlines() if line.startswith("githeal_heals_total{")]
    landed = sum(1 for rep in running.reports for r in rep.results if r.action.kind.value == "scale")
    counted = sum(
        float(line.rsplit(" ", 1)[1]) for line in heals if 'app="cart"' in line and 'action="scale"' in line
    )
    assert counted == landed, heals
    assert "githeal_apps_observed 3.0" in text and 'githeal_dependency_up{dependency="github"} 1.0' in text
    # the emulator sends X-RateLimit-Remaining like api.github.com; the gauge shows the last one seen
    (rate,) = [line for line in text.splitlines() if line.startswith("githeal_github_rate_limit_remaining ")]
    assert 0 < float(rate.split()[1]) < 5000


def test_alertmanager_webhook_needs_the_token_and_evaluates_the_app(running: Running) -> None:
    hook = f"{running.url}/webhooks/alertmanager"
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "AppServing5xx", "app": "checkout"}}],
    }
    assert httpx.post(hook, json=body, timeout=5).status_code == 401
    wrong = httpx.post(hook, json=body, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401
    ok = httpx.post(hook, json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert ok.status_code == 202 and ok.json() == {"evaluating": ["checkout"]}

    def checkout_alone() -> bool:
        return any(set(rep.snapshot.apps) == {"checkout"} for rep in running.reports)

    assert running.until(checkout_alone, timeout=15), "no cycle for checkout alone followed the webhook"
