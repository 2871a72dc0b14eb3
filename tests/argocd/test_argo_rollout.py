"""Argo CD's view of an Argo Rollouts canary: Rollout health as the built-in Lua check reports it
(argo-cd resource_customizations/argoproj.io/Rollout/health.lua @37ee009), ReplicaSets per pod template in
the resource tree, the Rollout's live status in managed-resources, and the app's aggregate health.
Abort semantics: argo-rollouts @9f8d111 rollout/sync.go (RolloutAbortedMessage "Rollout aborted update to
revision %d"), rollout/analysis.go ("Step-based analysis phase error/failed"), rolloututil.go phases."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argokit import API_TOKEN, Clock, Repo, make_emulator

from bot import model
from bot.clients import argocd
from bot.observe import rollouts
from bot.sandbox.argocd import server, workload

ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: checkout
spec:
  replicas: 5
  selector:
    matchLabels: {app: checkout}
  strategy:
    canary:
      steps:
        - setWeight: 20
        - pause: {duration: 10s}
        - analysis:
            templates: [{templateName: success-rate}]
        - setWeight: 60
        - pause: {duration: 10s}
  template:
    metadata:
      labels: {app: checkout}
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/checkout:{tag}
---
apiVersion: v1
kind: Service
metadata:
  name: checkout
spec:
  ports: [{port: 80}]
"""
BAD = "ghcr.io/acme/checkout:1.5.0"


@pytest.fixture
def rollout_repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path)
    r.commit({"apps/checkout/app.yaml": ROLLOUT.replace("{tag}", "1.4.2")}, "checkout 1.4.2")
    return r


@pytest.fixture
def emu(rollout_repo: Repo, clock: Clock) -> Iterator[server.ArgoCDEmulator]:
    model = workload.DefaultModel(rollout_delay=1.0, progress_deadline=30.0)
    with make_emulator(rollout_repo, clock, model, automated=True) as e:
        # the canary's AnalysisRun: a success-rate metric failing for the bad image only
        e.controller.analysis_callback = lambda app, images: "Failed" if BAD in images.values() else None
        yield e


@pytest.fixture
def api(emu: server.ArgoCDEmulator) -> Iterator[argocd.ArgoCDClient]:
    with httpx.Client(base_url=emu.url, timeout=5.0) as http:
        yield argocd.ArgoCDClient(http, token=API_TOKEN, refresh_timeout=10.0)


def _run(emu: server.ArgoCDEmulator, clock: Clock, seconds: float, step: float = 0.5) -> None:
    for _ in range(round(seconds / step)):
        clock.advance(step)
        emu.controller.tick()


def _rollout(api: argocd.ArgoCDClient) -> dict[str, Any]:
    app = api.get("checkout")
    return next(r for r in app["status"]["resources"] if r["kind"] == "Rollout")


def _live(api: argocd.ArgoCDClient) -> dict[str, Any]:
    items = api.managed_resources("checkout", kind="Rollout")
    return dict(json.loads(items[0]["liveState"]))


def test_canary_steps_pause_abort_and_rollback_to_stable(
    emu: server.ArgoCDEmulator, rollout_repo: Repo, clock: Clock, api: argocd.ArgoCDClient
) -> None:
    _run(emu, clock, 1)
    assert _rollout(api)["health"] == {"status": "Healthy"}
    first = _live(api)["status"]
    stable = first["stableRS"]
    assert first["currentPodHash"] == stable and first["phase"] == "Healthy"

    bad_sha = rollout_repo.commit({"apps/checkout/app.yaml": ROLLOUT.replace("{tag}", "1.5.0")}, "1.5.0")
    emu.poll("checkout")
    _run(emu, clock, 1.5)  # the sync (1 s) applied the new template; setWeight 20 pods coming up
    assert _rollout(api)["health"]["status"] == "Progressing"
    _run(emu, clock, 1.0)
    # pause {duration: 10s}: Argo CD maps the Rollout's Paused phase to Suspended with the pause reason
    assert _rollout(api)["health"] == {"status": "Suspended", "message": "CanaryPauseStep"}
    assert api.get("checkout")["status"]["health"]["status"] == "Suspended"
    live = emu.live("checkout")["workloads"][0]
    assert live["images"] == {"app": "ghcr.io/acme/checkout:1.4.2"}
    assert live["canary"] == {"images": {"app": BAD}, "weight": 20}

    _run(emu, clock, 12)  # pause over, the analysis runs for rollout_delay and fails
    health = _rollout(api)["health"]
    assert health["status"] == "Degraded"
    assert health["message"] == (
        "RolloutAborted: Rollout aborted update to revision 2: Step-based analysis phase error/failed: "
        'Metric "success-rate" assessed Failed due to failed (1) > failureLimit (0)'
    )
    app = api.get("checkout")
    assert app["status"]["health"]["status"] == "Degraded"
    assert app["status"]["sync"] == {**app["status"]["sync"], "status": "Synced", "revision": bad_sha}
    st = _live(api)["status"]
    assert st["abort"] is True and st["stableRS"] == stable and st["currentPodHash"] != stable
    assert st["updatedReplicas"] == 0 and st["availableReplicas"] == 5  # the stable ReplicaSet serves
    reasons = [c["reason"] for c in st["conditions"] if c["type"] == "Progressing"]
    assert reasons == ["RolloutAborted"]
    live = emu.live("checkout")["workloads"][0]
    assert live["canary"]["weight"] == 0 and live["images"] == {"app": "ghcr.io/acme/checkout:1.4.2"}

    tree = api.resource_tree("checkout")["nodes"]
    sets = {n["name"]: n for n in tree if n["kind"] == "ReplicaSet"}
    assert sets[f"checkout-{stable}"]["images"] == ["ghcr.io/acme/checkout:1.4.2"]
    assert sets[f"checkout-{st['currentPodHash']}"]["images"] == [BAD]
    pods = [n for n in tree if n["kind"] == "Pod"]
    assert {p["parentRefs"][0]["name"] for p in pods} == {f"checkout-{stable}"} and len(pods) == 5
    node = next(n for n in tree if n["kind"] == "Rollout")
    assert node["health"] == health and {"name": "Revision", "value": "Rev:2"} in node["info"]

    # Git back at the stable template: "Rollback to stable ReplicaSets" skips the steps, abort cleared
    rollout_repo.commit({"apps/checkout/app.yaml": ROLLOUT.replace("{tag}", "1.4.2")}, "revert")
    emu.poll("checkout")
    generation = _live(api)["metadata"]["generation"]
    while _live(api)["metadata"]["generation"] == generation:  # until the sync applies it
        _run(emu, clock, 0.1, step=0.1)
    assert _live(api)["status"]["observedGeneration"] == str(generation)  # not yet observed
    assert _rollout(api)["health"] == {
        "status": "Progressing",
        "message": "Waiting for rollout spec update to be observed",
    }
    _run(emu, clock, 0.5)
    assert _rollout(api)["health"] == {"status": "Healthy"}
    st = _live(api)["status"]
    assert "abort" not in st and st["currentPodHash"] == stable == st["stableRS"]
    assert api.get("checkout")["status"]["health"]["status"] == "Healthy"


