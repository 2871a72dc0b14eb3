"""Argo CD as production runs it: apps in other namespaces, multi-source apps, expiring sessions, and a
refresh that blocks. Each test first shows the emulator answering like the real server (the fact is
cited), then the client coping with it."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from argokit import API_TOKEN, CHECKOUT, Clock, Repo
from test_argo_fidelity import SWAGGER, strict_definitions

from bot import errors, model
from bot.clients import argoapp, argocd
from bot.sandbox.argocd import controller, server, state, workload

SETTINGS = controller.Settings(poll_interval=60.0, poll_jitter=0.0, sync_duration=1.0)
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def _emulator(clock: Clock, configs: list[state.AppConfig], **kw: Any) -> server.ArgoCDEmulator:
    model_ = workload.DefaultModel(rollout_delay=1.0, progress_deadline=30.0)
    return server.ArgoCDEmulator(
        configs, tokens=[API_TOKEN], settings=SETTINGS, model=model_, clock=clock, background=False, **kw
    )


def _app(repo: Repo, name: str = "checkout", **kw: Any) -> state.AppConfig:
    return state.AppConfig(
        name=name,
        repo_url=str(repo.bare),
        path="apps/checkout",
        target_revision="main",
        project="payments",
        **kw,
    )


# ----------------------------------------------------------------------------- 1. apps in any namespace


def test_app_outside_control_plane_needs_app_namespace(repo: Repo, clock: Clock) -> None:
    """argocd-api.md section 0 "Not found vs forbidden" and application.go getAppEnforceRBAC: without
    ``appNamespace`` the server looks in its own namespace, so an app elsewhere is 403 (404 with a
    project); a namespace missing from ``application.namespaces`` is 403 even with a project."""
    apps = [_app(repo, app_namespace="team-a"), _app(repo, app_namespace="team-b", labels={"team": "b"})]
    with (
        _emulator(clock, apps, namespaces=["team-a", "team-b"]) as emu,
        httpx.Client(base_url=emu.url) as http,
    ):
        get = "/api/v1/applications/checkout"
        assert http.get(get, headers=AUTH).json() == {
            "error": "permission denied",
            "code": 7,
            "message": "permission denied",
        }
        assert http.get(get, params={"project": "payments"}, headers=AUTH).status_code == 404
        served = http.get(get, params={"appNamespace": "team-a"}, headers=AUTH)
        assert served.status_code == 200 and served.json()["metadata"]["namespace"] == "team-a"
        hidden = http.get(get, params={"appNamespace": "kube-system", "project": "payments"}, headers=AUTH)
        assert hidden.status_code == 403
        listed = http.get("/api/v1/applications", headers=AUTH).json()["items"]
        assert [i["metadata"]["namespace"] for i in listed] == ["team-a", "team-b"]

        client = argocd.ArgoCDClient(http, token=API_TOKEN)
        names = [s.name for s in client.list_statuses()]
        assert names == ["team-a/checkout", "team-b/checkout"]  # the CLI's qualified names
        for name in names:  # every per-app call carries appNamespace, reads and writes alike
            assert client.status(name).name == name
            assert client.managed_resources(name) and client.events(name) == []
            assert client.resource_tree(name)["nodes"]
        client.sync("team-b/checkout", "payments")
        emu.tick()
        clock.advance(1.0)
        emu.tick()
        assert client.status("team-b/checkout").operation_phase == "Succeeded"
        assert client.status("team-a/checkout").operation_phase == "Succeeded"  # the initial deploy only
        assert len(client.status("team-a/checkout").history) == 1
        assert len(client.status("team-b/checkout").history) == 2
        configured = argocd.ArgoCDClient(
            http, token=API_TOKEN, app_namespace="team-a"
        )  # argocd.app_namespace
        assert [s.name for s in configured.list_statuses()] == ["checkout", "team-b/checkout"]
        assert configured.status("checkout").history == client.status("team-a/checkout").history
        with pytest.raises(errors.ArgoCDPermissionDenied):
            client.status("checkout")  # a bare name means the control-plane namespace


def test_names_round_trip_with_a_configured_app_namespace(repo: Repo, clock: Clock) -> None:
    """A bare name means the client's default namespace (``argocd.app_namespace``, else the control
    plane's), so a selector can pick an app in either and every later per-app call reaches it."""
    from bot.observe import snapshot  # the resolution the cycle uses

    apps = [_app(repo, app_namespace="team-a", labels={"team": "a"}), _app(repo, "web", labels={"team": "w"})]
    with _emulator(clock, apps, namespaces=["team-.*"]) as emu, httpx.Client(base_url=emu.url) as http:
        for default, names in ((None, ["team-a/checkout", "web"]), ("team-a", ["checkout", "argocd/web"])):
            client = argocd.ArgoCDClient(http, token=API_TOKEN, app_namespace=default)
            statuses = client.list_statuses()
            assert [s.name for s in statuses] == names
            for labels, key in (({"team": "a"}, "checkout"), ({"team": "w"}, "web")):
                picked, why = snapshot._pick(snapshot.Target("x", None, labels, ()), snapshot.Index(statuses))
                assert picked is not None and why == ""
                assert client.status(picked.name).labels == labels  # appNamespace reaches the right app
                by_name, _ = snapshot._pick(snapshot.Target("x", key, None, ()), snapshot.Index(statuses))
                assert by_name == picked  # a bare configured name finds it in whichever namespace


