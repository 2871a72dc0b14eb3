"""Acceptance: ``githeal once --dry-run`` against the Argo CD emulator and a backfilled Prometheus.

The fixture history of ``fixtures/prometheus`` (scenarios.om: one app per SLO situation; batch.om: 100
apps, every 10th burning) is evaluated at its pinned END through the production path: settings.load ->
wiring.build -> Engine.run_once(dry_run=True). Every app must land in the tier the fixture was built
for, the breaching ones get a planned rollback shown as a diff, and nothing is written anywhere.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from bot import cli, model, settings
from bot.act import execute
from bot.sandbox import prometheus as promserver
from bot.sandbox.argocd import controller, server, state, workload
from bot.sandbox.github import server as ghserver
from bot.service import cycle, wiring

pytestmark = pytest.mark.prometheus

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "prometheus"
END = datetime.fromtimestamp(1_793_491_200, UTC)  # fixtures/prometheus/generate.py END
ARGO_TOKEN = "githeal.dryrun.token"
GH_TOKEN = "ghp_dryrun"
GH_REPO = "acme/fleet"
S = model.SampleState

# app -> (state, page, ticket) under the SRE-workbook tiers of a 99.9% / 30d SLO
SCENARIOS = {
    "clean": (S.OK, False, False),
    "fast-burn": (S.OK, True, False),
    "medium-burn": (S.OK, True, False),
    "slow-burn": (S.OK, False, True),
    "spike": (S.OK, False, False),
    "no-traffic": (S.NO_TRAFFIC, False, False),
    "counter-reset": (S.OK, True, False),
    "low-traffic": (S.NO_TRAFFIC, False, False),
    "stale": (S.STALE, False, False),
    "ghost": (S.NO_SERIES, False, False),  # in Argo CD, never in Prometheus
}
BATCH = [f"batch-{i:03d}" for i in range(100)]
BATCH_BURNING = {a for i, a in enumerate(BATCH) if i % 10 == 0}
PAGING = {a for a, (_, page, _) in SCENARIOS.items() if page} | BATCH_BURNING

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
          image: ghcr.io/acme/{app}:{tag}  # the release pipeline bumps this tag
"""


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@acme.example", "GIT_COMMITTER_NAME": "Dev",
           "GIT_COMMITTER_EMAIL": "dev@acme.example", "PATH": "/usr/bin:/bin"}  # fmt: skip
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def write_release(dev: Path, apps: list[str], tag: str) -> None:
    for app in apps:
        d = dev / "apps" / app
        d.mkdir(parents=True, exist_ok=True)
        (d / "deployment.yaml").write_text(DEPLOYMENT.format(app=app, tag=tag))
    git(dev, "add", "-A")
    git(dev, "commit", "-qm", f"fleet: release {tag}")
    git(dev, "push", "-q", "origin", "HEAD:main")


@dataclass
class Fleet:
    dir: Path
    bare: Path
    config: Path
    argo: server.ArgoCDEmulator
    github: ghserver.GitHubEmulator
    prometheus: promserver.PrometheusServer

    def head(self) -> str:
        return git(self.dir, "--git-dir", str(self.bare), "rev-parse", "main")

    def refs(self) -> str:
        return git(self.dir, "--git-dir", str(self.bare), "for-each-ref")

    def pulls(self) -> list[Any]:
        return list(self.github.state(GH_REPO)["pulls"])


