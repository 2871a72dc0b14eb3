"""The client against the emulator over real HTTP: the API behaviours the bot relies on."""

from __future__ import annotations

import re
import threading

import httpx
import pytest
from argokit import CHECKOUT, Clock, Repo, make_emulator

from bot import errors, model
from bot.clients import argocd
from bot.sandbox.argocd import server, workload


def bump(repo: Repo, tag: str) -> str:
    return repo.commit({"apps/checkout/app.yaml": CHECKOUT.replace("{tag}", tag)}, f"checkout {tag}")


def test_list_get_refresh_sync_completes_async_and_history_grows(
    client: argocd.ArgoCDClient, emulator: server.ArgoCDEmulator, repo: Repo, clock: Clock
) -> None:
    [listed] = client.list_statuses(selector="team=payments", projects=["payments"])
    assert (listed.sync, listed.health, listed.project) == (
        model.SyncStatus.SYNCED,
        model.HealthStatus.HEALTHY,
        "payments",
    )
    first = listed.revision
    sha = bump(repo, "1.5.0")
    assert client.status("checkout", "payments").revision == first  # no poll yet: the old comparison
    refreshed = client.status("checkout", "payments", refresh="normal")
    assert (refreshed.sync, refreshed.revision) == (model.SyncStatus.OUT_OF_SYNC, sha)

    reply = client.sync("checkout", "payments", argocd.SyncOptions(prune=True))
    assert "operation" in reply and "operationState" not in reply["status"]
    assert reply["operation"]["sync"]["revision"] == sha
    assert reply["status"]["sync"]["status"] == "OutOfSync"  # still the old comparison

    emulator.tick()  # the operation starts ...
    running = client.status("checkout", "payments")
    assert (running.operation_phase, running.operation_running) == ("Running", True)
    clock.advance(1.0)
    emulator.tick()  # ... and completes one sync_duration later
    done = client.status("checkout", "payments")
    assert (done.sync, done.operation_phase, done.operation_revision, done.operation_running) == (
        model.SyncStatus.SYNCED,
        "Succeeded",
        sha,
        False,
    )
    assert [d.id for d in done.history] == [0, 1] and done.history[-1].revision == sha
    assert emulator.live("checkout")["workloads"][0]["images"] == {"app": "ghcr.io/acme/checkout:1.5.0"}
    assert done.health == model.HealthStatus.PROGRESSING  # the new pods are rolling out
    clock.advance(1.0)
    emulator.tick()
    assert client.status("checkout", "payments").health == model.HealthStatus.HEALTHY


def test_list_filters_and_fields(client: argocd.ArgoCDClient) -> None:
    assert client.list_apps(selector="team=search") == []
    assert (
        client.list_apps(selector="team in (payments, search),!frozen")[0]["metadata"]["name"] == "checkout"
    )
    assert client.list_apps(projects=["other"]) == []
    [item] = client.list_apps(fields=["metadata.name", "status.sync.status", "status.health"])
    assert item == {
        "metadata": {"name": "checkout"},
        "status": {"sync": {"status": "Synced"}, "health": item["status"]["health"]},
    }
    [full] = client.list_apps()
    assert "health" not in full["status"]["resources"][0]  # List leaves resource health to the tree (3.x)


def test_missing_content_type_gives_plain_415(http: httpx.Client, client: argocd.ArgoCDClient) -> None:
    auth = {"Authorization": f"Bearer {client.token}"}
    for headers in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "application/json; charset=utf-8"}):
        reply = http.post("/api/v1/applications/checkout/sync", content=b"{}", headers={**auth, **headers})
        assert (reply.status_code, reply.text) == (415, "Invalid content type\n")
    reply = http.delete("/api/v1/applications/checkout/operation", headers=auth)
    assert reply.status_code == 415
    with pytest.raises(errors.ArgoCDInvalidArgument, match="No operation is in progress"):
        client.terminate_operation("checkout", "payments")  # the client sets the header by hand