# ----------------------------------------------------------------------------- 2. multi-source apps

CHART = "apiVersion: v2\nname: shop\nversion: 1.2.0\nappVersion: '1.0.0'\n"
CHART_VALUES = "image:\n  repository: ghcr.io/acme/shop\n  tag: '1.0.0'\nreplicaCount: 2\n"


def helm_repository(root: Path) -> Path:
    """The emulator's Helm repository: ``<repo>/<chart>/<version>/`` holds the unpacked chart."""
    chart = root / "charts" / "shop" / "1.2.0"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART)
    (chart / "values.yaml").write_text(CHART_VALUES)
    return root / "charts"


def values(tag: str) -> dict[str, str]:
    return {"apps/shop/values-prod.yaml": f"image:\n  tag: '{tag}'\n"}


def shop_sources(charts: Path, repo: Repo) -> tuple[dict[str, Any], ...]:
    return (
        {
            "repoURL": str(charts),
            "chart": "shop",
            "targetRevision": "1.2.0",
            "helm": {"valueFiles": ["$values/apps/shop/values-prod.yaml"]},
        },
        {"repoURL": str(repo.bare), "targetRevision": "main", "ref": "values"},
    )


def test_multi_source_status_is_index_aligned_and_the_client_pairs_it(
    tmp_path: Path, repo: Repo, clock: Clock
) -> None:
    """argocd-api.md section 4: ``status.sync.revisions[i]``, ``history[].revisions[i]`` and
    ``syncResult.revisions[i]`` belong to ``spec.sources[i]``; ``revision`` is empty, ``history[].source``
    is ``{"repoURL":""}``; a chart source carries its chart version where a Git source carries a SHA.
    The auto-sync operation has Sources + Revisions and no Source (appcontroller.go autoSync)."""
    good = repo.commit(values("1.0.0"), "shop 1.0.0")
    config = state.AppConfig(
        name="shop", repo_url="", project="shop", sources=shop_sources(helm_repository(tmp_path), repo),
        automated=True, labels={"team": "shop"},
    )  # fmt: skip
    with _emulator(clock, [config]) as emu, httpx.Client(base_url=emu.url) as http:
        bad = repo.commit(values("1.1.0"), "shop 1.1.0")
        emu.poll("shop")  # a poll sees the new commit and starts the auto-sync
        running = http.get("/api/v1/applications/shop", headers=AUTH).json()
        assert "revision" not in running["operation"]["sync"] and "source" not in running["operation"]["sync"]
        assert running["operation"]["sync"]["revisions"] == ["1.2.0", bad]
        emu.tick()
        clock.advance(1.0)
        emu.tick()
        raw = http.get("/api/v1/applications/shop", headers=AUTH).json()
        status = raw["status"]
        assert status["sync"]["revisions"] == ["1.2.0", bad] and "revision" not in status["sync"]
        assert [s.get("chart") for s in status["sync"]["comparedTo"]["sources"]] == ["shop", None]
        assert [h["revisions"] for h in status["history"]] == [["1.2.0", good], ["1.2.0", bad]]
        assert status["history"][-1]["source"] == {"repoURL": ""} and "revision" not in status["history"][-1]
        assert status["operationState"]["syncResult"]["revisions"] == ["1.2.0", bad]
        assert emu.live("shop")["workloads"][0]["images"] == {"shop": "ghcr.io/acme/shop:1.1.0"}

        _swagger_valid(raw)
        app = argocd.ArgoCDClient(http, token=API_TOKEN).status("shop")
        # The app's Git is the ref source holding its values: its SHA, never the chart version.
        assert (app.repo_url, app.revision, app.operation_revision) == (str(repo.bare), bad, bad)
        assert [d.revision for d in app.history] == [good, bad] and app.source_index == 1