def config(fleet_dir: Path, bare: Path, argo: str, gh: str, prom: str) -> dict[str, Any]:
    (fleet_dir / "argocd-token").write_text(ARGO_TOKEN)
    (fleet_dir / "github-token").write_text(GH_TOKEN)
    apps: dict[str, Any] = {a: {"paths": [f"apps/{a}/**"], "slos": ["availability"]} for a in SCENARIOS}
    apps |= {a: {"paths": [f"apps/{a}/**"], "slos": ["batch-availability"]} for a in BATCH}
    ratio = {"errors": 'http_requests_total{code=~"5.."}', "total": "http_requests_total"}
    return {
        "version": 1,
        # step 60s / offset 0s: a clock anywhere in END's minute evaluates exactly at END
        "prometheus": {
            "url": prom,
            "step": "60s",
            "offset": "0s",
            "scrape_interval": "60s",
            "timeout": "20s",
        },
        "argocd": {"url": argo, "token": {"file": str(fleet_dir / "argocd-token")}, "projects": ["fleet"]},
        "repos": {
            "manifests": {
                "url": str(bare),
                "branch": "main",
                "github": GH_REPO,
                "workdir": str(fleet_dir / "work"),
            }
        },
        "github": {"base_url": gh, "auth": {"token": {"file": str(fleet_dir / "github-token")}}},
        "apps": apps,
        "slos": [
            {"name": "availability", "objective": 99.9, "period": "30d", "ratio": ratio},
            {
                "name": "batch-availability",
                "objective": 99.9,
                "period": "30d",
                "ratio": ratio,
                "windows": [
                    {"severity": "page", "long": "10m", "short": "2m", "factor": 14.4},
                    {"severity": "ticket", "long": "15m", "short": "5m", "factor": 3},
                ],
            },
        ],
        "policies": [
            {
                "name": "rollback-on-burn",
                "apps": ["*"],
                "when": {"slo": {"tier": "page", "cycles": 1}},
                # one release commit spans the fleet: reverting it would touch other apps, restoring doesn't
                "do": {"rollback": {"strategy": "restore"}},
                "mode": "auto",
                "merge": "pr-automerge",
            }
        ],
        "guardrails": {"commit_budget": {"count": 50, "per": "10m"}},
        "log": {"level": "error"},
    }


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        pytest.skip("prometheus/promtool not installed (make prometheus)")
    d = tmp_path_factory.mktemp("fleet")
    bare, dev = d / "fleet.git", d / "dev"
    git(d, "init", "-q", "--bare", "-b", "main", str(bare))
    git(d, "clone", "-q", str(bare), str(dev))
    apps = [*SCENARIOS, *BATCH]
    write_release(dev, apps, "1.0.0")
    argo_apps = [
        state.AppConfig(
            a, str(bare), path=f"apps/{a}", target_revision="main", project="fleet", automated=True
        )
        for a in apps
    ]
    fast = controller.Settings(poll_interval=0.3, poll_jitter=0.0, sync_duration=0.1)
    with (
        server.ArgoCDEmulator(
            argo_apps, tokens=[ARGO_TOKEN], settings=fast, model=workload.DefaultModel(rollout_delay=0.1)
        ) as argo,
        ghserver.GitHubEmulator({GH_REPO: bare}, tokens={GH_TOKEN: "githeal"}) as gh,
        promserver.PrometheusServer(backfill=[FIXTURES / "scenarios.om", FIXTURES / "batch.om"]) as prom,
    ):
        # A second release that Argo CD auto-syncs: each app's history now has a good and a bad revision.
        write_release(dev, apps, "1.1.0")
        head = git(dev, "rev-parse", "HEAD")
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while datetime.now(UTC) < deadline:
            listed = httpx.get(f"{argo.url}/api/emulator/apps", timeout=10).json()["apps"]
            if all(a["liveRevision"] == head and a["health"] == "Healthy" for a in listed):
                break
        else:
            pytest.fail("Argo CD emulator did not sync the 1.1.0 release")
        path = d / "githeal.yaml"
        with path.open("w") as fh:
            YAML().dump(config(d, bare, argo.url, gh.api_url, prom.url), fh)
        yield Fleet(d, bare, path, argo, gh, prom)


@pytest.fixture(scope="module")
def dry_run(fleet: Fleet) -> Iterator[tuple[cycle.CycleReport, str, str]]:
    before = (fleet.head(), fleet.refs())
    rt = wiring.build(settings.load(fleet.config))
    rt.clock = lambda: END + timedelta(seconds=30)
    engine = cycle.Engine(rt)
    try:
        yield engine.run_once(dry_run=True), *before
    finally:
        engine.close()
        rt.close()


@pytest.mark.parametrize("app", list(SCENARIOS))
def test_scenario_app_tier(app: str, dry_run: tuple[cycle.CycleReport, str, str]) -> None:
    rep = dry_run[0]
    state_, page, ticket = SCENARIOS[app]
    (slo,) = rep.snapshot.apps[app].slos
    assert (slo.state, slo.page, slo.ticket) == (state_, page, ticket), slo.reason
    assert rep.snapshot.apps[app].status is not None  # every app is found in Argo CD


def test_batch_tiers(dry_run: tuple[cycle.CycleReport, str, str]) -> None:
    rep = dry_run[0]
    for app in BATCH:
        (slo,) = rep.snapshot.apps[app].slos
        burning = app in BATCH_BURNING
        assert (slo.state, slo.page, slo.ticket) == (S.OK, burning, burning), (app, slo.reason)


