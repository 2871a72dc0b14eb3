"""Request routing for the emulated Argo CD API and the emulator's admin endpoints.

``handle(emulator, request)`` applies the gateway's order of checks (Content-Type gate, route lookup
with plain-text 404/405, authentication, body decoding) and turns ``state.RequestError`` into the
grpc-gateway error body with the HTTP status of its gRPC code. Socket handling lives in ``server``;
app behaviour in ``controller``; this module must not format Applications itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.sandbox.argocd import controller, patches, state, views, wire

if TYPE_CHECKING:
    from bot.sandbox.argocd.server import ArgoCDEmulator

REFRESH = controller.REFRESH_ANNOTATION
HTTP_OF_CODE = {
    1: 408,
    2: 500,
    3: 400,
    4: 504,
    5: 404,
    6: 409,
    7: 403,
    8: 429,
    9: 400,
    10: 409,
    13: 500,
    14: 503,
    16: 401,
}
_GO_TYPES = {
    str: ("string", "string"),
    bool: ("bool", "bool"),
    int: ("number", "int64"),
    dict: ("object", "struct"),
    list: ("array", "slice"),
}
SYNC_FIELDS = {
    "revision": str,
    "prune": bool,
    "dryRun": bool,
    "strategy": dict,
    "syncOptions": dict,
    "resources": list,
    "project": str,
    "appNamespace": str,
    "retryStrategy": dict,
    "revisions": list,
    "sourcePositions": list,
}
ROLLBACK_FIELDS = {"id": int, "prune": bool, "dryRun": bool, "project": str, "appNamespace": str}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    raw: bytes
    content_type: str | None
    token: str | None

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # JSON-able, or bytes for plain text
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ctx:
    """What a route handler gets: the emulator, the request, the path match, the user and the JSON body."""

    emu: ArgoCDEmulator
    request: Request
    match: re.Match[str]
    user: str
    body: dict[str, Any]


Handler = Callable[[Ctx], Any]
Route = tuple[str, re.Pattern[str], Handler, bool]
ROUTES: list[Route] = []


def router(table: list[Route]) -> Callable[..., Callable[[Handler], Handler]]:
    """A decorator factory registering handlers into ``table``: ``@route("GET", regex, auth=True)``."""

    def route(method: str, pattern: str, *, auth: bool = True) -> Callable[[Handler], Handler]:
        def register(func: Handler) -> Handler:
            table.append((method, re.compile(f"^{pattern}$"), func, auth))
            return func

        return register

    return route


route = router(ROUTES)


def handle(emulator: ArgoCDEmulator, request: Request, routes: list[Route]) -> Reply:
    admin = request.path.startswith("/api/emulator/")
    if not admin and request.method != "GET" and (request.content_type or "").lower() != "application/json":
        return Reply(415, b"Invalid content type\n")
    matches = [(m, r) for r in routes if (m := r[1].match(request.path))]
    chosen = next(((m, r) for m, r in matches if r[0] == request.method), None)
    if chosen is None:
        return Reply(405, b"Method Not Allowed\n") if matches else Reply(404, b"Not Found\n")
    match, (_, _, func, needs_auth) = chosen
    renewed: dict[str, str] = {}
    try:
        user = emulator.authenticate(request.token) if needs_auth else ""
        if needs_auth and (fresh := emulator.renewal(request.token)):
            # server.go: a login token near expiry is renewed through Set-Cookie only; the Bearer header
            # the caller sends keeps winning over the cookie (getToken), so that token still expires.
            renewed = {"Set-Cookie": f"argocd.token={fresh}; path=/; SameSite=lax; httpOnly"}
        body = _decode(request.raw) if request.method != "GET" else {}
        with emulator.controller.lock:
            result = func(Ctx(emulator, request, match, user, body))
    except state.RequestError as exc:
        return Reply(HTTP_OF_CODE.get(exc.code, 500), wire.error(exc.code, exc.message))
    reply = result if isinstance(result, Reply) else Reply(200, result)
    return Reply(reply.status, reply.body, {**renewed, **reply.headers}) if renewed else reply


def _decode(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise state.RequestError(3, f"invalid character in request body: {exc}") from exc
    if not isinstance(body, dict):
        raise state.RequestError(3, "json: cannot unmarshal into Go value of type struct")
    return body


def _check_types(body: Mapping[str, Any], fields: Mapping[str, type], struct: str) -> None:
    for key, want in fields.items():
        value = body.get(key)
        if value is None or (isinstance(value, want) and not (want is int and isinstance(value, bool))):
            continue
        got = next((js for py, (js, _) in _GO_TYPES.items() if isinstance(value, py)), "number")
        raise state.RequestError(
            3,
            f"json: cannot unmarshal {got} into Go struct field {struct}.{key} of type {_GO_TYPES[want][1]}",
        )


def lookup(emulator: ArgoCDEmulator, name: str, project: str | None, app_namespace: str | None) -> state.App:
    """application.go getAppEnforceRBAC: the app is looked up in ``appNamespace``, else in the control-plane
    namespace; missing there -> 403 unless a project is named (then 404); a namespace that is not enabled
    (``application.namespaces``) -> 403 even with a project, since that lookup error is not NotFound."""
    namespace = app_namespace or wire.CONTROL_NAMESPACE
    if not emulator.namespace_enabled(namespace):
        raise state.RequestError(7, "permission denied")
    app = emulator.controller.apps.get(state.qualified(namespace, name))
    if project:
        if app is None or app.project != project:
            raise state.not_found(name)
    elif app is None:
        raise state.RequestError(7, "permission denied")
    return app


def _app_from_query(emulator: ArgoCDEmulator, request: Request, name: str) -> state.App:
    projects = [*request.query.get("project", []), *request.query.get("projects", [])]
    if len(projects) > 1:
        raise state.RequestError(3, "only one project may be specified")
    return lookup(emulator, name, projects[0] if projects else None, request.q("appNamespace"))


# ----------------------------------------------------------------------------- session and version


@route("GET", "/api/version", auth=False)
def version(c: Ctx) -> Any:
    try:
        c.emu.authenticate(c.request.token)
    except state.RequestError:
        return {"Version": "v3.5.1+emulator"}
    return {
        "Version": "v3.5.1+emulator",
        "BuildDate": "2026-08-20T00:00:00Z",
        "GitCommit": "0" * 40,
        "GitTag": "v3.5.1",
        "GitTreeState": "clean",
        "GoVersion": "go1.24",
        "Compiler": "gc",
        "Platform": "linux/amd64",
    }


@route("POST", "/api/v1/session", auth=False)
def login(c: Ctx) -> Any:
    username, password = c.body.get("username"), c.body.get("password")
    if not username or not password:
        raise state.RequestError(16, "no credentials supplied")
    if c.emu.users.get(str(username)) != password:
        raise state.RequestError(16, "Invalid username or password")
    token = c.emu.make_token(str(username))
    return Reply(
        200, {"token": token}, {"Set-Cookie": f"argocd.token={token}; path=/; SameSite=lax; httpOnly"}
    )


@route("DELETE", "/api/v1/session")
def logout(c: Ctx) -> Any:
    return Reply(200, {}, {"Set-Cookie": "argocd.token=; path=/; Max-Age=0"})


@route("GET", "/api/v1/session/userinfo")
def userinfo(c: Ctx) -> Any:
    return {"loggedIn": True, "username": c.user, "iss": "argocd"}


# ----------------------------------------------------------------------------- applications


LIST_FIELDS = {
    "metadata.name",
    "metadata.namespace",
    "metadata.annotations",
    "metadata.labels",
    "metadata.creationTimestamp",
    "metadata.deletionTimestamp",
    "spec",
    "spec.destination",
    "spec.project",
    "spec.source",
    "spec.sources",
    "spec.sourceHydrator",
    "spec.syncPolicy",
    "status.sourceHydrator",
    "status.summary",
    "status.health",
    "status.resources",
    "status.sync.status",
    "status.sync.revision",
    "status.operationState.startedAt",
    "status.operationState.finishedAt",
    "status.operationState.phase",
    "operation.sync",
}


@route("GET", "/api/v1/applications")
def list_apps(c: Ctx) -> Any:
    projects = set(c.request.query.get("projects", []) + c.request.query.get("project", []))
    selector = views.selector(c.request.q("selector") or "")
    repo, name, namespace = c.request.q("repo"), c.request.q("name"), c.request.q("appNamespace")
    apps = [
        app
        for app in sorted(c.emu.controller.apps.values(), key=lambda a: a.name)
        if c.emu.namespace_enabled(app.app_namespace)
        and (not namespace or app.app_namespace == namespace)
        and (not projects or app.project in projects)
        and selector(app.labels)
        and (not name or app.name == name)
        and (not repo or any(s.get("repoURL") == repo for s in [app.source, *app.sources]))
    ]
    items = [wire.application(app, with_health=False) for app in apps]
    wanted = [f.strip() for f in (c.request.q("fields") or "").split(",") if f.strip()]
    include = [f.removeprefix("items.").split(".") for f in wanted if not f.startswith("-")]
    include = [p for p in include if ".".join(p) in LIST_FIELDS]
    exclude = [f.removeprefix("-").removeprefix("items.").split(".") for f in wanted if f.startswith("-")]
    if include:
        items = [views.pick(item, include) for item in items]
    if exclude:
        items = [views.drop(item, exclude) for item in items]
    version = max((app.resource_version for app in c.emu.controller.apps.values()), default=1)
    return {"metadata": {"resourceVersion": str(version)}, "items": items}


@route("GET", "/api/v1/applications/(?P<name>[^/]+)")
def get_app(c: Ctx) -> Any:
    app = _app_from_query(c.emu, c.request, c.match["name"])
    if "refresh" in c.request.query:  # any value refreshes; only "hard" also drops the manifest cache
        _wait_for_refresh(c.emu, app, "hard" if c.request.q("refresh") == "hard" else "normal")
    return wire.application(app)


def _wait_for_refresh(emu: ArgoCDEmulator, app: state.App, kind: str) -> None:
    """application.go Get: annotate, then block until the controller has reconciled the app (holding no
    lock meanwhile); a busy controller makes the caller wait, and the server gives up with a plain error."""
    controller = emu.controller
    controller.request_refresh(app, kind)
    if not emu.background and not controller.stalled:
        controller.process_refresh(app)  # no controller thread: an idle controller picks it up at once
        return
    done = controller.refreshed.wait_for(
        lambda: REFRESH not in app.annotations or emu.stopping, timeout=emu.refresh_deadline
    )
    if not done or REFRESH in app.annotations:
        raise state.RequestError(2, "application refresh deadline exceeded")


@route("PATCH", "/api/v1/applications/(?P<name>[^/]+)")
def patch_app(c: Ctx) -> Any:
    app = lookup(c.emu, c.match["name"], c.body.get("project"), c.body.get("appNamespace"))
    kind = c.body.get("patchType") or ""
    if kind not in ("merge", "json", ""):
        raise state.RequestError(3, f"Patch type '{kind}' is not supported")
    try:
        patch = json.loads(str(c.body.get("patch") or ""))
    except ValueError as exc:
        raise state.RequestError(3, f"error unmarshaling patch: {exc}") from exc
    current = {"metadata": {"labels": app.labels, "annotations": app.annotations}, "spec": app.spec}
    patched = patches.merge_patch(current, patch) if kind == "merge" else patches.json_patch(current, patch)
    spec = patches.validate_spec(patched.get("spec"))
    meta = patched.get("metadata") or {}
    app.labels, app.annotations = dict(meta.get("labels") or {}), dict(meta.get("annotations") or {})
    source_changed = (spec.get("source"), spec.get("sources")) != (
        app.spec.get("source"),
        app.spec.get("sources"),
    )
    app.spec = spec
    c.emu.controller.touch(app, spec_changed=True)
    if source_changed:
        c.emu.controller.refresh(app.key)
    else:
        app.compare_at = c.emu.clock()  # a spec change (e.g. sync policy) triggers a comparison
    return wire.application(app)


@route("GET", "/api/v1/applications/(?P<name>[^/]+)/resource-tree")
def resource_tree(c: Ctx) -> Any:
    app = _app_from_query(c.emu, c.request, c.match["name"])
    return views.tree(app, c.emu.model, c.emu.clock())


@route("GET", "/api/v1/applications/(?P<name>[^/]+)/managed-resources")
def managed(c: Ctx) -> Any:
    app = _app_from_query(c.emu, c.request, c.match["name"])
    filters = {k: v for k in ("kind", "name", "namespace", "group") if (v := c.request.q(k))}
    return views.managed_resources(app, filters)


@route("GET", "/api/v1/applications/(?P<name>[^/]+)/events")
def events(c: Ctx) -> Any:
    return views.events(_app_from_query(c.emu, c.request, c.match["name"]))


@route("POST", "/api/v1/applications/(?P<name>[^/]+)/sync")
def sync(c: Ctx) -> Any:
    _check_types(c.body, SYNC_FIELDS, "ApplicationSyncRequest")
    app = lookup(c.emu, c.match["name"], c.body.get("project"), c.body.get("appNamespace"))
    c.emu.controller.request_sync(app, c.body, c.user)
    return wire.application(app)


@route("POST", "/api/v1/applications/(?P<name>[^/]+)/rollback")
def rollback(c: Ctx) -> Any:
    _check_types(c.body, ROLLBACK_FIELDS, "ApplicationRollbackRequest")
    app = lookup(c.emu, c.match["name"], c.body.get("project"), c.body.get("appNamespace"))
    c.emu.controller.request_rollback(
        app, int(c.body.get("id") or 0), bool(c.body.get("prune")), bool(c.body.get("dryRun")), c.user
    )
    return wire.application(app)


@route("DELETE", "/api/v1/applications/(?P<name>[^/]+)/operation")
def terminate(c: Ctx) -> Any:
    c.emu.controller.request_terminate(_app_from_query(c.emu, c.request, c.match["name"]))
    return {}
