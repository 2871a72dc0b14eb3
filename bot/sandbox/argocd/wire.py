"""Go ``encoding/json`` shaping for the emulated API: what Argo CD's grpc-gateway actually puts on the wire.

Key order follows the Go structs, ``omitempty`` drops empty scalars/slices/maps but never structs,
int64s are numbers, times are RFC 3339 at second precision, bodies are compact with no trailing
newline and HTML characters escaped like Go's Marshal. It only formats: it must not change app state.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.argocd import state, workload

CONTROL_NAMESPACE = state.CONTROL_NAMESPACE
_EMPTY: tuple[Any, ...] = (None, "", False, [], {})
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}

# Go field order per struct; names listed in a KEEP set have no omitempty (or are struct-valued).
SOURCE = (
    "repoURL",
    "path",
    "targetRevision",
    "helm",
    "kustomize",
    "directory",
    "plugin",
    "chart",
    "ref",
    "name",
)
SPEC = (
    "source",
    "destination",
    "project",
    "syncPolicy",
    "ignoreDifferences",
    "info",
    "revisionHistoryLimit",
    "sources",
    "sourceHydrator",
)
SYNC_POLICY = ("automated", "syncOptions", "retry", "managedNamespaceMetadata")
AUTOMATED = ("prune", "selfHeal", "allowEmpty", "enabled")
DESTINATION = ("server", "namespace", "name")
SYNC_OP = (
    "revision",
    "prune",
    "dryRun",
    "syncStrategy",
    "resources",
    "source",
    "manifests",
    "syncOptions",
    "sources",
    "revisions",
    "autoHealAttemptsCount",
)
RESULT = (
    "group",
    "version",
    "kind",
    "namespace",
    "name",
    "status",
    "message",
    "hookType",
    "hookPhase",
    "syncPhase",
    "images",
)
REF = ("group", "version", "kind", "namespace", "name", "uid")


def shape(data: Mapping[str, Any], order: Sequence[str], keep: Iterable[str] = ()) -> dict[str, Any]:
    """Go-ordered copy without omitempty-empty values; unknown keys follow in their own order."""
    kept = set(keep)
    keys = [k for k in order if k in data] + [k for k in data if k not in order]
    return {k: data[k] for k in keys if k in kept or not _is_empty(data[k])}


def _is_empty(value: Any) -> bool:
    return any(value is e or (type(value) is type(e) and value == e) for e in _EMPTY)


def ts(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(int(at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(body: Any) -> bytes:
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    for char, escape in _GO_ESCAPES.items():
        text = text.replace(char, escape)
    return text.encode()


def error(code: int, message: str) -> dict[str, Any]:
    return {"error": message, "code": code, "message": message}


def source(data: Mapping[str, Any] | None) -> dict[str, Any]:
    return shape({"repoURL": "", **(data or {})}, SOURCE, keep=("repoURL",))  # a struct: never omitted


def spec(data: Mapping[str, Any]) -> dict[str, Any]:
    out = shape(data, SPEC, keep=("destination", "project"))
    if "source" in out:
        out["source"] = source(out["source"])
    if "sources" in out:
        out["sources"] = [source(s) for s in out["sources"]]
    out["destination"] = shape(out.get("destination") or {}, DESTINATION)
    if "syncPolicy" in out:
        policy = shape(out["syncPolicy"], SYNC_POLICY)
        if isinstance(out["syncPolicy"].get("automated"), dict):
            automated = out["syncPolicy"]["automated"]
            policy["automated"] = {
                k: automated[k] for k in AUTOMATED if k in automated and (automated[k] or k == "enabled")
            }
        out["syncPolicy"] = shape(policy, SYNC_POLICY, keep=("automated",) if "automated" in policy else ())
    return out


def operation(op: Mapping[str, Any]) -> dict[str, Any]:
    sync = shape(op.get("sync") or {}, SYNC_OP)
    if "source" in sync:
        sync["source"] = source(sync["source"])
    if "sources" in sync:
        sync["sources"] = [source(s) for s in sync["sources"]]
    return shape(
        {"sync": sync, "initiatedBy": op.get("initiatedBy") or {}, "retry": op.get("retry") or {}},
        ("sync", "initiatedBy", "info", "retry"),
        keep=("initiatedBy", "retry"),
    )


def uid(app: state.App, *parts: str) -> str:
    return str(uuid.uuid5(uuid.UUID(app.uid), "/".join(parts)))


def application(app: state.App, *, with_health: bool = True) -> dict[str, Any]:
    """An Application as Get/Sync/Patch return it; List passes ``with_health=False`` (3.x behaviour)."""
    meta = {
        "name": app.name,
        "namespace": app.app_namespace,
        "uid": app.uid,
        "resourceVersion": str(app.resource_version),
        "generation": app.generation,
        "creationTimestamp": ts(app.created_at),
        "labels": app.labels,
        "annotations": app.annotations,
    }
    body: dict[str, Any] = {
        "metadata": shape(meta, list(meta)),
        "spec": spec(app.spec),
        "status": _status(app, with_health),
    }
    if app.operation is not None:
        body["operation"] = operation(app.operation)
    return body


def _status(app: state.App, with_health: bool) -> dict[str, Any]:
    resources = []
    for res_state in app.resources:
        res = res_state.resource
        item: dict[str, Any] = {
            "group": res.group,
            "version": res.version,
            "kind": res.kind,
            "namespace": res.namespace,
            "name": res.name,
            "status": res_state.status,
        }
        if with_health and res_state.health is not None:
            item["health"] = shape(
                {"status": res_state.health.status, "message": res_state.health.message}, ()
            )
        item["requiresPruning"] = res_state.requires_pruning
        resources.append(shape(item, ()))
    compared = app.compared_to or {}
    compared_to: dict[str, Any] = {
        "source": source(compared.get("source")),
        "destination": shape(compared.get("destination") or {}, DESTINATION),
    }
    if compared.get("sources"):
        compared_to["sources"] = [source(s) for s in compared["sources"]]
    sync = {
        "status": app.sync_status,
        "comparedTo": compared_to,
        "revision": app.sync_revision,
        "revisions": app.sync_revisions,
    }
    health = {
        "status": app.health,
        "message": app.health_message if app.health != "Healthy" else "",
        "lastTransitionTime": ts(app.health_since),
    }
    history = [
        shape(
            {
                "revision": h.revision,
                "deployedAt": ts(h.deployed_at),
                "id": h.id,
                "source": source(h.source),
                "deployStartedAt": ts(h.started_at),
                "sources": [source(s) for s in h.sources],
                "revisions": h.revisions,
                "initiatedBy": h.initiated_by,
            },
            (),
            keep=("id", "source"),
        )
        for h in app.history
    ]
    conditions = [
        {"type": c["type"], "message": c["message"], "lastTransitionTime": ts(c["lastTransitionTime"])}
        for c in app.conditions
    ]
    images = sorted(
        {img for res in app.live.values() if (wl := workload.workload_of(res)) for img in wl.images.values()}
    )
    out = {
        "resources": resources,
        "sync": shape(sync, (), keep=("status", "comparedTo")),
        "health": shape(health, ()),
        "history": history,
        "conditions": conditions,
        "reconciledAt": ts(app.reconciled_at),
        "operationState": _op_state(app.op_state) if app.op_state else None,
        "sourceType": app.desired.source_type if app.desired else "",
        "summary": shape({"images": images}, ()),
        "resourceHealthSource": "appTree",
        "controllerNamespace": CONTROL_NAMESPACE,
        "sourceHydrator": {},
    }
    return shape(out, (), keep=("sync", "health", "summary", "sourceHydrator"))


def _op_state(op: state.OpState) -> dict[str, Any]:
    result = None
    if op.sync_result is not None:
        result = shape(
            {
                "resources": [shape(r, RESULT) for r in op.sync_result.get("resources") or []],
                "revision": op.sync_result.get("revision", ""),
                "source": source(op.sync_result.get("source")),
                "sources": [source(s) for s in op.sync_result.get("sources") or []],
                "revisions": op.sync_result.get("revisions") or [],
            },
            (),
            keep=("revision", "source"),
        )
    out = {
        "operation": operation(op.operation),
        "phase": op.phase,
        "message": op.message,
        "syncResult": result,
        "startedAt": ts(op.started_at),
        "finishedAt": ts(op.finished_at),
    }
    return shape(out, (), keep=("operation", "phase", "startedAt"))