def test_good_canary_walks_every_step_and_is_promoted(
    emu: server.ArgoCDEmulator, rollout_repo: Repo, clock: Clock, api: argocd.ArgoCDClient
) -> None:
    _run(emu, clock, 1)
    rollout_repo.commit({"apps/checkout/app.yaml": ROLLOUT.replace("{tag}", "1.4.3")}, "1.4.3")
    emu.poll("checkout")
    seen = set()
    for _ in range(60):
        _run(emu, clock, 0.5)
        seen.add(_rollout(api)["health"]["status"])
    assert seen >= {"Progressing", "Suspended", "Healthy"} and "Degraded" not in seen
    st = _live(api)["status"]
    assert st["stableRS"] == st["currentPodHash"] and st["currentStepIndex"] == 5
    live = emu.live("checkout")["workloads"][0]
    assert live["images"] == {"app": "ghcr.io/acme/checkout:1.4.3"} and "canary" not in live


def test_the_bot_reads_the_aborted_rollout_and_its_stable_replicaset(
    emu: server.ArgoCDEmulator, rollout_repo: Repo, clock: Clock, api: argocd.ArgoCDClient
) -> None:
    _run(emu, clock, 1)
    (status,) = api.list_statuses(resources=True)  # what the cycle asks when a policy reads Rollouts
    assert status.rollouts == ("checkout/checkout",)  # from status.resources, even in List
    (lean,) = api.list_statuses()  # otherwise status.resources is dropped server-side (fields=-items...)
    assert lean.rollouts == ()
    found, why = rollouts.read(api, status)
    assert why == "" and found[0].health is model.HealthStatus.HEALTHY and found[0].aborted is False
    rollout_repo.commit({"apps/checkout/app.yaml": ROLLOUT.replace("{tag}", "1.5.0")}, "1.5.0")
    emu.poll("checkout")
    _run(emu, clock, 2.5)
    (paused,), _ = rollouts.read(api, status)
    assert (paused.health, paused.message, paused.abort_reported) == (
        model.HealthStatus.SUSPENDED,
        "CanaryPauseStep",
        False,
    )
    _run(emu, clock, 12)
    (aborted,), why = rollouts.read(api, status)
    assert why == "" and aborted.abort_reported and aborted.aborted is True and aborted.observed is True
    assert aborted.message.startswith("RolloutAborted: Rollout aborted update to revision 2: ")
    assert aborted.revision == "2"
    assert aborted.stable_images == ("ghcr.io/acme/checkout:1.4.2",)
    assert aborted.canary_images == (BAD,)
    obs = model.AppObservation("checkout", api.list_statuses(resources=True)[0])
    attached = rollouts.attach(api, {"checkout": obs})["checkout"]
    assert attached.rollouts == (aborted,) and attached.rollout_error == ""


def test_an_unreadable_tree_is_the_apps_rollout_error(api: argocd.ArgoCDClient) -> None:
    (status,) = api.list_statuses()
    gone = dataclasses.replace(status, name="nope")
    found, why = rollouts.read(api, gone)
    assert found == () and "Rollouts of nope unreadable" in why
