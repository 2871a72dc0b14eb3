"""The bot's heal path against the Argo CD emulator as production looks: a multi-source app in another
namespace chosen by selector, rolled back in Git and verified; a sync refused because an auto-sync runs;
adopt that must not write HPA-owned replicas. Real bare Git repos, the emulator over HTTP, the bot's
own settings, wiring, execute and Verifier; only the clock and sleep are injected."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argokit import API_TOKEN, Clock, Repo
from test_argo_production import helm_repository, shop_sources, values

from bot import model, settings
from bot.act import changes, execute
from bot.observe import snapshot
from bot.sandbox.argocd import controller, server, state, workload
from bot.service import cycle, wiring
from bot.verify import run


@dataclass
class Rig:
    emu: server.ArgoCDEmulator
    rt: wiring.Runtime
    clock: Clock
    repo: Repo

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def sleep(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.emu.tick()

    def observe(self) -> model.Snapshot:
        sources = snapshot.Sources(self.rt.argocd, self.rt.prometheus, slos=())
        return snapshot.observe(sources, cycle.targets(self.rt), self.now())

    def tools(self) -> execute.Tools:
        return execute.Tools(self.rt.settings, self.rt.clones, self.rt.argocd, None, self.now)

    def verifier(self) -> run.Verifier:
        rt = self.rt
        return run.Verifier(
            rt.settings, rt.argocd, rt.prometheus, dict(rt.clones), None, rt.metrics, self.now, self.sleep
        )


def rig(tmp: Path, repo: Repo, clock: Clock, apps: list[state.AppConfig], app_yaml: str, **kw: Any) -> Rig:
    emu = server.ArgoCDEmulator(
        apps,
        tokens=[API_TOKEN],
        settings=controller.Settings(poll_interval=60.0, poll_jitter=0.0, sync_duration=1.0),
        model=workload.DefaultModel(rollout_delay=1.0, progress_deadline=30.0),
        clock=clock,
        background=False,
        namespaces=["team-.*"],
        **kw,
    ).start()
    (tmp / "token").write_text(API_TOKEN)
    config = tmp / "githeal.yaml"
    config.write_text(f"""version: 1
prometheus: {{url: "http://127.0.0.1:9"}}
argocd: {{url: "{emu.url}", token: {{file: "{tmp / "token"}"}}, refresh_timeout: 0.3}}
repos:
  gitops: {{url: "{repo.bare}", branch: main, workdir: "{tmp / "clone"}"}}
