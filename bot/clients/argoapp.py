"""Argo CD Application JSON -> ``model.AppStatus``: the raw shapes (partial TypedDicts) and pure parsing.

Two rules that the real server makes easy to get wrong: an app outside the control-plane namespace is
named ``namespace/name`` (the CLI's qualified name), and in a multi-source app every revision is an
index-aligned list (``status.sync.revisions[i]`` belongs to ``spec.sources[i]``, argocd-api.md section
4), so the status is focused on the Git source that holds the app's manifests or values. No I/O.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict, cast

from bot import model

CONTROL_NAMESPACE = "argocd"  # Argo CD's default install namespace, when status.controllerNamespace is absent


# ----------------------------------------------------------------------------- raw JSON (partial shapes)
class Source(TypedDict, total=False):
    repoURL: str
    path: str
    targetRevision: str
    chart: str
    ref: str
    helm: dict[str, Any]
    kustomize: dict[str, Any]


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
    sources: list[Source]
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
    controllerNamespace: str
    sourceType: str


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
    info: list[dict[str, str]]  # e.g. {"name": "Revision", "value": "Rev:3"}


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


# ----------------------------------------------------------------------------- parsing


def parse_time(value: object) -> datetime | None:
    """RFC 3339 (second or sub-second precision) -> aware datetime; ``None``/empty/garbage -> None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)  # 3.11 reads the ``Z`` suffix itself
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


_SYNC = {m.value: m for m in model.SyncStatus}
_HEALTH = {m.value: m for m in model.HealthStatus}


def _enum(cls: type[model.SyncStatus] | type[model.HealthStatus], value: object) -> Any:
    members: dict[str, Any] = _SYNC if cls is model.SyncStatus else _HEALTH
    return members.get(value if isinstance(value, str) else str(value), cls.UNKNOWN)


def primary_source(spec: Spec) -> Source:
    """The single source, or the first non-``ref`` source of a multi-source app ({} if none)."""
    return spec.get("source") or next((s for s in spec.get("sources") or [] if not s.get("ref")), Source())


def qualified_name(meta: dict[str, Any], status: Status, default_namespace: str | None = None) -> str:
    """``name`` in the default namespace (the configured ``app_namespace``, else the control plane's),
    else ``namespace/name``: a bare name always means the namespace the client sends for bare names."""
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace") or "")
    default = default_namespace or status.get("controllerNamespace") or CONTROL_NAMESPACE
    return name if namespace in ("", default) else f"{namespace}/{name}"


def split_name(name: str) -> tuple[str, str]:
    """``ns/name`` -> (ns, name); a bare name -> ("", name)."""
    namespace, _, bare = name.rpartition("/")
    return namespace, bare


def _sources(spec: Spec) -> tuple[model.AppSource, ...]:
    return tuple(
        model.AppSource(
            repo_url=s.get("repoURL", ""),
            path=s.get("path", ""),
            target_revision=s.get("targetRevision", ""),
            chart=s.get("chart", ""),
            ref=s.get("ref", ""),
            value_files=tuple(str(f) for f in (s.get("helm") or {}).get("valueFiles") or ()),
        )
        for s in spec.get("sources") or []
    )


@functools.lru_cache(maxsize=4096)  # a fleet has few repos and lists them once per app per cycle
def repo_key(url: str) -> str:
    """Compare clone URLs loosely: scheme, credentials, ``git@host:``, ``.git`` and slashes do not matter."""
    text = url.strip().lower().removeprefix("file://")
    text = re.sub(r"^[a-z+]+://", "", text)
    text = re.sub(r"^[^@/]+@", "", text)
    text = re.sub(r"^([^/:]+):(?!\d)", r"\1/", text)
    return text.rstrip("/").removesuffix(".git").rstrip("/")


def _overlaps(place: str, paths: Sequence[str]) -> bool:
    clean = place.strip("/").removeprefix("./")
    for pattern in paths:
        head = pattern.split("*", 1)[0].strip("/")
        if fnmatch.fnmatchcase(clean, pattern) or not head or not clean:
            return True
        if clean == head or clean.startswith(head + "/") or head.startswith(clean + "/"):
            return True
    return False


def source_index(sources: Sequence[model.AppSource], repo_url: str = "", paths: Sequence[str] = ()) -> int:
    """Which source is "the app's Git": a Git (non-chart) source, in ``repo_url`` when given, holding the
    app's manifests (its ``path``) or its values (a ``ref`` whose ``$ref/...`` value files another source
    reads), under ``paths`` when given. Helm-repository sources carry chart versions, never SHAs."""
    git = [i for i, s in enumerate(sources) if not s.chart]
    if repo_url:
        git = [i for i in git if repo_key(sources[i].repo_url) == repo_key(repo_url)] or git

    def places(i: int) -> list[str]:
        s, found = sources[i], [sources[i].path] if sources[i].path else []
        if s.ref:
            prefix = f"${s.ref}/"
            found += [f[len(prefix) :] for o in sources for f in o.value_files if f.startswith(prefix)]
        return found

    held = [i for i in git if places(i) and (not paths or any(_overlaps(p, paths) for p in places(i)))]
    return (held or git or [0])[0]


