"""``PrometheusServer``: binaries, backfill, scrape targets, rule files, always terminated."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from slodefs import HAVE_PROMETHEUS

from bot import errors
from bot.clients import prometheus as promclient
from bot.sandbox import prometheus as promserver

needs_prometheus = pytest.mark.skipif(not HAVE_PROMETHEUS, reason="prometheus/promtool not installed")
HISTORY = """# TYPE jobs counter
jobs_total{app="a"} 0 1700000000
jobs_total{app="a"} 60 1700000060
jobs_total{app="a"} 120 1700000120
"""


def test_missing_binaries_name_the_install_command(tmp_path: Path) -> None:
    with mock.patch.dict(os.environ, {"PATH": str(tmp_path)}):
        with pytest.raises(errors.SandboxError) as info:
            promserver.PrometheusServer().start()
        with pytest.raises(errors.SandboxError):
            promserver.backfill(tmp_path / "x.om", tmp_path)
    assert "apt-get install -y prometheus" in str(info.value)
    assert "\n" not in str(info.value)


def test_render_config() -> None:
    text = promserver.render_config(
        scrape_targets=["http://127.0.0.1:8080/metrics", "127.0.0.1:9000"],
        scrape_interval="2s",
        rule_files=[Path("/tmp/rules.yml")],
        alertmanager_url="http://127.0.0.1:9093/am",
    )
    assert "scrape_interval: 2s" in text and '"/tmp/rules.yml"' in text
    assert 'path_prefix: "/am"' in text and 'targets: ["127.0.0.1:9093"]' in text
    assert text.count("job_name") == 2 and 'targets: ["127.0.0.1:9000"]' in text


@pytest.mark.prometheus
@needs_prometheus
def test_backfilled_text_is_served_and_process_is_terminated() -> None:
    server = promserver.PrometheusServer(openmetrics=[HISTORY])
    with server:
        proc, workdir = server._proc, server.workdir
        with promclient.PrometheusClient.connect(server.url) as client:
            assert client.query("sum(rate(jobs_total[2m]))", 1700000120).series[0].value == pytest.approx(1.0)
    assert proc is not None and proc.poll() is not None
    assert not workdir.exists()
    with pytest.raises(errors.SandboxError):
        _ = server.url


@pytest.mark.prometheus
@needs_prometheus
def test_terminated_on_exception() -> None:
    server = promserver.PrometheusServer()
    with pytest.raises(RuntimeError), server:
        proc = server._proc
        raise RuntimeError("test failed inside the block")
    assert proc is not None and proc.poll() is not None


@pytest.mark.prometheus
@needs_prometheus
def test_bad_history_is_a_sandbox_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.om"
    bad.write_text("this is not openmetrics\n# EOF\n")
    with pytest.raises(errors.SandboxError, match="promtool could not backfill"):
        promserver.PrometheusServer(backfill=[bad]).start()


@pytest.fixture
def target() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = b'# TYPE sim_up gauge\nsim_up{app="checkout"} 1\n'
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()
    server.server_close()


@pytest.mark.prometheus
@needs_prometheus
@pytest.mark.slow  # Prometheus hands new targets to the scraper after ~5 s (discovery throttle)
def test_scrapes_targets_and_evaluates_rules(target: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n- name: g\n  rules:\n  - alert: CheckoutUp\n    expr: sim_up == 1\n"
        "    labels: {severity: page}\n"
    )
    with promserver.PrometheusServer(
        scrape_targets=[target], rule_files=[rules], scrape_interval="1s"
    ) as server:
        with httpx.Client(base_url=server.url) as http:
            alerts: list[dict[str, Any]] = []
            for _ in range(100):  # scrape (1s) then rule evaluation (1s)
                alerts = http.get("/api/v1/alerts").json()["data"]["alerts"]
                if alerts:
                    break
                threading.Event().wait(0.1)
            assert alerts and alerts[0]["labels"]["alertname"] == "CheckoutUp"
            assert alerts[0]["labels"]["app"] == "checkout"
        server.reload()
