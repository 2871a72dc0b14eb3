"""Argo CD REST client: the only module that talks to Argo CD's API server (over an injected httpx.Client).

It sends requests exactly as the grpc-gateway wants them (Content-Type on every non-GET, ``syncOptions``
as ``{"items": [...]}``, ``project`` whenever known) and translates every failure into the
``errors.ArgoCDError`` subtree by gRPC code. It parses Applications into ``model.AppStatus`` but makes
no decisions: retries, waiting and verification belong to the callers.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict, cast
from urllib.parse import quote

import httpx

from bot import errors, model
from bot.clients import retry as retrying

JSON_HEADERS = {"Content-Type": "application/json"}


# ----------------------------------------------------------------------------- raw JSON (partial shapes)
class Source(TypedDict, total=False):
    repoURL: str
    path: str
    targetRevision: str
    chart: str
    ref: str


class Automated(TypedDict, total=False):
    prune: bool
    selfHeal: bool
    allowEmpty: bool
    enabled: bool


class SyncPolicy(TypedDict, total=False):
    automated: Automated
    syncOptions: list[str]


class Spec(TypedDict, total=False):
    source: Source
    sources: list[Source]
    destination: dict[str, str]
    project: str
    syncPolicy: SyncPolicy


class HistoryEntry(TypedDict, total=False):
    id: int
    revision: str
    revisions: list[str]
    deployedAt: str
    deployStartedAt: str
    source: Source
    initiatedBy: dict[str, Any]


class OperationState(TypedDict, total=False):
    operation: dict[str, Any]
    phase: str
    message: str
    syncResult: dict[str, Any]
    startedAt: str
    finishedAt: str | None


class Status(TypedDict, total=False):
    resources: list[dict[str, Any]]
    sync: dict[str, Any]
    health: dict[str, str]
    history: list[HistoryEntry]
    conditions: list[dict[str, str]]
    reconciledAt: str
    operationState: OperationState
    summary: dict[str, list[str]]


class Application(TypedDict, total=False):
    metadata: dict[str, Any]
    spec: Spec
    status: Status
    operation: dict[str, Any]


class ResourceNode(TypedDict, total=False):
    group: str
    kind: str
    namespace: str
    name: str
    parentRefs: list[dict[str, str]]
    images: list[str]
    health: dict[str, str]


class ApplicationTree(TypedDict, total=False):
    nodes: list[ResourceNode]
    orphanedNodes: list[ResourceNode]


class ResourceDiff(TypedDict, total=False):
    group: str
    kind: str
    namespace: str
    name: str
    targetState: str
    liveState: str
    modified: bool


Event = dict[str, Any]  # core/v1 Event: reason, message, type, firstTimestamp, lastTimestamp, count


class GatewayError(TypedDict):
    error: str
    code: int
    message: str
    details: NotRequired[list[Any]]


# ----------------------------------------------------------------------------- errors

_BY_CODE: dict[int, type[errors.ArgoCDError]] = {
    **dict.fromkeys((3, 6), errors.ArgoCDInvalidArgument),  # AlreadyExists: we never create, our mistake
    **dict.fromkeys((5,), errors.ArgoCDNotFound),
    **dict.fromkeys((7,), errors.ArgoCDPermissionDenied),
    **dict.fromkeys((9,), errors.ArgoCDFailedPrecondition),  # e.g. another operation is in progress
    **dict.fromkeys((16,), errors.ArgoCDUnauthenticated),
    # Unknown/Internal mostly wrap repo-server or k8s hiccups, so they count as temporary with the rest.
    **dict.fromkeys((1, 2, 4, 8, 10, 13, 14), errors.ArgoCDUnavailable),
}
# for plain-text gateway replies; 429 is ResourceExhausted (8), as grpc-gateway maps it
_CODE_OF_STATUS = {400: 3, 401: 16, 403: 7, 404: 5, 405: 3, 415: 3, 429: 8}


def error_from_response(response: httpx.Response, app: str | None = None) -> errors.ArgoCDError:
    """Translate a non-2xx response (gateway JSON or plain text) into the typed error for its gRPC code."""
    status, text = response.status_code, response.text
    url = str(response.request.url)
    body: object
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("code"), int):
        gateway = cast(GatewayError, parsed)
        code, message, body = gateway["code"], gateway.get("message") or gateway.get("error", ""), gateway
    else:
        code, message, body = _CODE_OF_STATUS.get(status, 14 if status >= 500 else 3), text.strip(), text
        if status == 415:
            message += " (the server wants Content-Type exactly application/json)"
        elif status in (404, 405):
            message += " (route unknown to this Argo CD version)"
    cls = _BY_CODE.get(code, errors.ArgoCDInvalidArgument)
    exc = cls(message or response.reason_phrase, app=app, url=url, status=status, payload=body)
    retrying.note_retry_after(exc, response.headers)
    return exc


# ----------------------------------------------------------------------------- parsing


def parse_time(value: object) -> datetime | None:
    """RFC 3339 (second or sub-second precision) -> aware datetime; ``None``/empty/garbage -> None."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed.replace(tzinfo=parsed.tzinfo or UTC) if parsed else None