apps:
{app_yaml}""")
    return Rig(emu, wiring.build(settings.load(config)), clock, repo)


@pytest.fixture
def cleanup() -> Iterator[list[Rig]]:
    rigs: list[Rig] = []
    yield rigs
    for r in rigs:
        r.rt.close()
        r.emu.stop()


def action(kind: model.ActionKind, **params: Any) -> model.Action:
    return model.Action(
        app="shop", kind=kind, policy="p", mode=model.Mode.AUTO, reason="SLO burning",
        heal_id=f"{kind.value[:4]}00000000", params={"merge": "direct", **params},
    )  # fmt: skip


def test_multi_source_app_in_a_namespace_is_rolled_back_and_verified(
    tmp_path: Path, repo: Repo, clock: Clock, cleanup: list[Rig]
) -> None:
    """A Helm chart (chart version 1.2.0) plus a ``ref: values`` Git source, in namespace team-a, manual
    sync, chosen by selector under another key: the bot must roll back the Git revision of the values
    source (argocd-api.md section 4), call every API with ``appNamespace`` (section 0), verify the
    Application it resolved (not the key "shop"), and sync even though the refresh times out on a busy
    controller (section 5.2: ``?refresh=`` blocks until the controller reconciles)."""
    good = repo.commit(values("1.0.0"), "shop 1.0.0")
    config = state.AppConfig(
        name="shop-prod", repo_url="", project="shop", app_namespace="team-a", labels={"team": "shop"},
        sources=shop_sources(helm_repository(tmp_path), repo),
    )  # fmt: skip
    r = rig(tmp_path, repo, clock, [config], '  shop: {selector: {team: shop}, paths: ["apps/shop/**"]}\n')
    cleanup.append(r)
    bad = repo.commit(values("1.1.0"), "shop 1.1.0")
    r.rt.argocd.sync("team-a/shop-prod")  # a human ships 1.1.0
    for _ in range(3):
        r.sleep(1.0)
    r.sleep(60.0)  # the next Git poll compares at the new commit
    assert r.emu.live("team-a/shop-prod")["workloads"][0]["images"] == {"shop": "ghcr.io/acme/shop:1.1.0"}

    obs = r.observe().apps["shop"]
    assert obs.status is not None and obs.error == ""
    assert (obs.status.name, obs.status.revision) == ("team-a/shop-prod", bad)
    assert [d.revision for d in obs.status.history] == [good, bad]  # Git SHAs, not the chart version

    plan = model.Plan(at=r.now(), actions=(action(model.ActionKind.ROLLBACK),))
    [result] = execute.execute(plan, r.observe(), r.tools())
    assert result.outcome is execute.Outcome.COMMITTED, result.detail
    assert result.argocd_app == "team-a/shop-prod"

    r.emu.stall()  # the refresh the verifier asks for will time out (refresh_timeout 0.3 s)
    outcome = r.verifier().verify(result)
    assert outcome.success, outcome.reason
    assert r.emu.live("team-a/shop-prod")["workloads"][0]["images"] == {"shop": "ghcr.io/acme/shop:1.0.0"}
    final = r.rt.argocd.status("team-a/shop-prod")
    assert final.history[-1].revisions == ("1.2.0", result.landed)


def test_enforce_while_an_auto_sync_runs_is_not_a_failed_heal(
    tmp_path: Path, repo: Repo, clock: Clock, cleanup: list[Rig]
) -> None:
    """argocd-api.md section 0: a sync while an operation runs is 400 FailedPrecondition "another operation
    is already in progress". The running auto-sync applies Git too: the heal is in progress, not failed."""
    from argokit import CHECKOUT

    repo.commit({"apps/shop/app.yaml": CHECKOUT.replace("{tag}", "1.0.0")}, "shop 1.0.0")
    config = state.AppConfig(
        name="shop", repo_url=str(repo.bare), path="apps/shop", target_revision="main", automated=True
    )
    r = rig(tmp_path, repo, clock, [config], '  shop: {paths: ["apps/shop/**"]}\n')
    cleanup.append(r)
    r.emu.inject_drift("shop", {"workload": "checkout", "image": "evil:1"})
    repo.commit({"apps/shop/app.yaml": CHECKOUT.replace("{tag}", "1.0.1")}, "shop 1.0.1")
    r.emu.poll("shop")  # auto-sync to the new commit starts: an operation is running
    assert r.rt.argocd.status("shop").operation_running
    plan = model.Plan(at=r.now(), actions=(action(model.ActionKind.RECONCILE, mode="enforce"),))
    [result] = execute.execute(plan, r.observe(), r.tools())
    assert result.outcome is execute.Outcome.SYNCED, result.detail
    assert "already in progress" in result.detail and result.landed
    outcome = r.verifier().verify(result)  # the running operation finishes and includes the heal commit
    assert outcome.success, outcome.reason


HPA_APP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/shop:1.0.0
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: shop
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: shop}
  minReplicas: 2
  maxReplicas: 10
"""


@pytest.mark.parametrize("ignore_replicas", [True, False])
def test_adopt_reads_normalized_live_state_and_leaves_hpa_replicas_alone(
    tmp_path: Path, repo: Repo, clock: Clock, cleanup: list[Rig], ignore_replicas: bool
) -> None:
    """Controller getResourcesDiffs: ``liveState`` is the object as served, ``normalizedLiveState`` has the
    app's ignoreDifferences removed (Argo CD's docs pair an HPA with ignoring /spec/replicas). Replicas
    an HPA scaled are never Git's business, with or without that rule; the image drift is adopted."""
    repo.commit({"apps/shop/app.yaml": HPA_APP}, "shop with HPA")
    ignore = ({"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]},)
    config = state.AppConfig(
        name="shop", repo_url=str(repo.bare), path="apps/shop", target_revision="main",
        ignore_differences=ignore if ignore_replicas else (),
    )  # fmt: skip
    r = rig(tmp_path, repo, clock, [config], '  shop: {paths: ["apps/shop/**"]}\n')
    cleanup.append(r)
    r.emu.inject_drift("shop", {"workload": "shop", "replicas": 7, "image": "ghcr.io/acme/shop:1.0.1"})
    [deploy] = [d for d in r.rt.argocd.managed_resources("shop") if d.get("kind") == "Deployment"]
    assert '"replicas":7' in deploy["liveState"] and '"status"' in deploy["liveState"]
    assert ('"replicas"' in deploy.get("normalizedLiveState", "")) is not ignore_replicas

    drift = changes.drift(r.rt.argocd.managed_resources("shop"))
    assert drift == [("Deployment/shop", "image", "app", "ghcr.io/acme/shop:1.0.1")]

    plan = model.Plan(at=r.now(), actions=(action(model.ActionKind.RECONCILE, mode="adopt"),))
    [result] = execute.execute(plan, r.observe(), r.tools())
    assert result.outcome is execute.Outcome.COMMITTED, result.detail
    repo.git("fetch", "-q")
    text = repo.git("show", f"{result.landed}:apps/shop/app.yaml")
    assert "image: ghcr.io/acme/shop:1.0.1" in text and "replicas: 2" in text and "minReplicas: 2" in text