def test_evaluated_at_fixture_end(dry_run: tuple[cycle.CycleReport, str, str]) -> None:
    rep = dry_run[0]
    assert rep.at == END + timedelta(seconds=30)
    assert rep.snapshot.at == END  # floor(now / 60s) * 60s - 0s
    assert rep.errors == [] and rep.snapshot.errors == ()
    breaching = {a for a, o in rep.snapshot.apps.items() if any(r.breaching for r in o.slos)}
    assert breaching == PAGING | {"slow-burn"}


def test_plans_rollbacks_for_paging_apps_and_writes_nothing(
    fleet: Fleet, dry_run: tuple[cycle.CycleReport, str, str]
) -> None:
    rep, head, refs = dry_run
    assert {a.app for a in rep.plan.actions} == PAGING
    assert all(a.kind is model.ActionKind.ROLLBACK for a in rep.plan.actions)
    assert {r.action.app: r.outcome for r in rep.results} == dict.fromkeys(PAGING, execute.Outcome.DRY_RUN)
    for r in rep.results:
        app = r.action.app
        assert f"-          image: ghcr.io/acme/{app}:1.1.0" in r.diff, r.diff
        assert f"+          image: ghcr.io/acme/{app}:1.0.0" in r.diff, r.diff
    assert (fleet.head(), fleet.refs()) == (head, refs)  # no commit, no branch
    assert fleet.pulls() == []
    assert fleet.github.state(GH_REPO)["issues"] == []


def test_cli_once_dry_run_json_writes_nothing(
    fleet: Fleet, dry_run: tuple[cycle.CycleReport, str, str]
) -> None:
    """The CLI cannot pin its clock, so at the real now the fixture history is over: no heal may follow."""
    head, refs = fleet.head(), fleet.refs()
    result = CliRunner().invoke(
        cli.main, ["once", "--config", str(fleet.config), "--dry-run", "--output", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["apps"]) == set(SCENARIOS) | set(BATCH)
    assert all(a["argocd"]["sync"] == "Synced" for a in data["apps"].values())
    assert data["actions"] == [] and data["results"] == []
    # the history ended at END (weeks ago): nothing is OK data any more, so nothing may breach
    states = {s["state"] for a in data["apps"].values() for s in a["slos"]}
    assert "OK" not in states and not any(a["breaching"] for a in data["apps"].values())
    assert (fleet.head(), fleet.refs()) == (head, refs)
    assert fleet.pulls() == []


def test_cli_once_at_pins_the_evaluation_time(
    fleet: Fleet, dry_run: tuple[cycle.CycleReport, str, str]
) -> None:
    """``--at`` gives the CLI the engine's injected clock: the same plan as the pinned engine run."""
    head, refs = fleet.head(), fleet.refs()
    at = (END + timedelta(seconds=30)).isoformat()
    result = CliRunner().invoke(
        cli.main, ["once", "--config", str(fleet.config), "--dry-run", "--output", "json", "--at", at]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["at"] == END.isoformat()
    assert {a["app"] for a in data["actions"]} == PAGING
    assert (fleet.head(), fleet.refs()) == (head, refs)
    table = CliRunner().invoke(
        cli.main, ["once", "--config", str(fleet.config), "--dry-run", "--at", str(int(END.timestamp()) + 30)]
    )
    assert table.exit_code == 0, table.output
    # the table lists the apps that are not OK and sums up the fleet in one line
    assert f"{len(SCENARIOS) + len(BATCH)} apps:" in table.stdout
    assert all(app in table.stdout for app in PAGING)


def test_cli_once_shard_evaluates_only_its_apps(fleet: Fleet) -> None:
    seen: list[set[str]] = []
    for i in range(3):
        result = CliRunner().invoke(
            cli.main,
            ["once", "--config", str(fleet.config), "--dry-run", "--output", "json", "--shard", f"{i}/3"],
        )
        assert result.exit_code == 0, result.output
        seen.append(set(json.loads(result.stdout)["apps"]))
    assert set.union(*seen) == set(SCENARIOS) | set(BATCH)
    assert sum(len(s) for s in seen) == len(SCENARIOS) + len(BATCH)  # each app in exactly one shard


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--at", "yesterday"], "--at"), (["--shard", "3/3"], "--shard")],
)
def test_cli_once_bad_options_exit_2(fleet: Fleet, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli.main, ["once", "--config", str(fleet.config), "--dry-run", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