def test_unknown_app_is_403_unless_project_is_named(client: argocd.ArgoCDClient) -> None:
    with pytest.raises(errors.ArgoCDPermissionDenied) as denied:
        client.get("nope")
    assert (
        denied.value.status == 403
        and denied.value.app == "nope"
        and "/applications/nope" in str(denied.value.url)
    )
    with pytest.raises(errors.ArgoCDNotFound, match=re.escape('applications.argoproj.io "nope" not found')):
        client.get("nope", project="payments")
    with pytest.raises(errors.ArgoCDNotFound):
        client.get("checkout", project="default")  # exists, but in another project
    with pytest.raises(errors.ArgoCDPermissionDenied):
        client.sync("nope")


def test_second_sync_is_a_temporary_failed_precondition(client: argocd.ArgoCDClient) -> None:
    client.sync("checkout", "payments")
    with pytest.raises(
        errors.ArgoCDFailedPrecondition, match="another operation is already in progress"
    ) as exc:
        client.sync("checkout", "payments")
    assert exc.value.temporary and exc.value.status == 400 and isinstance(exc.value, errors.TemporaryError)


def test_terminate_running_operation(client: argocd.ArgoCDClient, emulator: server.ArgoCDEmulator) -> None:
    client.sync("checkout", "payments")
    emulator.tick()
    client.terminate_operation("checkout", "payments")
    emulator.tick()
    status = client.status("checkout", "payments")
    assert (status.operation_phase, status.operation_running, len(status.history)) == ("Failed", False, 1)
    assert client.get("checkout")["status"]["operationState"]["message"] == "Operation terminated"


@pytest.mark.parametrize("self_heal", [True, False])
def test_self_heal_reverts_live_drift_only_when_enabled(
    repo: Repo, clock: Clock, model: workload.DefaultModel, self_heal: bool
) -> None:
    with (
        make_emulator(repo, clock, model, automated=True, self_heal=self_heal) as emu,
        httpx.Client(base_url=emu.url) as http,
    ):
        reply = http.post(
            "/api/emulator/apps/checkout/drift", json={"workload": "checkout", "image": "evil:1"}
        )
        assert reply.json()["workloads"][0]["images"]["app"] == "evil:1"
        for _ in range(3):
            clock.advance(1.0)
            emu.tick()
        app = argocd.parse_app(http.get("/api/v1/applications/checkout", headers=_auth(emu)).json())
        live = emu.live("checkout")["workloads"][0]["images"]["app"]
        if self_heal:
            assert (app.sync, live, len(app.history)) == (
                model_sync("Synced"),
                "ghcr.io/acme/checkout:1.4.2",
                2,
            )
        else:
            assert (app.sync, live, len(app.history)) == (model_sync("OutOfSync"), "evil:1", 1)


def test_self_heal_backs_off_on_repeated_drift(
    repo: Repo, clock: Clock, model: workload.DefaultModel
) -> None:
    with make_emulator(repo, clock, model, automated=True, self_heal=True) as emu:
        emu.controller.settings = emu.controller.settings.__class__(sync_duration=0.0, poll_interval=600)
        for expected_wait in (0.0, 2.0, 6.0):
            emu.inject_drift("checkout", {"workload": "checkout", "replicas": 9})
            if expected_wait:
                emu.tick()
                assert emu.live("checkout")["workloads"][0]["replicas"] == 9  # still backing off
                clock.advance(expected_wait)
            emu.tick()
            assert emu.live("checkout")["workloads"][0]["replicas"] == 2


def test_failing_image_goes_progressing_then_degraded(
    client: argocd.ArgoCDClient, emulator: server.ArgoCDEmulator, repo: Repo, clock: Clock
) -> None:
    emulator.set_image_behaviour("ghcr.io/acme/checkout:1.5.0", "failing")
    bump(repo, "1.5.0")
    client.get("checkout", "payments", refresh="normal")
    client.sync("checkout", "payments")
    emulator.tick()
    clock.advance(1.0)
    emulator.tick()
    assert client.status("checkout", "payments").health == model.HealthStatus.PROGRESSING
    pods = [n for n in client.resource_tree("checkout", "payments")["nodes"] if n["kind"] == "Pod"]
    assert len(pods) == 2 and all(
        p["health"]["status"] == "Degraded" for p in pods
    )  # crash loop shows here first
    clock.advance(29.0)
    emulator.tick()
    assert client.status("checkout", "payments").health == model.HealthStatus.PROGRESSING  # deadline: 30 s
    clock.advance(1.0)
    emulator.tick()
    status = client.status("checkout", "payments")
    assert status.health == model.HealthStatus.DEGRADED and "progress deadline" in status.health_message


