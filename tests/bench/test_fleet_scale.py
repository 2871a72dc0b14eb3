"""Issue 10 at fleet scale: 1,000 Argo CD Applications healed from ONE ``apps`` entry (``discover``).

The fleet is ``bench.fleet.Fleet``: a bare repo with one directory per app, the Argo CD emulator
tracking each one, a real Prometheus backfilled with 20 minutes of history in which only app 7 burns
(5% errors against a 99.9% objective). One dry-run report shows the discovery summary; one real cycle
in direct mode pushes exactly one heal commit, touching only app 7's manifest.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from bench import fleet as benchfleet
from bot import cli
from bot.service import cycle, shards

N = 1_000
BURNING = 7
RESTART = {
    "name": "restart-on-burn",
    "apps": ["*"],
    "when": {"slo": {"tier": "page", "cycles": 1}},
    "do": {"restart": {}},
    "mode": "auto",
    "merge": "direct",
}


def git(bare: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(bare), *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
@pytest.mark.prometheus
def test_one_template_heals_one_app_of_a_thousand() -> None:
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        pytest.skip("prometheus/promtool not installed (make prometheus)")
    with benchfleet.Fleet(
        N, policies=[RESTART], long_history=False, discover=True, burns=lambda i: i == BURNING
    ) as f:
        bare = f.dir / "fleet.git"
        before = git(bare, "rev-parse", "main").strip()
        at = str(int(benchfleet.end().timestamp()) + 30)
        config = str(f.dir / "githeal.yaml")

        table = CliRunner().invoke(cli.main, ["once", "--config", config, "--dry-run", "--at", at])
        assert table.exit_code == 0, table.output
        assert f"discovery: {N} discovered, 0 not selected by any template" in table.output
        burning = benchfleet.app_names(N)[BURNING]
        assert burning in table.output
        dry = CliRunner().invoke(
            cli.main, ["once", "--config", config, "--dry-run", "--at", at, "--output", "json"]
        )
        data = json.loads(dry.output)
        assert len(data["apps"]) == N and len(data["discovery"]["apps"]) == N
        assert git(bare, "rev-parse", "main").strip() == before  # dry run: nothing written

        rt = f.runtime()
        engine = cycle.Engine(rt)
        try:
            rep = engine.run_once(dry_run=False)
            again = engine.run_once(dry_run=False)  # same instant, same burn: the heal is already in Git
        finally:
            engine.close()
            rt.close()
        assert not rep.errors, rep.errors[:3]
        assert [a.app for a in rep.plan.actions] == [burning]
        assert not again.errors, again.errors[:3]
        commits = git(bare, "log", "--format=%H", f"{before}..main").split()
        assert len(commits) == 1  # after both cycles: one heal per incident
        touched = git(bare, "show", "--name-only", "--format=", commits[0]).split()
        assert touched == [f"apps/{burning}/deployment.yaml"]


SHARD_APPS = 300


def _shard_configs(f: benchfleet.Fleet, count: int) -> list[Path]:
    yaml = YAML()
    base = yaml.load((f.dir / "githeal.yaml").read_text())
    paths = []
    for i in range(count):
        base["repos"]["manifests"]["workdir"] = str(f.dir / f"work-{i}")
        # 30 of the 300 burn at once: the default repo-wide commit budget would hold some (rightly)
        base["guardrails"]["commit_budget"] = {"count": 100, "per": "1h"}
        path = f.dir / f"githeal-{i}.yaml"
        with path.open("w") as fh:
            yaml.dump(base, fh)
        paths.append(path)
    return paths


def _run_shards(configs: list[Path], at: str) -> list[dict[str, object]]:
    githeal = str(Path(sys.executable).with_name("githeal"))
    procs = [
        subprocess.Popen(
            [
                githeal,
                "once",
                "--config",
                str(c),
                "--at",
                at,
                "--shard",
                f"{i}/{len(configs)}",
                "--no-wait",
                "--output",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, c in enumerate(configs)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        outs.append(json.loads(out))
    return outs


@pytest.mark.slow
@pytest.mark.prometheus
def test_three_shard_processes_split_the_fleet_and_heal_once() -> None:
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        pytest.skip("prometheus/promtool not installed (make prometheus)")
    with benchfleet.Fleet(SHARD_APPS, policies=[RESTART], long_history=False, discover=True) as f:
        bare = f.dir / "fleet.git"
        before = git(bare, "rev-parse", "main").strip()
        at = str(int(benchfleet.end().timestamp()) + 30)
        configs = _shard_configs(f, 3)
        names = benchfleet.app_names(SHARD_APPS)
        burning = {n for i, n in enumerate(names) if benchfleet.every_tenth(i)}
        first: list[object] = []
        for _cycle in range(2):
            outs = _run_shards(configs, at)
            first = first or [(o["skips"], o["results"], o["escalations"], o["errors"]) for o in outs]
            evaluated = [set(o["apps"]) for o in outs]  # type: ignore[call-overload]
            assert all(evaluated), "every shard owns some apps"
            assert sum(len(e) for e in evaluated) == SHARD_APPS  # no app in two shards
            assert set().union(*evaluated) == set(names)  # none in no shard
            for i, e in enumerate(evaluated):
                assert all(shards.shard_of(a, 3) == i for a in e)
        log = git(bare, "log", "--format=%H", f"{before}..main").split()
        healed = [git(bare, "show", "--name-only", "--format=", c).split()[0].split("/")[1] for c in log]
        # a push that lost to another shard's 5 times in a row fails this cycle and lands in the next
        assert sorted(healed) == sorted(burning), first


@pytest.mark.slow
@pytest.mark.prometheus
def test_git_beside_the_observation_keeps_its_problems_first_and_the_ledger_read() -> None:
    """Issue 10 P1: the cycle's git work (sync, then the ledger) runs on a thread beside the
    observation's requests; its problems are still reported first, as when it ran before them."""
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        pytest.skip("prometheus/promtool not installed (make prometheus)")
    with benchfleet.Fleet(20, long_history=False, discover=True) as f:
        rt = f.runtime()
        engine = cycle.Engine(rt)
        try:
            assert engine.run_once(dry_run=True).errors == []  # clones the repo
            (f.dir / "fleet.git").rename(f.dir / "moved.git")  # every fetch now fails
            rt.argocd.http.base_url = "http://127.0.0.1:9"  # and so does the Argo CD list
            rep = engine.run_once(dry_run=True)
        finally:
            engine.close()
            rt.close()
    assert rep.errors[0].startswith("git: ") and "fetch" in rep.errors[0]
    assert any(e.startswith("argocd: ") for e in rep.errors[1:])
    assert rep.history.heals == ()  # the ledger was still read, from the clone as it was
