"""A discovered Application whose repo is covered only by a credential template is healed through a real
authenticated HTTP remote (issue 10 §1): no ``repos`` entry at all, the token comes from the template.

The remote is ``git http-backend`` behind Basic auth (``httpremote``); the Argo CD emulator reads the
same bare repo as its repo-server's own copy (``reposerver.MIRRORS``: Argo CD fetches with credentials
of its own, never the bot's). Matching follows Argo CD's ``getRepositoryCredentialIndex``
(util/db/repository_secrets.go): the longest prefix of the normalised URL wins.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from httpremote import GitHttpRemote
from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # ``bench`` lives at the repo root
from bench import fleet as benchfleet
from bot import settings
from bot.observe import fleet
from bot.sandbox import prometheus as promserver
from bot.sandbox.argocd import controller, reposerver, server, state
from bot.service import audit, cycle, shards, wiring

TOKEN = "ghs_TEMPLATEtoken0123456789abcdefSECRET"
ARGO = "githeal.template.token"
WRONG = "ghs_wrong0123456789abcdefXYZ"
APPS = benchfleet.app_names(2)  # svc-0000 is fine, svc-0001 burns
RESTART = {
    "name": "restart-on-burn",
    "apps": ["*"],
    "when": {"slo": {"tier": "page", "cycles": 1}},
    "do": {"restart": {}},
    "mode": "auto",
    "merge": "direct",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        pytest.skip("prometheus/promtool not installed (make prometheus)")
    seed, bare = tmp_path / "seed", tmp_path / "served" / "platform" / "shop.git"
    for app in APPS:
        (seed / "apps" / app).mkdir(parents=True)
        (seed / "apps" / app / "deployment.yaml").write_text(benchfleet.DEPLOYMENT.format(app=app))
    benchfleet.git(seed.parent, "init", "-q", "-b", "main", str(seed))
    benchfleet.git(seed, "add", "-A")
    benchfleet.git(seed, "commit", "-qm", "two apps")
    benchfleet.git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    benchfleet.git(
        tmp_path, "clone", "-q", "--bare", str(seed), str(tmp_path / "served" / "locked" / "x.git")
    )
    history = tmp_path / "history.om"
    history.write_text(benchfleet.openmetrics(len(APPS), long_history=False, burns=lambda i: i == 1))
    with (
        GitHttpRemote(tmp_path / "served", "x-access-token", TOKEN).running() as http,
        promserver.PrometheusServer(backfill=[history], workdir=tmp_path / "prometheus") as prom,
    ):
        url = f"{http.url}/platform/shop.git"
        reposerver.MIRRORS[url] = str(bare)
        argo_apps = [
            state.AppConfig(a, url, path=f"apps/{a}", target_revision="main", project="fleet") for a in APPS
        ]
        argo_apps.append(state.AppConfig("stray", "https://elsewhere.invalid/x/y", path="a", project="fleet"))
        locked = f"{http.url}/locked/x.git"  # its template's token is refused: cloning it fails
        reposerver.MIRRORS[locked] = str(tmp_path / "served" / "locked" / "x.git")
        argo_apps.append(state.AppConfig("locked", locked, path="apps/svc-0000", project="fleet"))
        quiet = controller.Settings(poll_interval=3600, poll_jitter=0)
        try:
            with server.ArgoCDEmulator(argo_apps, tokens=[ARGO], settings=quiet) as argo:
                yield {"tmp": tmp_path, "http": http, "prom": prom, "argo": argo, "url": url, "bare": bare}
        finally:
            reposerver.MIRRORS.pop(url, None)
            reposerver.MIRRORS.pop(locked, None)


def config(w: dict[str, Any]) -> Path:
    tmp = w["tmp"]
    (tmp / "argocd-token").write_text(ARGO)
    ratio = {"errors": 'http_requests_total{code=~"5.."}', "total": "http_requests_total"}
    windows = [
        {"severity": "page", "long": "10m", "short": "2m", "factor": 14.4},
        {"severity": "ticket", "long": "15m", "short": "5m", "factor": 3},
    ]
    data = {
        "prometheus": {"url": w["prom"].url, "step": "60s", "offset": "0s", "scrape_interval": "60s"},
        "argocd": {"url": w["argo"].url, "token": {"file": "argocd-token"}, "projects": ["fleet"]},
        "credential_templates": [
            # the shorter prefix must lose to the longer one, which carries the working token
            {"url": w["http"].url, "credentials": {"token": {"env": "WRONG_TOKEN"}}},
            {"url": f"{w['http'].url}/platform", "credentials": {"token": {"env": "SHOP_TOKEN"}}},
            {"url": f"{w['http'].url}/locked", "credentials": {"token": {"env": "WRONG_TOKEN"}}},
        ],
        "apps": {"fleet": {"discover": {"projects": ["fleet"]}, "slos": ["availability"]}},
        "slos": [
            {"name": "availability", "objective": 99.9, "period": "30d", "ratio": ratio, "windows": windows}
        ],
        "policies": [RESTART],
        "guardrails": {"blast_radius": {"max_share": 1.0}},
        "log": {"level": "error"},
    }
    path = tmp / "githeal.yaml"
    with path.open("w") as fh:
        YAML().dump(data, fh)
    return path


@pytest.mark.slow
@pytest.mark.prometheus
def test_an_app_covered_only_by_a_template_is_healed_through_the_authenticated_remote(
    world: dict[str, Any],
) -> None:
    loaded = settings.load(config(world), env={"SHOP_TOKEN": TOKEN, "WRONG_TOKEN": WRONG})
    assert not loaded.repos and len(loaded.credential_templates) == 3
    assert TOKEN not in repr(loaded)
    rt = wiring.build(loaded)
    pinned = benchfleet.end() + timedelta(seconds=30)
    rt.clock = lambda: pinned
    bare: Path = world["bare"]
    before = git(bare, "rev-parse", "main").strip()
    engine = cycle.Engine(rt)
    try:
        rep = engine.run_once()
        again = engine.run_once()  # same burn: the heal is already in Git, read back from the derived clone
    finally:
        engine.close()
        rt.close()
    assert not rep.errors, rep.errors
    name = fleet.derived_name(world["url"])
    assert rep.discovered is not None and sorted(rep.discovered.apps) == APPS
    assert {a.repo for a in rep.discovered.apps.values()} == {name}  # both Applications, one clone
    reasons = {skip.application: skip.reason for skip in rep.discovered.skipped}
    stray = reasons.pop("argocd/stray")
    assert stray == "no configured repo or credential template for https://elsewhere.invalid/x/y"
    why = reasons.pop("argocd/locked")  # a clone that fails skips its Applications, the others go on
    assert why.startswith(f"cloning {world['http'].url}/locked/x.git with its credential template failed")
    assert WRONG not in why and not reasons
    assert [a.app for a in rep.plan.actions] == ["svc-0001"]
    commits = git(bare, "log", "--format=%H", f"{before}..main").split()
    assert len(commits) == 1 and not again.errors and not again.plan.actions
    assert git(bare, "show", "--name-only", "--format=", commits[0]).split() == [
        "apps/svc-0001/deployment.yaml"
    ]
    seen = world["http"].seen
    assert any(s.startswith("POST /platform/shop.git/git-receive-pack x-access-token 200") for s in seen)
    workdir = world["tmp"] / ".work" / name
    (clone,) = workdir.glob("*/.git")  # lazily cloned into the state dir, once
    assert TOKEN not in (clone / "config").read_text()
    # `githeal history --config` finds the derived repo as the cycle did (Argo CD + the templates)
    records = audit.history(repo=None, config=loaded, app=None, since=None)
    assert [(h.app, h.action) for h in records] == [("svc-0001", "restart")]
    assert records[0].commit == commits[0]


@pytest.mark.prometheus
def test_a_shard_clones_only_the_derived_repos_of_its_own_apps(world: dict[str, Any]) -> None:
    # FNV-1a over 3 shards: svc-0000 -> 0, locked -> 1, svc-0001 -> 2 (asserted, not assumed)
    assert [shards.shard_of(a, 3) for a in ("svc-0000", "locked", "svc-0001")] == [0, 1, 2]
    loaded = settings.load(config(world), env={"SHOP_TOKEN": TOKEN, "WRONG_TOKEN": WRONG})
    shop, locked = fleet.derived_name(world["url"]), fleet.derived_name(f"{world['http'].url}/locked/x.git")
    work = world["tmp"] / ".work"
    reasons = {}
    pinned = benchfleet.end() + timedelta(seconds=30)
    for index in (0, 1):
        rt = wiring.build(loaded)
        rt.clock = lambda: pinned
        engine = cycle.Engine(rt, shard=shards.Shard(index, 3))
        try:
            rep = engine.run_once()
        finally:
            engine.close()
            rt.close()
        assert rep.discovered is not None
        reasons[index] = {s.application: s.reason for s in rep.discovered.skipped}
        if index == 0:  # svc-0000's repo only: the locked repo is shard 1's business
            assert (work / shop).is_dir() and not (work / locked).exists()
            shutil.rmtree(work / shop)
        else:  # locked only: its clone is tried (and fails); the shop repo is not cloned
            assert not (work / shop).exists()
    assert "argocd/locked" not in reasons[0]
    assert reasons[1]["argocd/locked"].startswith(f"cloning {world['http'].url}/locked/x.git")
