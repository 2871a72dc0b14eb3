"""Shared steps of the end-to-end heal tests: a World with the bot's Engine, driven cycle by cycle.

Nothing here is faked: real git repos, the Argo CD and GitHub emulators over HTTP, the workload
simulator and a real Prometheus. Waiting polls in short steps (a fraction of a second each).
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.act import edit, execute
from bot.sandbox import world as sandbox
from bot.service import cycle, wiring

IMAGE = edit.Target.image("checkout")
GOOD, BAD = "ghcr.io/acme/checkout:1.4.3", "ghcr.io/acme/checkout:1.5.0"
DEPLOYMENT = "apps/checkout/deployment.yaml"
# 5 s of post-heal data (the demo waits 10 s): at 40 req/s that is ~200 requests, far above the
# recovery's minimum events, and a 30% error ratio over it is as clearly still burning
SHORT_VERIFY = {"period": "5s"}


def require_prometheus() -> None:
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        pytest.skip("prometheus/promtool not installed (make prometheus)")


@dataclass
class Loop:
    world: sandbox.World
    rt: wiring.Runtime
    engine: cycle.Engine
    reports: list[cycle.CycleReport] = field(default_factory=list)

    def cycle(self) -> cycle.CycleReport:
        rep = self.engine.run_once()
        self.reports.append(rep)
        return rep

    def results(self) -> list[execute.Result]:
        return [r for rep in self.reports for r in rep.results]

    def cycles_until(self, done: Callable[[], bool], timeout: float, every: float = 1.0) -> bool:
        """Run a cycle about every ``every`` seconds until ``done()``; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            started = time.monotonic()
            self.cycle()
            if done():
                return True
            while time.monotonic() - started < every:
                time.sleep(0.1)
        return done()

    def synced_healthy(self, app: str, sha: str) -> bool:
        a = self.world.argo_app(app)
        rev = str(a["revision"] or "")
        return (
            a["sync"] == "Synced" and a["health"] == "Healthy" and bool(rev) and self.world.contains(rev, sha)
        )

    def slo_ok(self, app: str) -> bool:
        if not self.reports:
            return False
        obs = self.reports[-1].snapshot.apps.get(app)
        return obs is not None and bool(obs.slos) and all(s.state == "OK" for s in obs.slos)

    def good_then_bad(self) -> tuple[str, str]:
        """checkout 1.4.3 rolls out and builds an OK baseline, then 1.5.0 is pushed."""
        good = self.world.commit(DEPLOYMENT, IMAGE, GOOD, "checkout: release 1.4.3")
        assert self.world.wait(lambda: self.synced_healthy("checkout", good), timeout=30)
        assert self.cycles_until(lambda: self.slo_ok("checkout"), timeout=40), "no OK SLO data"
        bad = self.world.commit(DEPLOYMENT, IMAGE, BAD, "checkout: release 1.5.0")
        return good, bad


# Modules githeal imports on first use (PyGithub, its auth, the HTTP server): two threads importing one
# of them at the same moment can see it half-initialised ("cannot access submodule 'Auth' of module
# 'github'"), so tests that build runtimes in several threads load them first, in the main thread.
LAZY_IMPORTS = (
    "github",
    "github.PullRequest",
    "github.Requester",
    "bot.clients.githubauth",
    "bot.service.daemon",
)


def warm_lazy_imports() -> None:
    for name in LAZY_IMPORTS:
        importlib.import_module(name)


class VerifyWorld(sandbox.World):
    """The demo World with its own ``verify`` section (timeout, period)."""

    def __init__(self, options: sandbox.Options, verify: dict[str, str]) -> None:
        self.verify = verify
        super().__init__(options)

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["verify"] = {**cfg["verify"], **self.verify}
        return cfg


@contextmanager
def running(options: sandbox.Options | None = None, verify: dict[str, str] | None = None) -> Iterator[Loop]:
    """``verify``: keys of the config's ``verify`` section to override (the demo's period is 10s)."""
    require_prometheus()
    options = options or sandbox.Options()
    with VerifyWorld(options, verify) if verify else sandbox.World(options) as w:
        rt = w.runtime()
        engine = cycle.Engine(rt)
        try:
            yield Loop(w, rt, engine)
        finally:
            engine.close()
            rt.close()


def bare_git(w: sandbox.World, *args: str) -> str:
    done = subprocess.run(
        ["git", "--git-dir", str(w.bare), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def pulls(w: sandbox.World) -> list[dict[str, Any]]:
    return list(w.github_state()["pulls"])


def issues(w: sandbox.World) -> list[dict[str, Any]]:
    return list(w.github_state()["issues"])