def test_health_callback_reports_crash_loops(repo: Repo, clock: Clock, model: workload.DefaultModel) -> None:
    verdicts = {"checkout": "Degraded"}
    with make_emulator(repo, clock, model) as emu:
        emu.controller.health_callback = verdicts.get
        emu.tick()
        assert emu.controller.apps["checkout"].health == "Degraded"
        verdicts.clear()
        emu.tick()
        assert emu.controller.apps["checkout"].health == "Healthy"


def test_pushed_commit_goes_out_of_sync_then_synced_by_auto_sync(
    repo: Repo, clock: Clock, model: workload.DefaultModel
) -> None:
    with make_emulator(repo, clock, model, automated=True) as emu, httpx.Client(base_url=emu.url) as http:
        client = argocd.ArgoCDClient(http, token=emu.make_token())
        sha = bump(repo, "1.6.0")
        clock.advance(59.0)
        emu.tick()
        assert client.status("checkout").sync == model_sync("Synced")  # the poll is not due yet
        clock.advance(1.0)
        emu.tick()  # poll: OutOfSync, and auto-sync has requested an operation
        polled = client.status("checkout")
        assert (polled.sync, polled.revision, polled.operation_running) == (
            model_sync("OutOfSync"),
            sha,
            True,
        )
        clock.advance(1.0)
        emu.tick()  # the operation starts
        emu.tick()  # and completes (sync_duration elapsed since start is checked at the next tick)
        clock.advance(1.0)
        emu.tick()
        done = client.status("checkout")
        assert (done.sync, done.operation_revision, [d.revision for d in done.history][-1]) == (
            model_sync("Synced"),
            sha,
            sha,
        )
        assert client.get("checkout")["status"]["history"][-1]["initiatedBy"] == {"automated": True}
        reasons = [e["reason"] for e in client.events("checkout")]
        assert "OperationStarted" in reasons and "OperationCompleted" in reasons


def test_rollback_refused_under_auto_sync_then_allowed(
    repo: Repo, clock: Clock, model: workload.DefaultModel
) -> None:
    with make_emulator(repo, clock, model, automated=True) as emu, httpx.Client(base_url=emu.url) as http:
        client = argocd.ArgoCDClient(http)
        client.login("admin", "password")
        bump(repo, "1.7.0")
        emu.poll("checkout")
        for _ in range(3):
            clock.advance(1.0)
            emu.tick()
        assert len(client.status("checkout").history) == 2
        with pytest.raises(errors.ArgoCDFailedPrecondition, match="auto-sync is enabled"):
            client.rollback("checkout", 0, "payments")
        first = client.status("checkout").history[0].revision
        with pytest.raises(
            errors.ArgoCDFailedPrecondition, match=r"Cannot sync to .*: auto-sync currently set to main"
        ):
            client.sync("checkout", "payments", argocd.SyncOptions(revision=first))
        patched = argocd.parse_app(client.set_auto_sync("checkout", False, "payments"))
        assert not patched.auto_sync
        with pytest.raises(errors.ArgoCDInvalidArgument, match="does not have deployment with id 9"):
            client.rollback("checkout", 9, "payments")
        client.rollback("checkout", 0, "payments")
        for _ in range(2):
            clock.advance(1.0)
            emu.tick()
        after = client.status("checkout")
        assert after.sync == model_sync("OutOfSync") and [d.id for d in after.history] == [0, 1, 2]
        assert emu.live("checkout")["workloads"][0]["images"]["app"] == "ghcr.io/acme/checkout:1.4.2"


