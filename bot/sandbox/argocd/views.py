"""Read-only views of an emulated app beyond the Application itself: resource tree, diffs, events, fields.

Each returns the JSON body of one Argo CD endpoint, shaped by ``wire``. The tree is the only place
ReplicaSets and Pods appear (as in Argo CD), with Pod health from the workload model; a Rollout owns one
ReplicaSet per pod template (stable and canary), and its live object carries the Rollouts status. It reads app
state under the caller's lock and must not change it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.sandbox.argocd import rendering, rollouts, state, wire, workload


def _ref(app: state.App, res: rendering.Resource) -> dict[str, Any]:
    ref = {"group": res.group, "version": res.version, "kind": res.kind, "namespace": res.namespace}
    return wire.shape({**ref, "name": res.name, "uid": wire.uid(app, *res.key)}, wire.REF)


def _node(
    app: state.App, res: rendering.Resource, parent: rendering.Resource | None, extra: dict[str, Any]
) -> dict[str, Any]:
    health: workload.Health | None = extra.pop("health", None)
    rest = {
        "parentRefs": [_ref(app, parent)] if parent else [],
        "info": extra.get("info", []),
        "resourceVersion": str(app.resource_version),
        "images": sorted(set(extra.get("images", ()))),
        "health": None if health is None else wire.shape(vars(health), ()),
        "createdAt": wire.ts(extra["created"]),
    }
    return wire.shape({**_ref(app, res), **rest}, ())


def _child(
    app: state.App, kind: str, parent: rendering.Resource, seed: str, length: int
) -> rendering.Resource:
    suffix = uuid.uuid5(uuid.UUID(app.uid), seed).hex[:length]
    group = "apps" if kind == "ReplicaSet" else ""
    return rendering.Resource(group, "v1", kind, parent.namespace, f"{parent.name}-{suffix}", {})


def tree(app: state.App, model: workload.WorkloadModel, now: float) -> dict[str, Any]:
    """Managed resources plus a ReplicaSet and Pods under each Deployment (only here, as in Argo CD)."""
    nodes = []
    states = {s.resource.key: s for s in app.resources}
    pod_health = getattr(model, "pod_health", None)
    for key, res in sorted(app.live.items()):
        health = states[key].health if key in states else None
        wl = workload.workload_of(res)
        created = max(app.changed_at.get(key, app.created_at), app.created_at)
        images = list(wl.images.values()) if wl else []
        run = app.rollout_runs.get(key)
        info = [{"name": "Revision", "value": f"Rev:{run.revision}"}] if run is not None else []
        top = {"images": images, "health": health, "created": created, "info": info}
        nodes.append(_node(app, res, None, top))
        if run is not None:
            nodes.extend(_rollout_children(app, res, run, pod_health, now))
            continue
        if wl is None or res.kind != "Deployment":
            continue
        rs = _child(app, "ReplicaSet", res, repr(state.template(res)), 10)
        info = [{"name": "Revision", "value": f"Rev:{len(app.history)}"}]
        nodes.append(
            _node(app, rs, res, {"info": info, "images": images, "health": health, "created": created})
        )
        for i in range(wl.replicas):
            pod = _child(app, "Pod", rs, f"{rs.name}/{i}", 5)
            ph = pod_health(wl, now - created) if pod_health else health
            ready = "1" if ph is not None and ph.status == "Healthy" else "0"
            reason = "Running" if ready == "1" else (ph.message if ph else "")
            info = [
                {"name": "Status Reason", "value": reason},
                {"name": "Containers", "value": f"{ready}/{len(images)}"},
            ]
            nodes.append(
                _node(app, pod, rs, {"info": info, "images": images, "health": ph, "created": created})
            )
    nodes.sort(key=lambda n: (n.get("group", ""), n["kind"], n.get("namespace", ""), n["name"]))
    return {"nodes": nodes}


def _rollout_children(
    app: state.App, res: rendering.Resource, run: rollouts.Run, pod_health: Any, now: float
) -> list[dict[str, Any]]:
    """A Rollout owns one ReplicaSet per pod template (``{rollout}-{pod hash}``, ``Rev:N``); the stable
    and the current one are shown, each with its own images and its share of the replicas as Pods."""
    stable_n, canary_n = rollouts.split(run, res.manifest)
    wanted = {run.stable_hash: stable_n, run.current_hash: canary_n}
    if run.stable_hash == run.current_hash:
        wanted = {run.stable_hash: rollouts.replicas_of(res.manifest)}
    out = []
    for pod_hash, count in wanted.items():
        images = list(run.images.get(pod_hash, {}).values())
        rs = rendering.Resource("apps", "v1", "ReplicaSet", res.namespace, f"{res.name}-{pod_hash}", {})
        info = [{"name": "Revision", "value": f"Rev:{run.revisions.get(pod_hash, run.revision)}"}]
        created = run.changed_at if pod_hash == run.current_hash else app.created_at
        healthy = workload.Health("Healthy")
        out.append(
            _node(app, rs, res, {"info": info, "images": images, "health": healthy, "created": created})
        )
        for i in range(count):
            pod = _child(app, "Pod", rs, f"{rs.name}/{i}", 5)
            containers = {str(n): image for n, image in enumerate(images)}
            wl = workload.Workload("Pod", pod.name, pod.namespace, containers, 1)
            ph = pod_health(wl, now - created) if pod_health else healthy
            ready = "1" if ph is not None and ph.status == "Healthy" else "0"
            pod_info = [
                {"name": "Status Reason", "value": "Running" if ready == "1" else (ph.message if ph else "")},
                {"name": "Containers", "value": f"{ready}/{len(images)}"},
            ]
            extra = {"info": pod_info, "images": images, "health": ph, "created": created}
            out.append(_node(app, pod, rs, extra))
    return out


def _masked(res: rendering.Resource | None, manifest: dict[str, Any] | None = None) -> str:
    if res is None:
        return "null"
    manifest = dict(res.manifest) if manifest is None else manifest
    if res.kind == "Secret":
        manifest["data"] = {k: "+" * (8 + i) for i, k in enumerate(manifest.get("data") or {})}
    return json.dumps(manifest, separators=(",", ":"))


def managed_resources(app: state.App, filters: Mapping[str, str]) -> dict[str, Any]:
    desired = {r.key: r for r in (app.desired.resources if app.desired else ())}
    items = []
    for key in sorted(set(desired) | set(app.live)):
        target, live = desired.get(key), app.live.get(key)
        res = target or live
        assert res is not None
        if any(
            filters.get(f) and filters[f] != getattr(res, f) for f in ("kind", "name", "namespace", "group")
        ):
            continue
        item = {
            "group": res.group,
            "kind": res.kind,
            "namespace": res.namespace,
            "name": res.name,
            "targetState": _masked(target),
            # liveState is the object as the cluster returns it (server-set metadata, status);
            # normalizedLiveState drops that and the ignoreDifferences paths (controller getResourcesDiffs).
            "liveState": _masked(live, _as_served(app, live)),
            "normalizedLiveState": _masked(
                live, state.normalize(live, app.ignore_differences) if live else None
            ),
            "predictedLiveState": _masked(target),
            "resourceVersion": str(app.resource_version) if live else "",
            "modified": (target.manifest if target else None) != (live.manifest if live else None),
        }
        items.append(wire.shape(item, ()))
    return {"items": items}


def _as_served(app: state.App, res: rendering.Resource | None) -> dict[str, Any] | None:
    """The live object with what the API server adds: uid, resourceVersion, generation, a status."""
    if res is None:
        return None
    manifest = dict(res.manifest)
    meta = {**(manifest.get("metadata") or {}), "uid": wire.uid(app, *res.key)}
    manifest["metadata"] = {**meta, "resourceVersion": str(app.resource_version), "generation": 1}
    run = app.rollout_runs.get(res.key)
    if run is not None and run.served:
        served = dict(run.served)
        served["metadata"] = {
            **(served.get("metadata") or {}),
            **manifest["metadata"],
            "generation": run.generation,
        }
        served["metadata"]["annotations"] = (run.served.get("metadata") or {}).get("annotations")
        return served
    if (wl := workload.workload_of(res)) is not None:
        manifest["status"] = {"observedGeneration": 1, "replicas": wl.replicas, "readyReplicas": wl.replicas}
    return manifest


def events(app: state.App) -> dict[str, Any]:
    items = []
    for i, event in enumerate(app.events):
        meta = {
            "name": f"{app.name}.{uuid.uuid5(uuid.UUID(app.uid), str(i)).hex[:16]}",
            "namespace": app.app_namespace,
            "uid": wire.uid(app, "event", str(i)),
            "resourceVersion": str(i + 1),
            "creationTimestamp": wire.ts(event["at"]),
        }
        involved = {
            "kind": "Application",
            "namespace": app.app_namespace,
            "name": app.name,
            "uid": app.uid,
            "apiVersion": "argoproj.io/v1alpha1",
            "resourceVersion": str(app.resource_version),
        }
        component = (
            "argocd-server" if event["reason"] == "OperationStarted" else "argocd-application-controller"
        )
        items.append(
            {
                "metadata": meta,
                "involvedObject": involved,
                "reason": event["reason"],
                "message": event["message"],
                "source": {"component": component},
                "firstTimestamp": wire.ts(event["at"]),
                "lastTimestamp": wire.ts(event["at"]),
                "count": 1,
                "type": event["type"],
                "eventTime": None,
                "reportingComponent": "",
                "reportingInstance": "",
            }
        )
    return {"metadata": {"resourceVersion": str(app.resource_version)}, "items": items}


def pick(data: Mapping[str, Any], paths: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Keep only ``paths`` (the list ``fields`` filter), in the object's own key order."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        sub = [p[1:] for p in paths if p and p[0] == key]
        if any(not s for s in sub):
            out[key] = value
        elif sub and isinstance(value, Mapping):
            out[key] = pick(value, sub)
    return out


def drop(data: Mapping[str, Any], paths: Sequence[Sequence[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        sub = [p[1:] for p in paths if p and p[0] == key]
        if any(not s for s in sub):
            continue
        out[key] = drop(value, sub) if sub and isinstance(value, Mapping) else value
    return out


def selector(text: str) -> Callable[[Mapping[str, str]], bool]:
    """Kubernetes label selectors: k=v, k==v, k!=v, k in (a,b), k notin (a,b), k, !k."""
    checks: list[Callable[[Mapping[str, str]], bool]] = []
    for raw in re.split(r",(?![^()]*\))", text):
        part = raw.strip()
        if not part:
            continue
        if m := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", part):
            checks.append(_among(m[1], {v.strip() for v in m[3].split(",")}, m[2] == "in"))
        elif m := re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", part):
            checks.append(_among(m[1], {m[3]}, m[2] != "!="))
        elif m := re.fullmatch(r"(!?)([\w./-]+)", part):
            checks.append(_exists(m[2], not m[1]))
        else:
            raise state.RequestError(2, f"error parsing the selector: unable to parse requirement: {part!r}")
    return lambda labels: all(check(labels) for check in checks)


def _among(key: str, values: set[str], inside: bool) -> Callable[[Mapping[str, str]], bool]:
    return lambda labels: (labels.get(key) in values) == inside


def _exists(key: str, present: bool) -> Callable[[Mapping[str, str]], bool]:
    return lambda labels: (key in labels) == present