def _at(values: Sequence[str], index: int) -> str:
    return str(values[index]) if 0 <= index < len(values) else ""


def focus(app: model.AppStatus, index: int) -> model.AppStatus:
    """The status as seen from ``sources[index]``: its repo, path and revisions everywhere."""
    if not app.sources:
        return app
    source = app.sources[index] if index < len(app.sources) else model.AppSource("")
    history = tuple(dataclasses.replace(d, revision=_at(d.revisions, index)) for d in app.history)
    return dataclasses.replace(
        app,
        repo_url=source.repo_url,
        path=source.path,
        target_revision=source.target_revision,
        revision=_at(app.revisions, index),
        operation_revision=_at(app.operation_revisions, index) or None,
        history=history,
        source_index=index,
    )


def _list(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _source_type(source: Source) -> str:
    """What Argo CD would report as ``status.sourceType`` before the first reconciliation."""
    if source.get("chart") or "helm" in source:
        return "Helm"
    if "kustomize" in source:
        return "Kustomize"
    return "Directory" if source.get("path") else ""


def parse_app(raw: Application, default_namespace: str | None = None) -> model.AppStatus:
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
            revision=str(entry.get("revision") or ""),
            deployed_at=parse_time(entry.get("deployedAt")),
            started_at=parse_time(entry.get("deployStartedAt")),
            revisions=_list(entry.get("revisions")),
        )
        for entry in status.get("history") or []
    )
    parsed = model.AppStatus(
        name=qualified_name(meta, status, default_namespace),
        project=spec.get("project", ""),
        repo_url=source.get("repoURL", ""),
        path=source.get("path", ""),
        target_revision=source.get("targetRevision", ""),
        sync=_enum(model.SyncStatus, sync.get("status")),
        health=_enum(model.HealthStatus, health.get("status")),
        revision=str(sync.get("revision") or ""),
        namespace=(spec.get("destination") or {}).get("namespace", ""),
        labels=dict(meta.get("labels") or {}),
        auto_sync=auto_sync,
        self_heal=auto_sync and bool((automated or {}).get("selfHeal")),
        reconciled_at=parse_time(status.get("reconciledAt")),
        operation_phase=op_state.get("phase") or None,
        operation_revision=result.get("revision") or op_sync.get("revision") or None,
        operation_started_at=parse_time(op_state.get("startedAt")),
        operation_finished_at=parse_time(op_state.get("finishedAt")),
        operation_running="operation" in raw,
        history=history,
        images=tuple((status.get("summary") or {}).get("images") or ()),
        health_message=health.get("message", ""),
        health_since=parse_time(health.get("lastTransitionTime")),
        app_namespace=str(meta.get("namespace") or ""),
        annotations=dict(meta.get("annotations") or {}),
        source_type=str(status.get("sourceType") or _source_type(source)),
        sources=_sources(spec),
        revisions=_list(sync.get("revisions")),
        operation_revisions=_list(result.get("revisions")) or _list(op_sync.get("revisions")),
        rollouts=tuple(
            f"{r.get('namespace', '')}/{r.get('name', '')}"
            for r in status.get("resources") or []
            if r.get("kind") == "Rollout" and r.get("group") == "argoproj.io"
        ),
    )
    return focus(parsed, source_index(parsed.sources)) if parsed.sources else parsed


def _is_application(obj: dict[str, Any]) -> bool:
    """An Application of a list: ``metadata`` (with a name) and ``spec``, which no object nested in an
    Application has both of."""
    meta = obj.get("metadata")
    return isinstance(meta, dict) and "name" in meta and isinstance(obj.get("spec"), dict)


def decode_statuses(content: bytes, default_namespace: str | None = None) -> dict[str, Any]:
    """An application list's body with each item parsed into an ``AppStatus`` as soon as the decoder
    has built it, so the raw objects of one Application live only until its status exists: a fleet's
    whole decoded list (about ten times its JSON) is never held at once. Items without a ``spec`` (a
    filtered list) are parsed after decoding, the same way."""

    def hook(obj: dict[str, Any]) -> Any:
        return parse_app(cast(Application, obj), default_namespace) if _is_application(obj) else obj

    body = json.loads(content, object_hook=hook)
    if not isinstance(body, dict):
        raise ValueError("an application list is a JSON object")
    items = body.get("items") or []
    body["items"] = [
        app if isinstance(app, model.AppStatus) else parse_app(app, default_namespace) for app in items
    ]
    return body