def _enum(cls: type[model.SyncStatus] | type[model.HealthStatus], value: object) -> Any:
    try:
        return cls(str(value))
    except ValueError:
        return cls.UNKNOWN


def primary_source(spec: Spec) -> Source:
    """The single source, or the first non-``ref`` source of a multi-source app ({} if none)."""
    return spec.get("source") or next((s for s in spec.get("sources") or [] if not s.get("ref")), Source())


def _first(single: object, many: object) -> str:
    """``revision`` of a single-source app, else ``revisions[0]`` of a multi-source one."""
    if isinstance(single, str) and single:
        return single
    return str(many[0]) if isinstance(many, list) and many else ""


def parse_app(raw: Application) -> model.AppStatus:
    """Tolerant: every field may be missing (filtered lists, brand-new apps, old server versions)."""
    meta = raw.get("metadata") or {}
    spec = raw.get("spec") or cast(Spec, {})
    status = raw.get("status") or cast(Status, {})
    source = primary_source(spec)
    automated = (spec.get("syncPolicy") or {}).get("automated")
    auto_sync = automated is not None and automated.get("enabled", True) is not False
    sync = status.get("sync") or {}
    health = status.get("health") or {}
    op_state = status.get("operationState") or cast(OperationState, {})
    result = op_state.get("syncResult") or {}
    op_sync = (op_state.get("operation") or {}).get("sync") or {}
    history = tuple(
        model.Deployment(
            id=int(entry.get("id", 0)),
            revision=_first(entry.get("revision"), entry.get("revisions")),
            deployed_at=parse_time(entry.get("deployedAt")),
            started_at=parse_time(entry.get("deployStartedAt")),
        )
        for entry in status.get("history") or []
    )
    return model.AppStatus(
        name=str(meta.get("name", "")),
        project=spec.get("project", ""),
        repo_url=source.get("repoURL", ""),
        path=source.get("path", ""),
        target_revision=source.get("targetRevision", ""),
        sync=_enum(model.SyncStatus, sync.get("status")),
        health=_enum(model.HealthStatus, health.get("status")),
        revision=_first(sync.get("revision"), sync.get("revisions")),
        namespace=(spec.get("destination") or {}).get("namespace", ""),
        labels=dict(meta.get("labels") or {}),
        auto_sync=auto_sync,
        self_heal=auto_sync and bool((automated or {}).get("selfHeal")),
        reconciled_at=parse_time(status.get("reconciledAt")),
        operation_phase=op_state.get("phase") or None,
        operation_revision=_first(result.get("revision"), result.get("revisions"))
        or _first(op_sync.get("revision"), op_sync.get("revisions"))
        or None,
        operation_started_at=parse_time(op_state.get("startedAt")),
        operation_finished_at=parse_time(op_state.get("finishedAt")),
        operation_running="operation" in raw,
        history=history,
        images=tuple((status.get("summary") or {}).get("images") or ()),
        health_message=health.get("message", ""),
    )


