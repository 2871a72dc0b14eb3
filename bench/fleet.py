"""A fleet of N apps on loopback for the benchmarks: a manifest repo with one directory per app, the
Argo CD emulator tracking it, a real Prometheus backfilled with N apps of history, and a githeal config.

History comes from the fixture generator (``fixtures/prometheus/generate.py``): every 10th app burns
at 5% errors, the rest never fail. ``runtime()`` is the production wiring with the clock pinned to the
history's END, so every cycle evaluates the same instant. Everything started is stopped by ``close()``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from ruamel.yaml import YAML

from bot import settings
from bot.sandbox import prometheus as promserver
from bot.sandbox.argocd import controller, server, state
from bot.service import wiring

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "githeal.bench.token"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {app}
  labels: {{app: {app}}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {app}}}
  template:
    metadata:
      labels: {{app: {app}}}
    spec:
      containers:
        - name: {app}
          image: ghcr.io/acme/{app}:1.0.0
"""


@functools.cache
def generator() -> ModuleType:
    """``fixtures/prometheus/generate.py`` as a module (the fixtures directory is not a package)."""
    path = ROOT / "fixtures" / "prometheus" / "generate.py"
    name = "githeal_fixture_generate"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def app_names(n: int) -> list[str]:
    return [f"svc-{i:04d}" for i in range(n)]


def every_tenth(i: int) -> bool:
    return i % 10 == 0


def openmetrics(n: int, *, long_history: bool = True, burns: Callable[[int], bool] = every_tenth) -> str:
    """N apps of request counters; ``long_history``: 74h (all default tiers have data) else 20 min.
    App ``i`` serves 5% errors when ``burns(i)``, none otherwise."""
    gen = generator()
    grid = gen.LONG_GRID if long_history else gen.SHORT_GRID
    start = grid[0][0]
    apps = [
        gen.App(name, (gen.steady(10, 0.05 if burns(i) else 0.0, start=start),), grid=grid,
                error_series=burns(i))
        for i, name in enumerate(app_names(n))
    ]  # fmt: skip
    return "\n".join([*gen.requests_family(apps), "# EOF"]) + "\n"


def end() -> datetime:
    return datetime.fromtimestamp(generator().END, UTC)


def git(cwd: Path, *args: str) -> None:
    env = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com", "PATH": "/usr/bin:/bin",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}  # fmt: skip
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


class Fleet:
    """``with Fleet(100) as f: rt = f.runtime()``; ``policies`` go into the config as written."""

    def __init__(
        self,
        n: int,
        *,
        policies: list[dict[str, Any]] | None = None,
        long_history: bool = True,
        discover: bool = False,
        burns: Callable[[int], bool] = every_tenth,
    ) -> None:
        self.burns = burns
        self.n = n
        self.discover = discover  # one fleet template instead of one apps entry per app
        self.apps = app_names(n)
        self.policies = policies or []
        self.long_history = long_history
        self._stack = contextlib.ExitStack()
        self.dir = Path()
        self.argo: server.ArgoCDEmulator
        self.prometheus: promserver.PrometheusServer

    def __enter__(self) -> Fleet:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        self.dir = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="githeal-bench-")))
        bare, seed = self.dir / "fleet.git", self.dir / "seed"
        for app in self.apps:
            (seed / "apps" / app).mkdir(parents=True)
            (seed / "apps" / app / "deployment.yaml").write_text(DEPLOYMENT.format(app=app))
        git(seed, "init", "-q", "-b", "main")
        git(seed, "add", "-A")
        git(seed, "commit", "-qm", f"fleet: {self.n} apps")
        git(self.dir, "clone", "-q", "--bare", str(seed), str(bare))
        argo_apps = [state.AppConfig(a, str(bare), path=f"apps/{a}", target_revision="main", project="fleet")
                     for a in self.apps]  # fmt: skip
        # Polls far apart: the benchmark measures the bot, not the emulator's reconcile loop.
        quiet = controller.Settings(poll_interval=3600, poll_jitter=0)
        self.argo = self._stack.enter_context(
            server.ArgoCDEmulator(argo_apps, tokens=[TOKEN], settings=quiet)
        )
        history = self.dir / "history.om"
        history.write_text(openmetrics(self.n, long_history=self.long_history, burns=self.burns))
        self.prometheus = self._stack.enter_context(
            promserver.PrometheusServer(backfill=[history], workdir=self.dir / "prometheus")
        )
        (self.dir / "argocd-token").write_text(TOKEN)
        with (self.dir / "githeal.yaml").open("w") as fh:
            YAML().dump(self.config(bare), fh)

    def config(self, bare: Path) -> dict[str, Any]:
        ratio = {"errors": 'http_requests_total{code=~"5.."}', "total": "http_requests_total"}
        slo: dict[str, Any] = {"name": "availability", "objective": 99.9, "period": "30d", "ratio": ratio}
        if not self.long_history:
            slo["windows"] = [
                {"severity": "page", "long": "10m", "short": "2m", "factor": 14.4},
                {"severity": "ticket", "long": "15m", "short": "5m", "factor": 3},
            ]
        return {
            "version": 1,
            "prometheus": {
                "url": self.prometheus.url,
                "step": "60s",
                "offset": "0s",
                "scrape_interval": "60s",
                "timeout": "30s",
            },
            "argocd": {
                "url": self.argo.url,
                "token": {"file": str(self.dir / "argocd-token")},
                "projects": ["fleet"],
            },
            "repos": {"manifests": {"url": str(bare), "branch": "main", "workdir": str(self.dir / "work")}},
            "apps": {"fleet": {"discover": {"projects": ["fleet"]}, "slos": ["availability"]}}
            if self.discover
            else {a: {"paths": [f"apps/{a}/**"], "slos": ["availability"]} for a in self.apps},
            "slos": [slo],
            "policies": self.policies,
            "guardrails": {"blast_radius": {"max_share": 1.0}},
            "log": {"level": "error"},
        }

    def runtime(self) -> wiring.Runtime:
        rt = wiring.build(settings.load(self.dir / "githeal.yaml"))
        pinned = end() + timedelta(seconds=30)
        rt.clock = lambda: pinned
        return rt

    def query_count(self) -> int:
        """Instant queries Prometheus has answered so far, from its own /metrics (counted at the wire)."""
        text = httpx.get(f"{self.prometheus.url}/metrics", timeout=10).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("prometheus_http_requests_total{") and 'handler="/api/v1/query"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return int(total)