def _swagger_valid(body: dict[str, Any]) -> None:
    """The multi-source body against the strict swagger schema (when ../shared is present)."""
    if not SWAGGER.is_file():
        return
    schema = {
        "$ref": "#/definitions/v1alpha1Application",
        "definitions": strict_definitions(json.loads(SWAGGER.read_text())),
    }
    problems = [e.message for e in jsonschema.Draft4Validator(schema).iter_errors(body)]
    assert not problems


def test_source_index_prefers_the_configured_repo_and_paths() -> None:
    sources = (
        model.AppSource("https://github.com/acme/platform.git", path="base", ref="base"),
        model.AppSource("https://charts.acme.io", chart="shop", value_files=("$values/apps/shop/v.yaml",)),
        model.AppSource("git@github.com:acme/deploy.git", ref="values"),
        model.AppSource("https://github.com/acme/deploy", path="apps/web"),
    )
    assert argoapp.source_index(sources) == 0  # no hint: the first Git source holding manifests
    assert argoapp.source_index(sources, "https://github.com/acme/deploy.git", ["apps/shop/**"]) == 2
    assert argoapp.source_index(sources, "https://github.com/acme/deploy.git", ["apps/web/"]) == 3
    assert argoapp.source_index(sources, "ssh://git@github.com/acme/platform", ()) == 0


# ----------------------------------------------------------------------------- 3. sessions


def test_session_expires_renewal_cookie_loses_to_bearer_and_the_client_logs_in_again(
    repo: Repo, clock: Clock
) -> None:
    """argocd-api.md section 1 (sessions last ``users.session.duration``, 24h by default) and server.go:
    a login token with under 5 minutes left is renewed through Set-Cookie only, and getToken prefers
    the Bearer header over the cookie, so a Bearer client is 401 ``invalid session`` at expiry."""
    with (
        _emulator(clock, [_app(repo)], session_duration=3600.0) as emu,
        httpx.Client(base_url=emu.url) as http,
    ):
        old = http.post("/api/v1/session", json={"username": "admin", "password": "password"}).json()["token"]
        clock.advance(3600 - 120)
        near = http.get("/api/v1/session/userinfo", headers={"Authorization": f"Bearer {old}"})
        renewed = near.cookies.get("argocd.token")
        assert near.status_code == 200 and renewed and renewed != old
        clock.advance(300)
        both = {"Authorization": f"Bearer {old}", "Cookie": f"argocd.token={renewed}"}
        dead = httpx.get(f"{emu.url}/api/v1/applications", headers=both)
        assert (dead.status_code, dead.json()["message"]) == (
            401,
            "invalid session: token has invalid claims: token is expired",
        )
        assert (
            httpx.get(f"{emu.url}/api/v1/applications", cookies={"argocd.token": renewed}).status_code == 200
        )

    with (
        _emulator(clock, [_app(repo)], session_duration=3600.0) as emu,
        httpx.Client(base_url=emu.url) as http,
    ):
        proactive = argocd.ArgoCDClient(http, clock=clock, renew_before=600.0)
        lazy = argocd.ArgoCDClient(httpx.Client(base_url=emu.url), clock=clock, renew_before=0.0)
        proactive.login("admin", "password")
        lazy.login("admin", "password")
        for _ in range(72):  # three days of hourly cycles
            clock.advance(3000.0)
            assert proactive.status("checkout").name == "checkout"
            assert lazy.status("checkout").name == "checkout"  # 401 "invalid session" -> login, retry once
        lazy.http.close()


def test_wrong_password_on_relogin_is_a_permanent_error(repo: Repo, clock: Clock) -> None:
    with _emulator(clock, [_app(repo)], session_duration=60.0) as emu, httpx.Client(base_url=emu.url) as http:
        client = argocd.ArgoCDClient(http, clock=clock)
        client.login("admin", "password")
        emu.users["admin"] = "rotated"
        clock.advance(120.0)
        with pytest.raises(errors.ArgoCDUnauthenticated, match="Invalid username or password") as exc:
            client.list_apps()
        assert not exc.value.temporary