def test_auto_sync_does_not_retry_a_failed_revision(
    repo: Repo, clock: Clock, model: workload.DefaultModel
) -> None:
    with make_emulator(repo, clock, model, automated=True) as emu:
        emu.set_sync_error("checkout", "admission webhook denied the request")
        bump(repo, "1.8.0")
        emu.poll("checkout")
        for _ in range(4):
            clock.advance(1.0)
            emu.tick()
        app = emu.controller.apps["checkout"]
        assert app.op_state is not None and app.op_state.phase == "Failed" and app.operation is None
        assert any(c["type"] == "SyncError" for c in app.conditions)
        assert len(app.history) == 1


def test_auth_rules(http: httpx.Client, emulator: server.ArgoCDEmulator, clock: Clock) -> None:
    for token in (None, "not-a-jwt"):
        client = argocd.ArgoCDClient(http, token=token)
        with pytest.raises(errors.ArgoCDUnauthenticated, match="no session information"):
            client.list_apps()
    with pytest.raises(errors.ArgoCDUnauthenticated, match="Invalid username or password"):
        argocd.ArgoCDClient(http).login("admin", "wrong")
    client = argocd.ArgoCDClient(http, clock=clock)
    old = client.login("admin", "password")
    assert client.userinfo()["username"] == "admin"
    clock.advance(25 * 3600)
    dead = http.get("/api/v1/applications", headers={"Authorization": f"Bearer {old}"})
    assert dead.status_code == 401 and "token is expired" in dead.json()["message"]
    client.list_apps()  # the client logs in again instead (see test_argo_production for the details)
    assert client.token != old
    http.cookies.clear()  # login's Set-Cookie sits in the jar; /api/version without it is anonymous
    assert http.get("/api/version").json() == {"Version": "v3.5.1+emulator"}


def test_admin_endpoints_over_http(http: httpx.Client, emulator: server.ArgoCDEmulator, clock: Clock) -> None:
    live = http.get("/api/emulator/apps/checkout/live").json()
    assert live["configmaps"] == {"checkout": {"MODE": "fast"}} and live["hpas"] == {}
    assert (
        http.post(
            "/api/emulator/apps/checkout/drift",
            json={"configmap": "checkout", "key": "MODE", "value": "slow"},
        ).json()["configmaps"]["checkout"]["MODE"]
        == "slow"
    )
    assert http.get("/api/emulator/apps").json()["apps"][0]["sync"] == "OutOfSync"
    assert (
        http.post(
            "/api/emulator/behaviour", json={"image": "x:*", "behaviour": "failing", "rolloutDelay": 2}
        ).json()["rolloutDelay"]
        == 2.0
    )
    assert http.post("/api/emulator/apps/nope/poll").status_code == 404
    assert http.post("/api/emulator/tick").json() == {}
    assert http.post("/api/emulator/apps/checkout/drift", json={}).status_code == 400
    with pytest.raises(errors.SandboxError, match="not live"):
        emulator.inject_drift("checkout", {"workload": "nope", "replicas": 1})
    with pytest.raises(errors.SandboxError, match="no emulated app"):
        emulator.live("nope")


def test_background_loop_completes_sync_in_real_time(repo: Repo, model: workload.DefaultModel) -> None:
    from bot.sandbox.argocd import controller, state

    settings = controller.Settings(sync_duration=0.05)
    config = state.AppConfig(name="a", repo_url=f"file://{repo.bare}", path="apps/checkout", project="p")
    emulator = server.ArgoCDEmulator([config], settings=settings, model=model, tick_interval=0.02)
    with emulator as emu, httpx.Client(base_url=emu.url) as http:
        client = argocd.ArgoCDClient(http, token=emu.make_token())
        client.sync("a", "p")
        for _ in range(100):
            if not client.status("a").operation_running:
                break
            threading.Event().wait(0.02)
        assert client.status("a").operation_phase == "Succeeded"


def model_sync(value: str) -> model.SyncStatus:
    return model.SyncStatus(value)


def _auth(emu: server.ArgoCDEmulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.make_token()}"}
