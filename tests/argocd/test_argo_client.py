"""Client parsing of real recorded responses and error translation for shapes a server rarely produces."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from argokit import SHARED

from bot import errors, model
from bot.clients import argocd

RECORDED = SHARED / "reference" / "argocd" / "recorded"


def _recorded() -> dict[str, Any]:
    if not RECORDED.is_dir():
        pytest.skip("../shared is absent: recorded Argo CD responses unavailable")
    bodies: dict[str, Any] = {}
    for path in sorted(RECORDED.glob("*.json")):
        data = json.loads(path.read_text())
        if "result" in data:  # a watch event wraps the Application
            bodies[path.name] = data["result"]["application"]
        elif "metadata" in data:
            bodies[path.name] = data
        else:  # several fixtures in one file; Applications are the ones with a spec.destination
            for key, value in data.items():
                if "destination" in value.get("spec", {}):
                    bodies[f"{path.name}:{key}"] = value
    return bodies


def test_every_recorded_application_parses() -> None:
    bodies = _recorded()
    assert len(bodies) == 4  # sync reply, watch event, create reply, sync reply (roadie)
    parsed = {name: argocd.parse_app(body) for name, body in bodies.items()}

    sync = parsed["sync-response.whh881114-documents.json"]
    assert (sync.name, sync.sync, sync.health, sync.operation_running) == (
        "simple-java-maven-app",
        model.SyncStatus.OUT_OF_SYNC,
        model.HealthStatus.HEALTHY,
        True,
    )
    assert sync.revision == "0f02621d4010ebb6ca25994f0bfaffc973e45287" and sync.operation_phase is None
    assert (
        sync.history[0].id == 0 and len(sync.history) > 3 and all(isinstance(d.id, int) for d in sync.history)
    )
    assert sync.reconciled_at == datetime(2025, 5, 29, 10, 5, 30, tzinfo=UTC)
    assert not sync.auto_sync and len(sync.images) == 2

    watch = parsed["watch-event.devtron-dashboard.json"]
    assert (watch.operation_phase, watch.operation_revision, watch.auto_sync, watch.self_heal) == (
        "Failed",
        "d4482964ef6179da5bcd8e2ce6db58411e312e94",
        True,
        False,
    )
    assert watch.operation_finished_at == datetime(2022, 10, 31, 8, 47, 15, tzinfo=UTC)

    created = parsed["create-and-sync-responses.roadie-backstage-plugins.json:argocdCreateApplicationResp"]
    assert (created.sync, created.health, created.revision, created.history) == (
        model.SyncStatus.UNKNOWN,
        model.HealthStatus.UNKNOWN,
        "",
        (),
    )
    assert created.auto_sync and created.self_heal and created.labels == {"backstage-name": "backstagemanual"}

    roadie = parsed["create-and-sync-responses.roadie-backstage-plugins.json:syncResp"]
    assert (
        roadie.operation_running and [d.id for d in roadie.history] == [0, 1] and roadie.target_revision == ""
    )


def test_multi_source_and_disabled_automation() -> None:
    raw: argocd.Application = {
        "metadata": {"name": "shop"},
        "spec": {
            "sources": [
                {"repoURL": "https://x/values.git", "ref": "values"},
                {"repoURL": "https://x/app.git", "path": "charts/shop", "targetRevision": "main"},
            ],
            "project": "p",
            "syncPolicy": {"automated": {"selfHeal": True, "enabled": False}},
        },
        "status": {
            "sync": {"status": "Synced", "revisions": ["abc", "def"]},
            "history": [{"id": 4, "revisions": ["abc", "def"], "deployedAt": "2026-04-10T12:02:58Z"}],
        },
    }
    app = argocd.parse_app(raw)
    # revisions[i] belongs to sources[i] (argocd-api.md section 4): app.git is sources[1], so "def".
    assert (app.repo_url, app.path, app.revision, app.history[0].revision) == (
        "https://x/app.git",
        "charts/shop",
        "def",
        "def",
    )
    assert app.revisions == ("abc", "def") and app.source_index == 1
    assert not app.auto_sync and not app.self_heal
    assert argocd.parse_app({}).name == "" and argocd.parse_time("garbage") is None


def test_sync_body_is_what_the_api_wants() -> None:
    options = argocd.SyncOptions(
        revision="9b1f",
        prune=True,
        strategy="apply",
        sync_options=("ApplyOutOfSyncOnly=true",),
        resources=({"group": "apps", "kind": "Deployment", "name": "checkout"},),
    )
    assert options.body() == {
        "prune": True,
        "dryRun": False,
        "revision": "9b1f",
        "strategy": {"apply": {}},
        "syncOptions": {"items": ["ApplyOutOfSyncOnly=true"]},
        "resources": [{"group": "apps", "kind": "Deployment", "name": "checkout"}],
    }
    assert argocd.SyncOptions().body() == {"prune": False, "dryRun": False}


def _client(handler: Any) -> argocd.ArgoCDClient:
    return argocd.ArgoCDClient(
        httpx.Client(transport=httpx.MockTransport(handler), base_url="http://argo"), token="a.b.c"
    )


@pytest.mark.parametrize(
    ("status", "body", "expected", "temporary"),
    [
        (
            400,
            {"error": "x", "code": 9, "message": "another operation is already in progress"},
            errors.ArgoCDFailedPrecondition,
            True,
        ),
        (
            401,
            {"error": "x", "code": 16, "message": "invalid session: token is expired"},
            errors.ArgoCDUnauthenticated,
            False,
        ),
        (400, {"error": "x", "code": 3, "message": "bad id"}, errors.ArgoCDInvalidArgument, False),
        (503, {"error": "x", "code": 14, "message": "connection refused"}, errors.ArgoCDUnavailable, True),
        (500, {"error": "x", "code": 2, "message": "rpc error"}, errors.ArgoCDUnavailable, True),
        (404, "Not Found\n", errors.ArgoCDNotFound, False),
        (405, "Method Not Allowed\n", errors.ArgoCDInvalidArgument, False),
        (415, "Invalid content type\n", errors.ArgoCDInvalidArgument, False),
        (502, "<html>bad gateway</html>", errors.ArgoCDUnavailable, True),
        # The HTTP status decides retrying: 5xx (and 408/429) temporary, other 4xx permanent, whatever the
        # gRPC code (argocd-api.md section 0 table); FailedPrecondition is the documented 4xx exception.
        (
            504,
            {"error": "x", "code": 4, "message": "context deadline exceeded"},
            errors.ArgoCDUnavailable,
            True,
        ),
        (500, {"error": "x", "code": 3, "message": "odd"}, errors.ArgoCDUnavailable, True),
        (
            429,
            {"error": "x", "code": 8, "message": "too many login attempts"},
            errors.ArgoCDUnavailable,
            True,
        ),
        (409, {"error": "x", "code": 10, "message": "conflict"}, errors.ArgoCDInvalidArgument, False),
        (400, {"error": "x", "code": 12, "message": "unimplemented"}, errors.ArgoCDInvalidArgument, False),
    ],
)
def test_error_translation(
    status: int, body: object, expected: type[errors.ArgoCDError], temporary: bool
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    with pytest.raises(expected) as exc:
        _client(handler).sync("checkout", "payments")
    err = exc.value
    assert (
        type(err) is expected
        and err.temporary is temporary
        and err.status == status
        and err.app == "checkout"
    )
    assert err.url == "http://argo/api/v1/applications/checkout/sync" and err.payload


def test_transport_failures_are_temporary() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def not_json(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>login</html>")

    for handler in (refuse, slow, not_json):
        with pytest.raises(errors.ArgoCDUnavailable) as exc:
            _client(handler).get("checkout")
        assert exc.value.temporary and exc.value.app == "checkout"


def test_requests_carry_project_content_type_and_bearer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    client = _client(handler)
    client.get("checkout", "payments", refresh="hard")
    client.terminate_operation("checkout", "payments")
    client.patch("checkout", {"spec": {"syncPolicy": None}}, "payments")
    client.list_apps(selector="team=a", projects=["a", "b"], fields=["metadata.name", "-status.resources"])
    get, delete, patch, listing = seen
    assert get.url.params["refresh"] == "hard" and get.url.params["project"] == "payments"
    assert "Content-Type" not in get.headers and get.headers["Authorization"] == "Bearer a.b.c"
    assert delete.headers["Content-Type"] == "application/json" and delete.content == b""
    assert json.loads(patch.content) == {
        "patch": '{"spec":{"syncPolicy":null}}',
        "patchType": "merge",
        "project": "payments",
    }
    assert listing.url.params.get_list("projects") == ["a", "b"]
    assert listing.url.params["fields"] == "items.metadata.name,-items.status.resources"


def test_shared_dir_resolution_is_relative_to_repo() -> None:
    assert SHARED.resolve() == (Path(__file__).resolve().parents[2].parent / "shared").resolve()