# ----------------------------------------------------------------------------- the client

Refresh = Literal["normal", "hard"]
Strategy = Literal["hook", "apply"]
Name = str | None
App = Application


@dataclass(frozen=True)
class Call:
    """One request's variable parts."""

    params: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class SyncOptions:
    """The sync request body; ``sync_options`` travel as ``{"items": [...]}``, not a bare list."""

    revision: str = ""
    prune: bool = False
    dry_run: bool = False
    strategy: Strategy | None = None  # None: the server's default (hook)
    sync_options: tuple[str, ...] = ()
    resources: tuple[Mapping[str, str], ...] = ()  # non-empty: a partial sync, not written to history

    def body(self) -> dict[str, Any]:
        optional: dict[str, Any] = {
            "revision": self.revision,
            "strategy": {self.strategy: {}} if self.strategy else None,
            "syncOptions": {"items": list(self.sync_options)} if self.sync_options else None,
            "resources": [dict(r) for r in self.resources],
        }
        return {"prune": self.prune, "dryRun": self.dry_run, **{k: v for k, v in optional.items() if v}}


class ArgoCDClient:
    """Thin typed wrapper; ``http`` carries base_url, TLS and the default timeout."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        token: str | None = None,
        refresh_timeout: float = 120.0,
        retry: retrying.Retry | None = None,
    ) -> None:
        self.http = http
        # one attempt unless the caller (the wiring) gives a policy: tests of error shapes stay exact
        self.retry = retry if retry is not None else retrying.Retry(attempts=1)
        self.token = token
        self.refresh_timeout = refresh_timeout

    def _request(self, method: str, path: str, app: Name = None, call: Call | None = None) -> Any:
        # reads are retried on any temporary error, writes only when the server surely did not act
        once = lambda: self._request_once(method, path, app, call)  # noqa: E731
        return self.retry.call("argocd", once, idempotent=method == "GET")

    def _request_once(self, method: str, path: str, app: Name, call: Call | None) -> Any:
        call = call or Call()
        headers = dict(JSON_HEADERS) if method != "GET" else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        query = {k: v for k, v in call.params.items() if v not in (None, "", [], ())}
        content = None if call.body is None else json.dumps(call.body, separators=(",", ":"))
        wait = call.timeout if call.timeout is not None else httpx.USE_CLIENT_DEFAULT
        try:
            response = self.http.request(
                method, path, params=query, content=content, headers=headers, timeout=wait
            )
        except httpx.TimeoutException as exc:
            raise errors.ArgoCDUnavailable(f"timed out: {exc}", app=app, url=path) from exc
        except httpx.TransportError as exc:
            raise errors.ArgoCDUnavailable(f"cannot reach Argo CD: {exc}", app=app, url=path) from exc
        if response.status_code >= 400:
            raise error_from_response(response, app)
        try:
            return response.json()
        except ValueError as exc:
            status, text = response.status_code, response.text
            raise errors.ArgoCDUnavailable(
                "not JSON", app=app, url=path, status=status, payload=text
            ) from exc

    def _app(
        self, method: str, name: str, suffix: str = "", project: Name = None, call: Call | None = None
    ) -> Any:
        """Per-app call; ``project`` goes in the body of writes, else the query (404 instead of 403)."""
        call = call or Call()
        if project and call.body is not None:
            call = dataclasses.replace(call, body={**call.body, "project": project})
        elif project:
            call = dataclasses.replace(call, params={**call.params, "project": project})
        return self._request(method, f"/api/v1/applications/{quote(name, safe='')}{suffix}", name, call)

    # -- auth

    def login(self, username: str, password: str) -> str:
        """Session login; the token is kept for later calls and returned."""
        body = {"username": username, "password": password}
        self.token = str(self._request("POST", "/api/v1/session", None, Call(body=body)).get("token", ""))
        if not self.token:
            raise errors.ArgoCDUnauthenticated("session login returned no token", url="/api/v1/session")
        return self.token

    def userinfo(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._request("GET", "/api/v1/session/userinfo"))

    # -- reads

    def list_apps(
        self, selector: str = "", projects: Sequence[str] = (), fields: Sequence[str] = ()
    ) -> list[App]:
        """``fields`` without the ``items.`` prefix, e.g. ``status.sync.status``; a leading ``-`` excludes."""
        wanted = ",".join(f"-items.{f[1:]}" if f.startswith("-") else f"items.{f}" for f in fields)
        params = {"selector": selector, "projects": list(projects), "fields": wanted}
        return cast(
            list[App], self._request("GET", "/api/v1/applications", None, Call(params)).get("items") or []
        )

    def list_statuses(self, selector: str = "", projects: Sequence[str] = ()) -> list[model.AppStatus]:
        return [parse_app(app) for app in self.list_apps(selector, projects)]

    def get(self, name: str, project: Name = None, refresh: Refresh | None = None) -> App:
        """With ``refresh`` the server re-resolves Git and blocks until reconciled: longer timeout."""
        call = Call({"refresh": refresh or ""}, timeout=self.refresh_timeout if refresh else None)
        return cast(App, self._app("GET", name, "", project, call))

    def status(self, name: str, project: Name = None, refresh: Refresh | None = None) -> model.AppStatus:
        return parse_app(self.get(name, project, refresh))

    def resource_tree(self, name: str, project: Name = None) -> ApplicationTree:
        return cast(ApplicationTree, self._app("GET", name, "/resource-tree", project))

    def managed_resources(self, name: str, project: Name = None, **filters: str) -> list[ResourceDiff]:
        """``filters``: kind, name, namespace, group, version (server-side)."""
        data = self._app("GET", name, "/managed-resources", project, Call(dict(filters)))
        return cast(list[ResourceDiff], data.get("items") or [])

    def events(self, name: str, project: Name = None) -> list[Event]:
        return cast(list[Event], self._app("GET", name, "/events", project).get("items") or [])

    # -- writes

    def sync(self, name: str, project: Name = None, options: SyncOptions | None = None) -> App:
        """Returns the app with ``operation`` set and no operationState; the sync completes asynchronously."""
        body = (options or SyncOptions()).body()
        return cast(App, self._app("POST", name, "/sync", project, Call(body=body)))

    def rollback(self, name: str, history_id: int, project: Name = None, *, prune: bool = False) -> App:
        """``history_id`` is ``status.history[].id``, not a list index; refused while auto-sync is on."""
        body = {"id": history_id, "prune": prune, "dryRun": False}
        return cast(App, self._app("POST", name, "/rollback", project, Call(body=body)))

    def terminate_operation(self, name: str, project: Name = None) -> None:
        # Body-less, but _request still sends Content-Type: application/json (415 otherwise).
        self._app("DELETE", name, "/operation", project)

    def patch(
        self, name: str, patch: Mapping[str, Any], project: Name = None, patch_type: str = "merge"
    ) -> App:
        """The patch travels as a JSON *string* inside the request body."""
        body = {"patch": json.dumps(patch, separators=(",", ":")), "patchType": patch_type}
        return cast(App, self._app("PATCH", name, "", project, Call(body=body)))

    def set_auto_sync(self, name: str, enabled: bool, project: Name = None) -> App:
        """Toggle ``automated.enabled`` (Argo CD >= 3.1), keeping the rest of the sync policy."""
        return self.patch(name, {"spec": {"syncPolicy": {"automated": {"enabled": enabled}}}}, project)
