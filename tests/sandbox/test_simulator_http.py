"""The simulator over real HTTP: /metrics, the control API, the ticker, and the Argo CD live source."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import errors
from bot.sandbox import live, simulator


@pytest.fixture
def sim(specs, world) -> Iterator[simulator.Simulator]:
    with simulator.Simulator(specs, world, tick=None) as running:
        yield running


def test_metrics_endpoint_parses(sim: simulator.Simulator) -> None:
    sim.step(2)
    response = httpx.get(f"{sim.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert families["http_requests"].type == "counter"
    assert families["http_request_duration_seconds"].type == "histogram"
    apps = {s.labels["app"] for s in families["githeal_sim_replicas"].samples}
    assert apps == {"checkout", "cart", "catalog"}


def test_control_api_changes_the_world(sim: simulator.Simulator) -> None:
    with httpx.Client(base_url=sim.url) as http:
        r = http.post("/control/traffic", json={"app": "cart", "multiplier": 4, "duration": "10s"})
        assert r.status_code == 200
        assert r.json()["apps"]["cart"]["rate"] == 240
        r = http.post(
            "/control/behaviour",
            json={"image": "ghcr.io/acme/checkout:1.4.2", "behaviour": {"kind": "errors", "error_rate": 0.5}},
        )
        assert r.json()["behaviours"]["ghcr.io/acme/checkout:1.4.2"]["error_rate"] == 0.5
        r = http.post("/control/step", json={"seconds": 2})
        state = http.get("/control/state").json()
    assert state["now"] == 2
    assert state["apps"]["checkout"]["requests"] == {"200": 100, "500": 100, "503": 0}
    assert state["apps"]["cart"]["requests"]["503"] == 280
    assert state["apps"]["cart"]["spike_until"] == 10


def test_control_api_replaces_behaviours_and_config_rules(sim: simulator.Simulator) -> None:
    with httpx.Client(base_url=sim.url) as http:
        http.post("/control/behaviour", json={"behaviours": {"*:9.9.9": "crash-loop"}})
        r = http.post(
            "/control/behaviour", json={"behaviours": {"*:1.5.0": {"error_rate": 0.3}}, "replace": True}
        )
        assert list(r.json()["behaviours"]) == ["*:1.5.0"]
        rule = {
            "configmap": "checkout-config",
            "key": "PAYMENTS_TIMEOUT_MS",
            "bad_values": ["2000"],
            "error_rate": 1,
        }
        r = http.post("/control/config", json={"rules": [rule]})
        assert r.json()["apps"]["checkout"]["share"]["500"] == 1.0


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/control/traffic", {"app": "payments", "rps": 3}, 404, "unknown app"),
        ("/control/traffic", {"app": "cart", "rps": "lots"}, 400, "could not convert"),
        ("/control/behaviour", {"image": "x", "behaviour": {"kind": "bogus"}}, 400, "not one of"),
        ("/control/config", {"rules": [{"configmap": "x"}]}, 400, "missing keys"),
        ("/control/nothing", {}, 404, "no route"),
    ],
)
def test_control_api_errors(
    sim: simulator.Simulator, path: str, body: object, status: int, message: str
) -> None:
    r = httpx.post(f"{sim.url}{path}", json=body)
    assert r.status_code == status
    assert message in r.json()["error"]


def test_ticker_advances_on_the_injected_clock(specs, world) -> None:
    ticks = itertools.count(0.0, 1.0)  # every clock read is one simulated second later
    with simulator.Simulator(specs, world, tick=0.01, clock=lambda: next(ticks)) as running:
        deadline = time.monotonic() + 2
        while running.now < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert running.now >= 3
    assert running.requests("cart")["200"] == round(running.now * 60)


class _Emulator(BaseHTTPRequestHandler):
    """Just the emulator route the live source reads, with one app missing and one broken."""

    apps: dict[str, live.LiveApp] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        app = self.path.removeprefix("/api/emulator/apps/").removesuffix("/live")
        if self.headers.get("Authorization") != "Bearer t.o.k":
            self._send(
                401, {"error": "no session information", "code": 16, "message": "no session information"}
            )
        elif app in self.apps:
            self._send(200, self.apps[app])
        elif app == "broken":
            self._send(500, {"error": "boom", "code": 13, "message": "boom"})
        else:
            self._send(404, {"error": "not found", "code": 5, "message": "not found"})

    def _send(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def emulator_url(world_apps: dict[str, live.LiveApp]) -> Iterator[str]:
    handler = type("Emulator", (_Emulator,), {"apps": world_apps})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_argo_live_source_reads_the_emulator(emulator_url: str, specs, world_apps) -> None:
    source = live.ArgoLiveSource(emulator_url, ["checkout", "ghost"], token="t.o.k")
    try:
        got = source()
        assert got["ghost"] is None
        assert got["checkout"] == world_apps["checkout"]
        sim = simulator.Simulator(specs, source, tick=None)
        sim.step(1)
        assert sim.requests("checkout")["200"] == 100
    finally:
        source.close()


def test_argo_live_source_translates_errors(emulator_url: str) -> None:
    headers = {"Authorization": "Bearer t.o.k"}
    with httpx.Client(headers=headers) as client, pytest.raises(errors.ArgoCDUnavailable, match="HTTP 500"):
        live.ArgoLiveSource(emulator_url, ["broken"], client=client)()
    with pytest.raises(errors.ArgoCDUnauthenticated, match="HTTP 401"):
        live.ArgoLiveSource(emulator_url, ["cart"])()
    with pytest.raises(errors.ArgoCDUnavailable, match="unreadable"):
        live.ArgoLiveSource("http://127.0.0.1:9", ["cart"], timeout=0.5)()


def test_simulator_url_needs_start(specs, world) -> None:
    with pytest.raises(errors.SandboxError):
        _ = simulator.Simulator(specs, world, tick=None).url
