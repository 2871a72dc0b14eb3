"""Every JSON body the emulator returns validates against Argo CD's own swagger.json, made *stricter*.

Strictness added: every object definition gets ``additionalProperties: false`` (``allOf`` merged first),
so a key the real API does not have fails; ``v1Time`` must be RFC 3339 at second precision.
Relaxations, exactly where the swagger (generated from protobuf) disagrees with the Go-JSON wire:
``type: string, format: int64`` also accepts a JSON number (int64s are numbers on the wire), and
``v1MicroTime`` (Event ``eventTime``) is an RFC 3339 string or null, not ``{seconds, nanos}``.
Bodies must also be compact JSON without a trailing newline.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import httpx
import jsonschema
import pytest
from argokit import API_TOKEN, CHECKOUT, SHARED, Clock, Repo

from bot import errors
from bot.clients import argocd
from bot.sandbox.argocd import controller, server, state, workload

SWAGGER = SHARED / "reference" / "argocd" / "swagger.json"
GO_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"
ROUTES = [
    ("GET", r"/api/v1/applications", "v1alpha1ApplicationList"),
    ("GET|PATCH", r"/api/v1/applications/[^/]+", "v1alpha1Application"),
    ("POST", r"/api/v1/applications/[^/]+/(sync|rollback)", "v1alpha1Application"),
    ("GET", r"/api/v1/applications/[^/]+/resource-tree", "v1alpha1ApplicationTree"),
    ("GET", r"/api/v1/applications/[^/]+/managed-resources", "applicationManagedResourcesResponse"),
    ("GET", r"/api/v1/applications/[^/]+/events", "eventsEventList"),
    ("DELETE", r"/api/v1/applications/[^/]+/operation", "applicationOperationTerminateResponse"),
    ("POST", r"/api/v1/session", "sessionSessionResponse"),
    ("GET", r"/api/v1/session/userinfo", "sessionGetUserInfoResponse"),
    ("GET", r"/api/version", "versionVersionMessage"),
]


def strict_definitions(swagger: dict[str, Any]) -> dict[str, Any]:
    defs = copy.deepcopy(swagger["definitions"])
    for definition in defs.values():
        for part in definition.pop("allOf", []):
            ref = defs[part["$ref"].rsplit("/", 1)[1]]
            definition.setdefault("properties", {}).update(ref.get("properties", {}))
        if definition.get("type") == "object" and "additionalProperties" not in definition:
            definition.setdefault("properties", {})
            definition["additionalProperties"] = False

    def relax(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" and node.get("format") == "int64":
                node["type"] = ["string", "integer"]
            for value in node.values():
                relax(value)
        elif isinstance(node, list):
            for value in node:
                relax(value)

    relax(defs)
    defs["v1Time"] = {"type": "string", "pattern": TIME}
    defs["v1MicroTime"] = {
        "type": ["string", "null"],
        "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$",
    }
    return defs


def exercise(repo: Repo, clock: Clock) -> list[httpx.Response]:
    """Drive the emulator through many states and keep every response."""
    repo.commit(
        {
            "apps/cart/kustomization.yaml": "resources: [d.yaml]\nimages: [{name: cart, newTag: '2'}]\n"
            "configMapGenerator: [{name: cart, literals: [A=1]}]\n",
            "apps/cart/d.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: cart}\n"
            "spec: {template: {spec: {containers: [{name: c, image: 'cart:1'}]}}}\n",
            "apps/catalog/Chart.yaml": "name: catalog\n",
            "apps/catalog/values.yaml": "image: {repository: x/catalog, tag: '1'}\n"
            "autoscaling: {enabled: true}\nconfig: {A: 1}\n",
            "apps/secret/s.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: djE=}\n",
        }
    )
    apps = [
        state.AppConfig(
            name="checkout",
            repo_url=str(repo.bare),
            path="apps/checkout",
            target_revision="main",
            project="payments",
            labels={"team": "payments"},
            automated=True,
            self_heal=True,
            prune=True,
            sync_options=("CreateNamespace=true",),
        ),
        state.AppConfig(name="cart", repo_url=f"file://{repo.bare}", path="apps/cart", deployed=False),
        state.AppConfig(
            name="catalog",
            repo_url=str(repo.bare),
            path="apps/catalog",
            helm_parameters={"replicaCount": "2"},
        ),
        state.AppConfig(name="secret", repo_url=str(repo.bare), path="apps/secret"),
        state.AppConfig(name="broken", repo_url=str(repo.bare), path="apps/none"),
    ]
    responses: list[httpx.Response] = []
    settings = controller.Settings(poll_interval=60, poll_jitter=0, sync_duration=1)
    model = workload.DefaultModel(rollout_delay=1, progress_deadline=5)
    emu = server.ArgoCDEmulator(
        apps, tokens=[API_TOKEN], settings=settings, model=model, clock=clock, background=False
    )
    with (
        emu,
        httpx.Client(base_url=emu.url, event_hooks={"response": [responses.append]}) as http,
    ):
        client = argocd.ArgoCDClient(http, token=API_TOKEN, clock=clock)  # session expiry by the same clock
        raw_get = http.get

        def snapshot() -> None:
            client.list_apps()
            client.list_apps(fields=["metadata.name", "status.sync.status", "status.operationState.phase"])
            for name in emu.controller.apps:
                client.get(name)
                client.resource_tree(name)
                client.managed_resources(name)
                client.events(name)

        snapshot()
        client.login("admin", "password")
        client.userinfo()
        raw_get("/api/version")
        raw_get("/api/version", headers={"Authorization": f"Bearer {client.token}"})
        client.sync("cart", "default", argocd.SyncOptions(strategy="apply", sync_options=("Validate=false",)))
        client.sync(
            "catalog", "default", argocd.SyncOptions(resources=({"kind": "ConfigMap", "name": "catalog"},))
        )
        emu.set_image_behaviour("ghcr.io/acme/checkout:9*", "failing")
        repo.commit({"apps/checkout/app.yaml": CHECKOUT.replace("{tag}", "9.0.0")})
        client.get("checkout", "payments", refresh="hard")  # auto-sync requests an operation
        emu.tick()
        snapshot()  # operations running
        client.terminate_operation("catalog", "default")
        for _ in range(7):
            clock.advance(1)
            emu.tick()
        snapshot()  # Degraded checkout, failed catalog, synced cart
        client.set_auto_sync("checkout", False, "payments")
        client.rollback("checkout", 0, "payments")
        emu.inject_drift("cart", {"workload": "cart", "replicas": 3})
        emu.set_sync_error("secret", "denied")
        client.sync("secret")
        for _ in range(3):
            clock.advance(1)
            emu.tick()
        snapshot()
        client.sync("checkout")
        # Drop login's cookie: a non-JWT Bearer falls back to the cookie (server.go getToken).
        http.cookies.clear()
        for call in (
            lambda: client.get("nope"),
            lambda: client.get("nope", "x"),
            lambda: client.sync("checkout"),
            lambda: client.rollback("cart", 42),
            lambda: client.patch("cart", {}, patch_type="strategic"),
            lambda: client.list_apps(selector="a in b"),
            lambda: argocd.ArgoCDClient(http, token="not-a-jwt").list_apps(),
            lambda: client.terminate_operation("cart"),
        ):
            with pytest.raises(errors.ArgoCDError):
                call()
        http.post(
            "/api/v1/applications/cart/rollback",
            json={"id": "3"},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
    return responses


def test_every_emulator_body_validates_against_swagger(repo: Repo, clock: Clock) -> None:
    if not SWAGGER.is_file():
        pytest.skip("../shared is absent: swagger.json unavailable")
    defs = strict_definitions(json.loads(SWAGGER.read_text()))
    checked: dict[str, int] = {}
    for response in exercise(repo, clock):
        if response.headers["content-type"] != "application/json":
            assert response.status_code in (404, 405, 415)
            continue
        raw = response.read()
        body = json.loads(raw)
        compact = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        for char, escape in GO_HTML_ESCAPES.items():  # Go's json.Marshal escapes these
            compact = compact.replace(char, escape)
        assert not raw.endswith(b"\n") and raw == compact.encode()
        path, method = response.request.url.path, response.request.method
        if response.status_code >= 400:
            definition = "runtimeError"
            assert set(body) == {"error", "code", "message"} and body["error"] == body["message"]
        else:
            definition = next(d for m, p, d in ROUTES if method in m.split("|") and re.fullmatch(p, path))
        schema = {"$ref": f"#/definitions/{definition}", "definitions": defs}
        problems = sorted(jsonschema.Draft4Validator(schema).iter_errors(body), key=str)
        assert not problems, (
            f"{method} {path} vs {definition}: {problems[0].message} at {list(problems[0].absolute_path)}"
        )
        checked[definition] = checked.get(definition, 0) + 1
    print(f"swagger-validated bodies: {sum(checked.values())} {checked}")
    assert sum(checked.values()) >= 100
    assert set(checked) == {d for _, _, d in ROUTES} | {"runtimeError"}


def test_strict_schema_can_fail() -> None:
    if not SWAGGER.is_file():
        pytest.skip("../shared is absent: swagger.json unavailable")
    schema = {
        "$ref": "#/definitions/v1alpha1Application",
        "definitions": strict_definitions(json.loads(SWAGGER.read_text())),
    }
    validator = jsonschema.Draft4Validator(schema)
    assert validator.is_valid({"status": {"history": [{"id": 3, "deployedAt": "2026-04-10T12:02:58Z"}]}})
    assert not validator.is_valid(
        {"status": {"history": [{"id": 3, "deployedAt": "2026-04-10T12:02:58.123Z"}]}}
    )
    assert not validator.is_valid({"status": {"sync": {"status": "Synced", "revison": "typo"}}})
    assert not validator.is_valid({"metadata": {"generation": "3"}})