# ----------------------------------------------------------------------------- 4. refresh blocks


def test_refresh_blocks_until_the_controller_reconciles_and_can_time_out(repo: Repo, clock: Clock) -> None:
    """argocd-api.md section 5.2 / application.go Get: ``?refresh=`` sets the refresh annotation and waits
    for the controller's reconcile; a busy controller keeps the caller waiting until it gives up."""
    with (
        _emulator(clock, [_app(repo)], refresh_deadline=0.3) as emu,
        httpx.Client(base_url=emu.url, timeout=5.0) as http,
    ):
        sha = repo.commit({"apps/checkout/app.yaml": CHECKOUT.replace("{tag}", "2.0.0")}, "2.0.0")
        emu.stall()
        reply = http.get("/api/v1/applications/checkout", params={"refresh": "normal"}, headers=AUTH)
        assert (reply.status_code, reply.json()["message"]) == (500, "application refresh deadline exceeded")
        pending = http.get("/api/v1/applications/checkout", headers=AUTH).json()
        assert pending["metadata"]["annotations"] == {"argocd.argoproj.io/refresh": "normal"}

        waited: list[dict[str, Any]] = []
        waiter = threading.Thread(
            target=lambda: waited.append(
                http.get("/api/v1/applications/checkout", params={"refresh": "hard"}, headers=AUTH).json()
            )
        )
        emu.refresh_deadline = 5.0
        waiter.start()
        waiter.join(0.2)
        assert waiter.is_alive()  # still blocked: nobody reconciled
        emu.stall(False)
        emu.tick()  # the controller takes the annotation off the queue
        waiter.join(5.0)
        assert waited[0]["status"]["sync"]["revision"] == sha and "annotations" not in waited[0]["metadata"]

        emu.stall()
        client = argocd.ArgoCDClient(http, token=API_TOKEN, refresh_timeout=0.2)
        with pytest.raises(errors.ArgoCDUnavailable, match="timed out") as exc:
            client.status("checkout", refresh="normal")
        assert exc.value.temporary
        assert client.refresh("checkout").name == "checkout"  # the wait failed; the current status instead


def test_multi_source_sync_takes_revisions_with_one_based_positions(
    tmp_path: Path, repo: Repo, clock: Clock
) -> None:
    """argocd-api.md section 4: ``revisions`` + ``sourcePositions`` (1-based) as parallel arrays; a
    position out of range is an error; overriding a source under auto-sync is 400 FailedPrecondition."""
    good = repo.commit(values("1.0.0"), "shop 1.0.0")
    bad = repo.commit(values("1.1.0"), "shop 1.1.0")
    sources = shop_sources(helm_repository(tmp_path), repo)
    config = state.AppConfig(name="shop", repo_url="", project="shop", sources=sources, automated=True)
    with _emulator(clock, [config]) as emu, httpx.Client(base_url=emu.url, headers=AUTH) as http:
        out_of_range = http.post(
            "/api/v1/applications/shop/sync", json={"revisions": [good], "sourcePositions": [3]}
        )
        assert (out_of_range.status_code, out_of_range.json()["code"]) == (400, 3)
        refused = http.post(
            "/api/v1/applications/shop/sync", json={"revisions": [good], "sourcePositions": [2]}
        )
        assert refused.status_code == 400 and refused.json()["message"] == (
            f"Cannot sync source {repo.bare} to {good}: auto-sync currently set to main"
        )
        argocd.ArgoCDClient(http, token=API_TOKEN).set_auto_sync("shop", False)
        pinned = http.post(
            "/api/v1/applications/shop/sync", json={"revisions": [good], "sourcePositions": [2]}
        )
        assert pinned.json()["operation"]["sync"]["revisions"] == ["1.2.0", good]
        for _ in range(2):
            emu.tick()
            clock.advance(1.0)
        rolled = http.post("/api/v1/applications/shop/rollback", json={"id": 0}).json()["operation"]["sync"]
        assert (rolled["revisions"], rolled["syncStrategy"]) == (
            ["1.2.0", bad],
            {"apply": {}},
        )  # the entry's own
