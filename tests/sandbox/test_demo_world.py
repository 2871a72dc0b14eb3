"""The demo world end to end without the bot: demo repo -> Argo CD emulator -> simulator, driven by
the scenario files' own steps (commit, drift), all over real HTTP and a real Git repo."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.sandbox import scenario, simulator
from bot.sandbox.argocd import server, state

APPS = ("checkout", "cart", "catalog")


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@acme.dev", "GIT_COMMITTER_NAME": "dev",
           "GIT_COMMITTER_EMAIL": "dev@acme.dev", "PATH": "/usr/bin:/bin"}  # fmt: skip
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


def commit_step(repo: Path, step: scenario.Commit, locate) -> None:
    """What a developer's commit would do: change the one value the step names."""
    path = repo / step.file
    old = str(locate(path, step.target))
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} must be unique in {step.file} for this test's textual edit"
    path.write_text(text.replace(old, str(step.value)))
    git(repo, "commit", "-qam", step.message)


class World:
    def __init__(
        self, repo: Path, argo: server.ArgoCDEmulator, sim: simulator.Simulator, clock: list[float]
    ) -> None:
        self.repo, self.argo, self.sim, self.clock = repo, argo, sim, clock

    def settle(self, seconds: float = 2.0) -> None:
        """Argo CD notices the commit and auto-syncs (the operation runs ~1 s), then traffic flows."""
        self.argo.poll()
        self.argo.tick()
        self.clock[0] += 10
        self.argo.tick()
        self.sim.step(seconds)

    def argo_apps(self) -> dict[str, dict[str, str]]:
        apps = httpx.get(f"{self.argo.url}/api/emulator/apps").json()["apps"]
        return {a["name"]: a for a in apps}


@pytest.fixture
def world_for(tmp_path: Path, demo: Path) -> Iterator[object]:
    started: list[tuple[server.ArgoCDEmulator, simulator.Simulator]] = []

    def make(name: str) -> World:
        s = scenario.load(scenario.SCENARIO_DIR / f"{name}.yaml")
        repo = tmp_path / "repo"
        shutil.copytree(demo, repo)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "seed")
        holder: list[simulator.Simulator] = []

        def health(app: str) -> str | None:
            # The emulator asks while it is being built, before the simulator (which needs its URL) exists.
            return holder[0].health(app) if holder else None

        configs = [state.AppConfig(a, str(repo), path=f"apps/{a}", target_revision="main", automated=True)
                   for a in APPS]  # fmt: skip
        clock = [1_800_000_000.0]
        argo = server.ArgoCDEmulator(
            configs,
            tokens=["bot.api.token"],
            background=False,
            health_callback=health,
            clock=lambda: clock[0],
        )
        argo.start()
        source = simulator.ArgoLiveSource(argo.url, APPS)
        sim = simulator.Simulator(
            s.workload, source, behaviours=s.behaviours, config_rules=s.config_rules, tick=None
        )
        holder.append(sim)
        started.append((argo, sim))
        return World(repo, argo, sim, clock)

    yield make
    for argo, _ in started:
        argo.stop()


def test_bad_deploy_steps_make_checkout_fail_thirty_percent(world_for, locate) -> None:
    s = scenario.load(scenario.SCENARIO_DIR / "bad-deploy.yaml")
    w = world_for("bad-deploy")
    w.settle()
    assert w.sim.requests("checkout") == {"200": 200, "500": 0, "503": 0}
    for step in s.steps:
        assert step.commit is not None
        commit_step(w.repo, step.commit, locate)
        w.settle(0)
    before = w.sim.requests("checkout")
    w.sim.step(10)
    after = w.sim.requests("checkout")
    assert w.sim.state()["apps"]["checkout"]["images"] == ["ghcr.io/acme/checkout:1.5.0"]
    assert after["500"] - before["500"] == 300
    assert after["200"] - before["200"] == 700


def test_crash_loop_turns_the_argo_app_degraded(world_for, locate) -> None:
    s = scenario.load(scenario.SCENARIO_DIR / "crash-loop.yaml")
    w = world_for("crash-loop")
    w.settle()
    assert s.steps[0].commit is not None
    commit_step(w.repo, s.steps[0].commit, locate)
    w.settle()
    w.argo.tick()  # the controller re-assesses health with the simulator's verdict
    assert w.sim.health("cart") == "Degraded"
    assert w.argo_apps()["cart"]["health"] == "Degraded"
    assert w.sim.state()["apps"]["cart"]["share"]["503"] == 1.0


def test_drift_steps_break_catalog_until_reconciled(world_for) -> None:
    s = scenario.load(scenario.SCENARIO_DIR / "drift.yaml")
    w = world_for("drift")
    w.settle()
    for step in s.steps:
        assert step.drift is not None
        r = httpx.post(f"{w.argo.url}/api/emulator/apps/{step.drift.app}/drift", json=dict(step.drift.change))
        assert r.status_code == 200, r.text
    w.argo.tick()
    w.sim.step(10)
    catalog = w.sim.state()["apps"]["catalog"]
    assert catalog["replicas"] == 1
    assert catalog["bad_config"] == ["catalog/SEARCH_BACKEND=legacy"]
    assert catalog["requests"]["500"] == 80  # 20% of 40 rps for 10 s
    assert w.argo_apps()["catalog"]["sync"] == "OutOfSync"
    # what githeal's reconcile does: an Argo CD sync back to Git
    token = "bot.api.token"
    r = httpx.post(
        f"{w.argo.url}/api/v1/applications/catalog/sync",
        json={},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    w.settle(10)
    catalog = w.sim.state()["apps"]["catalog"]
    assert (catalog["replicas"], catalog["bad_config"], catalog["requests"]["500"]) == (3, [], 80)
    assert w.argo_apps()["catalog"]["sync"] == "Synced"
