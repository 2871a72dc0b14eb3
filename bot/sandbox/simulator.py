"""Workload simulator: one loopback HTTP server whose ``/metrics`` shows every simulated app's traffic.

Each app's requests, codes and latency follow its traffic profile, replica capacity, the LIVE images
and ConfigMaps read from a live source (the Argo CD emulator, or a static map in tests) and the
behaviour model in ``behaviour.py``. Counts are exact (rational accumulation, no randomness); time
advances only through ``step(dt)``, which the optional ticker thread calls with the injected clock.
It must not decide or heal anything: drills change the world through the JSON control API.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, exposition
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from bot import errors, model
from bot.sandbox import behaviour as bhv
from bot.sandbox import live as live_state

CODES = ("200", "500", "503")
# Dense around 0.1-1 s so a p99 threshold SLI (e.g. 0.3 s or 0.5 s) lands on a bucket boundary.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
# Re-exported so a demo wires everything from one module.
StaticLiveSource = live_state.StaticLiveSource
ArgoLiveSource = live_state.ArgoLiveSource


@dataclass
class _AppState:
    spec: bhv.AppSpec
    traffic: bhv.Traffic
    offered: Fraction = Fraction(0)  # cumulative offered requests, fractional
    expected: dict[str, Fraction] = field(default_factory=lambda: {c: Fraction(0) for c in CODES})
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CODES, 0))
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    latency_sum: float = 0.0
    observed: int = 0
    images: tuple[str, ...] | None = None
    progressing_until: float = -math.inf
    last_failure: float | None = None  # simulated time of the newest failed (5xx) request


class Simulator:
    """All simulated apps behind one Prometheus target. Use as a context manager for the server."""

    def __init__(
        self,
        apps: Iterable[bhv.AppSpec],
        live: live_state.LiveSource,
        *,
        behaviours: Mapping[str, bhv.Behaviour] | None = None,
        config_rules: Iterable[bhv.ConfigRule] = (),
        tick: float | None = 0.5,
        clock: Callable[[], float] = time.monotonic,
        rollout_seconds: float = 0.0,
    ) -> None:
        self._apps = {a.name: _AppState(a, bhv.Traffic(a.rps)) for a in apps}
        self._source = live
        self._live: dict[str, live_state.LiveApp | None] = {}
        self.behaviours: dict[str, bhv.Behaviour] = dict(behaviours or {})
        self.config_rules: list[bhv.ConfigRule] = list(config_rules)
        self.tick, self.clock, self.rollout_seconds = tick, clock, rollout_seconds
        self.now = 0.0  # simulated seconds since start
        self.last_error = ""
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: ThreadingHTTPServer | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_Collector(self))
        self.refresh()

    # ------------------------------------------------------------------ world changes

    def set_traffic(
        self,
        app: str,
        *,
        rps: float | None = None,
        multiplier: float | None = None,
        duration: float | None = None,
    ) -> None:
        """Change the steady rate and/or apply a multiplier, for ``duration`` seconds if given."""
        with self._lock:
            st = self._state(app)
            traffic = st.traffic if rps is None else replace(st.traffic, rps=_non_negative(rps, "rps"))
            if multiplier is not None:
                until = None if duration is None else self.now + _non_negative(duration, "duration")
                traffic = replace(traffic, multiplier=_non_negative(multiplier, "multiplier"), until=until)
            st.traffic = traffic

    def spike(self, app: str, multiplier: float, duration: float) -> None:
        self.set_traffic(app, multiplier=multiplier, duration=duration)

    def set_behaviour(self, image_glob: str, behaviour: bhv.Behaviour | object | None) -> None:
        """Map an image glob to a behaviour (a Behaviour, a kind name or a mapping); None removes it."""
        with self._lock:
            if behaviour is None:
                self.behaviours.pop(image_glob, None)
            else:
                parsed = behaviour if isinstance(behaviour, bhv.Behaviour) else bhv.Behaviour.parse(behaviour)
                self.behaviours[image_glob] = parsed

    def set_behaviours(self, behaviours: Mapping[str, object], *, replace: bool = False) -> None:
        parsed = {
            str(g): b if isinstance(b, bhv.Behaviour) else bhv.Behaviour.parse(b)
            for g, b in behaviours.items()
        }
        with self._lock:
            if replace:
                self.behaviours.clear()
            self.behaviours.update(parsed)

    def set_config_rules(self, rules: Iterable[bhv.ConfigRule], *, replace: bool = True) -> None:
        with self._lock:
            self.config_rules = list(rules) if replace else [*self.config_rules, *rules]

    # ------------------------------------------------------------------ time

    def refresh(self) -> None:
        """Read the live source now (without advancing time)."""
        try:
            live = dict(self._source())
        except errors.BotError as exc:
            # Keep serving the last known world: a flaky emulator must not freeze the metrics.
            with self._lock:
                self.last_error = str(exc)
            return
        with self._lock:
            self.last_error = ""
            self._live = live
            for name, st in self._apps.items():
                images = live_state.images(live.get(name))
                if st.images is not None and images != st.images and self.rollout_seconds > 0:
                    st.progressing_until = self.now + self.rollout_seconds
                st.images = images

    def step(self, dt: float) -> None:
        """Advance simulated time by ``dt`` seconds, splitting at spike ends so counts stay exact."""
        self.refresh()
        with self._lock:
            remaining = _non_negative(dt, "dt")
            while remaining > 1e-9:  # float residue of splitting must not loop forever
                ends = [s.traffic.until for s in self._apps.values() if s.traffic.until is not None]
                end = min((e for e in ends if self.now < e < self.now + remaining), default=None)
                seg = remaining if end is None else end - self.now
                end = self.now + remaining if end is None else end
                for st in self._apps.values():
                    self._advance(st, seg)
                remaining -= seg
                self.now = end
                for st in self._apps.values():
                    if st.traffic.until is not None and self.now >= st.traffic.until:
                        st.traffic = bhv.Traffic(st.traffic.rps)

    def _advance(self, st: _AppState, seg: float) -> None:
        outcome = self._outcome(st)
        before = math.floor(st.offered)
        st.offered += Fraction(outcome.rate * seg).limit_denominator(10**6)
        n = math.floor(st.offered) - before
        if n <= 0:
            return
        for code in CODES:
            st.expected[code] += n * Fraction(outcome.share[code]).limit_denominator(10**6)
        old = dict(st.counts)
        total = math.floor(st.offered)
        st.counts["500"] = math.floor(st.expected["500"])
        st.counts["503"] = min(math.floor(st.expected["503"]), total - st.counts["500"])
        st.counts["200"] = total - st.counts["500"] - st.counts["503"]
        shed = st.counts["503"] - old["503"]
        if st.counts["500"] > old["500"] or shed > 0:
            st.last_failure = self.now + seg  # within this segment: its end, at the ticker's resolution
        self._observe(st, outcome.latency, n - shed)
        self._observe(st, outcome.shed_latency, shed)

    @staticmethod
    def _observe(st: _AppState, latency: float, n: int) -> None:
        if n <= 0:
            return
        for i, le in enumerate(BUCKETS):
            if latency <= le:
                st.buckets[i] += n
        st.latency_sum += latency * n
        st.observed += n

    def _outcome(self, st: _AppState) -> bhv.Outcome:
        live = self._live.get(st.spec.name)
        rate = st.traffic.rate(self.now)
        if live is None:
            # Not deployed: nothing routes traffic to it, so it neither serves nor fails requests.
            return bhv.serve(st.spec, 0.0, 0, (), self.behaviours)
        declared, bounds = live_state.replicas(live)
        replicas = bhv.effective_replicas(declared, bounds, rate, st.spec.capacity)
        config_error, bad = bhv.config_errors(st.spec.name, live.get("configmaps") or {}, self.config_rules)
        progressing = self.now < st.progressing_until
        images = live_state.images(live)
        serving = bhv.serve(
            st.spec,
            rate,
            replicas,
            images,
            self.behaviours,
            config_error=config_error,
            bad_config=bad,
            progressing=progressing,
        )
        canary, weight = live_state.canary(live)
        if not canary:
            return serving
        # an Argo Rollouts canary: its pods take ``weight`` of the requests until it is promoted or aborted
        trial = bhv.serve(st.spec, rate, replicas, canary, self.behaviours, config_error=config_error)
        return bhv.mix(serving, trial, weight)

    # ------------------------------------------------------------------ reading

    def health(self, app: str) -> str:
        """Argo CD emulator health hook (it keeps the worse verdict): crash-loop -> Degraded; not deployed
        or within ``rollout_seconds`` of an image change -> Progressing; unknown apps -> Healthy."""
        with self._lock:
            if app not in self._apps:
                return "Healthy"
            return "Progressing" if self._live.get(app) is None else self._outcome(self._apps[app]).health

    def analysis(self, app: str, images: Mapping[str, str]) -> str:
        """Argo CD emulator hook for a canary step's AnalysisRun: ``Failed`` when the canary images error
        (more than 5% of requests), crash or are unknown to fail, ``Successful`` otherwise."""
        with self._lock:
            return bhv.analysis(images.values(), self.behaviours)

    def since_last_failure(self, app: str) -> float | None:
        """Seconds since the app last failed a request (a 500 or a shed 503); None if it never did.
        What a drill calls recovered: the workload stopped failing, not a rate window draining."""
        with self._lock:
            last = self._state(app).last_failure
            return None if last is None else max(0.0, self.now - last)

    def requests(self, app: str) -> dict[str, int]:
        with self._lock:
            return dict(self._state(app).counts)

    def state(self) -> dict[str, Any]:
        with self._lock:
            apps = {}
            for name, st in self._apps.items():
                o = self._outcome(st)
                live = self._live.get(name)
                apps[name] = {
                    **o.to_json(),
                    "rps": st.traffic.rps,
                    "multiplier": st.traffic.current_multiplier(self.now),
                    "spike_until": st.traffic.until,
                    "capacity_per_replica": st.spec.capacity,
                    "revision": live.get("revision") if live else None,
                    "health": "Progressing" if live is None else o.health,
                    "requests": dict(st.counts),
                    "last_failure": st.last_failure,
                }
            return {
                "now": self.now,
                "last_error": self.last_error,
                "behaviours": {g: b.to_json() for g, b in self.behaviours.items()},
                "config_rules": [r.to_json() for r in self.config_rules],
                "apps": apps,
            }

    def metrics_text(self) -> str:
        return exposition.generate_latest(self.registry).decode()

    def _state(self, app: str) -> _AppState:
        try:
            return self._apps[app]
        except KeyError:
            raise KeyError(f"unknown app {app!r} (simulated: {', '.join(self._apps)})") from None

    # ------------------------------------------------------------------ server

    @property
    def url(self) -> str:
        if self._server is None:
            raise errors.SandboxError("simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Simulator:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._stop.clear()
        # A short poll interval keeps stop() (and every test using the server) quick.
        self._threads = [threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)]
        if self.tick is not None:
            self._threads.append(threading.Thread(target=self._run_ticker, name="sim-tick", daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run_ticker(self) -> None:
        assert self.tick is not None
        last = self.clock()
        while not self._stop.wait(self.tick):
            now = self.clock()
            self.step(max(0.0, now - last))
            last = now


class _Collector(Collector):
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def collect(self) -> Iterator[Any]:
        requests = CounterMetricFamily(
            "http_requests", "Requests served, by app and code.", labels=["app", "code"]
        )
        latency = HistogramMetricFamily("http_request_duration_seconds", "Request latency.", labels=["app"])
        replicas = GaugeMetricFamily("githeal_sim_replicas", "Replicas serving the app.", labels=["app"])
        load = GaugeMetricFamily(
            "githeal_sim_inflight_load", "Offered load per replica (requests/s).", labels=["app"]
        )
        with self.sim._lock:
            for name, st in self.sim._apps.items():
                for code in CODES:
                    requests.add_metric([name, code], st.counts[code])
                buckets = [(repr(float(le)), count) for le, count in zip(BUCKETS, st.buckets, strict=True)]
                latency.add_metric([name], [*buckets, ("+Inf", st.observed)], st.latency_sum)
                outcome = self.sim._outcome(st)
                replicas.add_metric([name], outcome.replicas)
                load.add_metric([name], outcome.load_per_replica)
        yield from (requests, latency, replicas, load)


def _handler(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every second would flood the demo's terminal

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._send(200, sim.metrics_text().encode(), exposition.CONTENT_TYPE_LATEST)
            elif self.path == "/control/state":
                self._json(200, sim.state())
            else:
                self._json(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                if self.path == "/control/traffic":
                    _control_traffic(sim, body)
                elif self.path == "/control/behaviour" and "image" in body:
                    sim.set_behaviour(str(body["image"]), body.get("behaviour"))
                elif self.path == "/control/behaviour":
                    sim.set_behaviours(dict(body["behaviours"]), replace=bool(body.get("replace", False)))
                elif self.path == "/control/config":
                    rules = [bhv.ConfigRule.parse(r) for r in body.get("rules", [])]
                    sim.set_config_rules(rules, replace=bool(body.get("replace", True)))
                elif self.path == "/control/step":
                    sim.step(float(body["seconds"]))
                else:
                    self._json(404, {"error": f"no route {self.path}"})
                    return
            except KeyError as exc:
                self._json(404 if "unknown app" in str(exc) else 400, {"error": str(exc).strip("'\"")})
                return
            except (ValueError, TypeError) as exc:
                self._json(400, {"error": str(exc)})
                return
            self._json(200, sim.state())

        def _json(self, status: int, payload: object) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _control_traffic(sim: Simulator, body: Mapping[str, Any]) -> None:
    rps, mult, duration = (body.get(k) for k in ("rps", "multiplier", "duration"))
    sim.set_traffic(
        str(body["app"]),
        rps=None if rps is None else float(rps),
        multiplier=None if mult is None else float(mult),
        duration=None if duration is None else model.parse_duration(duration),
    )


def _non_negative(value: float, key: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0 or math.isnan(value):
        raise ValueError(f"{key} must be a non-negative number, got {value!r}")
    return float(value)
