"""The real alert path: simulator -> Prometheus alerting rule -> real Alertmanager -> githeal's webhook.

A sandbox World runs the bot as a Service (HTTP endpoints + scheduler, scheduled cycles 10 minutes
apart so only the alert can cause the next one). A second real Prometheus scrapes the world's workload
simulator with an alerting rule on 5xx and sends to a real Alertmanager, whose webhook receiver posts
to /webhooks/alertmanager with bearer credentials. When checkout starts failing, the bot must run a
cycle for checkout alone within seconds.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from ruamel.yaml import YAML

from bot import errors, settings
from bot.sandbox import alertmanager as amserver
from bot.sandbox import behaviour as bhv
from bot.sandbox import prometheus as promserver
from bot.sandbox import world as sandbox
from bot.service import cycle, daemon, wiring

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]
TOKEN = "am-webhook-token-0123"
RULES = """\
groups:
  - name: githeal-e2e
    interval: 1s
    rules:
      - alert: AppServing5xx
        expr: sum by (app) (rate(http_requests_total{code=~"5.."}[15s])) > 0
        for: 0s
        labels: {severity: page}
"""


def _require_binaries() -> None:
    try:
        amserver.find_binary()
    except errors.SandboxError as exc:
        pytest.skip(f"real Alertmanager not installed (make prometheus): {exc}")
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        pytest.skip("prometheus/promtool not installed (make prometheus)")


@dataclass
class AlertPath:
    world: sandbox.World
    service: daemon.Service
    alertmanager: amserver.AlertmanagerServer
    prometheus: promserver.PrometheusServer
    reports: list[cycle.CycleReport]

    def watch(self, apps: set[str], timeout: float) -> None:
        """Collect new cycle reports (the service keeps only the last) until one covers exactly ``apps``."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            rep = self.service.last_report
            if rep is not None and (not self.reports or self.reports[-1] is not rep):
                self.reports.append(rep)
                if set(rep.snapshot.apps) == apps:
                    return
            time.sleep(0.02)


def _service_config(world: sandbox.World) -> Path:
    cfg = world.config()
    (world.dir / "secrets" / "alertmanager-token").write_text(TOKEN)
    cfg["service"]["webhooks"] = {
        "alertmanager_token": {"file": str(world.dir / "secrets" / "alertmanager-token")}
    }
    path = world.dir / "githeal-service.yaml"
    with path.open("w") as fh:
        YAML().dump(cfg, fh)
    return path


@pytest.fixture(scope="module")
def alert_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertPath]:
    _require_binaries()
    rules = tmp_path_factory.mktemp("rules") / "rules.yml"
    rules.write_text(RULES)
    with sandbox.World(sandbox.Options(bot=False, interval=600)) as world:
        rt = wiring.build(settings.load(_service_config(world)))
        service = daemon.Service(rt)
        service.start()
        service.scheduler.start()
        try:
            with (
                amserver.AlertmanagerServer(
                    f"{service.http.url}/webhooks/alertmanager", bearer_token=TOKEN
                ) as am,
                promserver.PrometheusServer(
                    scrape_targets=[world.sim.url + "/metrics"],
                    rule_files=[rules],
                    alertmanager_url=am.url,
                    workdir=world.dir / "prometheus-alerts",
                ) as prom,
            ):
                path = AlertPath(world, service, am, prom, [])
                path.watch(set(sandbox.APPS), 15)  # the scheduler's first, full cycle
                assert path.reports and set(path.reports[0].snapshot.apps) == set(sandbox.APPS)
                yield path
        finally:
            service.stop()
            rt.close()


def _firing(prom: promserver.PrometheusServer) -> list[dict[str, Any]]:
    alerts = httpx.get(f"{prom.url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [a for a in alerts if a["state"] == "firing"]


def _notifications(am: amserver.AlertmanagerServer) -> tuple[float, float]:
    sent = failed = 0.0
    for line in httpx.get(f"{am.url}/metrics", timeout=5).text.splitlines():
        if 'integration="webhook"' in line:
            if line.startswith("alertmanager_notifications_total"):
                sent += float(line.rsplit(" ", 1)[1])
            elif line.startswith("alertmanager_notifications_failed_total"):
                failed += float(line.rsplit(" ", 1)[1])
    return sent, failed


def test_alert_triggers_an_immediate_cycle_for_its_app(alert_path: AlertPath) -> None:
    assert _firing(alert_path.prometheus) == []  # all healthy: no 5xx yet
    broke = time.monotonic()
    alert_path.world.sim.set_behaviour("ghcr.io/acme/checkout:*", bhv.Behaviour("errors", error_rate=0.5))
    alert_path.watch({"checkout"}, 30)
    evaluated = time.monotonic()
    last = alert_path.reports[-1]
    assert set(last.snapshot.apps) == {"checkout"}, "no cycle for checkout alone followed the alert"
    assert len(alert_path.reports) == 2  # the alert, not the 10-minute schedule, caused it
    assert last.snapshot.apps["checkout"].status is not None
    assert last.errors == []

    (alert,) = _firing(alert_path.prometheus)
    assert alert["labels"] == {"alertname": "AppServing5xx", "app": "checkout", "severity": "page"}
    active = datetime.fromisoformat(str(alert["activeAt"]).replace("Z", "+00:00"))
    sent, failed = _notifications(alert_path.alertmanager)
    assert sent >= 1 and failed == 0  # delivered, and the bearer token was accepted
    from_alert = (last.at - active).total_seconds()
    print(
        f"\nalert round trip: checkout failing -> cycle for checkout {evaluated - broke:.1f}s; "
        f"alert active -> cycle started {from_alert:.2f}s"
    )
    assert -1.0 < from_alert < 5.0


def test_wrong_token_is_refused(alert_path: AlertPath) -> None:
    body = {"alerts": [{"status": "firing", "labels": {"app": "cart"}}]}
    r = httpx.post(f"{alert_path.service.http.url}/webhooks/alertmanager", json=body, timeout=5)
    assert r.status_code == 401
    r = httpx.post(
        f"{alert_path.service.http.url}/webhooks/alertmanager",
        json=body,
        headers={"Authorization": "Bearer nope"},
        timeout=5,
    )
    assert r.status_code == 401
    time.sleep(0.3)
    last = alert_path.service.last_report
    assert last is not None and set(last.snapshot.apps) != {"cart"}
