"""The emulated Application objects: spec (as Argo CD's JSON), status pieces, live state and history.

Everything here is data plus small pure helpers (spec accessors, live-vs-desired comparison, health
aggregation, JSON merge/JSON patches). Time is passed in as epoch seconds. It must not run Git, read
the clock, or shape HTTP responses; the controller mutates these objects under its lock.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from bot.sandbox.argocd import rendering, rollouts, workload

ResourceKey = tuple[str, str, str, str]  # group, kind, namespace, name
DEFAULT_SERVER = "https://kubernetes.default.svc"
CONTROL_NAMESPACE = "argocd"  # where argocd-server runs; apps elsewhere need ``appNamespace``
HEALTHY_KINDS = {"Service", "HorizontalPodAutoscaler", "Ingress", "PersistentVolumeClaim", "Namespace"}


class RequestError(Exception):
    """A gRPC-status refusal of an API call (code, message), rendered by the server as a gateway error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def not_found(name: str) -> RequestError:
    return RequestError(5, f'applications.argoproj.io "{name}" not found')


@dataclass(frozen=True)
class AppConfig:
    """How a test or demo declares an app. ``deployed``: start as if already synced to the current target."""

    name: str
    repo_url: str  # a local repo path or file:// URL
    path: str = "."
    target_revision: str = "HEAD"
    project: str = "default"
    namespace: str = ""  # destination namespace; defaults to the app name
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    automated: bool = False
    self_heal: bool = False
    prune: bool = False
    sync_options: tuple[str, ...] = ()
    ignore_differences: tuple[Mapping[str, Any], ...] = ()  # spec.ignoreDifferences
    helm_parameters: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    revision_history_limit: int = 10
    deployed: bool = True
    app_namespace: str = CONTROL_NAMESPACE  # metadata.namespace of the Application (apps in any namespace)
    sources: tuple[Mapping[str, Any], ...] = ()  # spec.sources as on the wire: replaces the single source

    def spec(self) -> dict[str, Any]:
        source: dict[str, Any] = {
            "repoURL": self.repo_url,
            "path": self.path,
            "targetRevision": self.target_revision,
        }
        if self.helm_parameters:
            source["helm"] = {
                "parameters": [{"name": k, "value": v} for k, v in self.helm_parameters.items()]
            }
        spec: dict[str, Any] = {
            **({"sources": [dict(s) for s in self.sources]} if self.sources else {"source": source}),
            "destination": {"server": DEFAULT_SERVER, "namespace": self.namespace or self.name},
            "project": self.project,
        }
        policy: dict[str, Any] = {}
        if self.automated:
            policy["automated"] = {
                k: v for k, v in (("prune", self.prune), ("selfHeal", self.self_heal)) if v
            }
        if self.sync_options:
            policy["syncOptions"] = list(self.sync_options)
        if policy:
            spec["syncPolicy"] = policy
        if self.ignore_differences:
            spec["ignoreDifferences"] = [dict(rule) for rule in self.ignore_differences]
        spec["revisionHistoryLimit"] = self.revision_history_limit
        return spec


def qualified(namespace: str, name: str) -> str:
    """Argo CD's qualified app name: bare in the control-plane namespace, ``ns/name`` elsewhere."""
    return name if namespace in ("", CONTROL_NAMESPACE) else f"{namespace}/{name}"


@dataclass
class HistoryItem:
    id: int
    revision: str
    deployed_at: float
    started_at: float
    source: dict[str, Any]
    initiated_by: dict[str, Any]
    revisions: list[str] = field(default_factory=list)  # multi-source: index-aligned with ``sources``
    sources: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class OpState:
    operation: dict[str, Any]  # as on the wire: {"sync": {...}, "initiatedBy": {...}, "retry": {...}}
    phase: str
    message: str
    started_at: float
    finished_at: float | None = None
    sync_result: dict[str, Any] | None = None

    @property
    def revision(self) -> str:
        sync = self.operation.get("sync", {})
        return str(sync.get("revision") or ("[" + ", ".join(sync.get("revisions") or []) + "]"))


@dataclass
class ResourceState:
    resource: rendering.Resource  # the desired one when known, else the live one
    status: str  # Synced | OutOfSync
    health: workload.Health | None = None
    requires_pruning: bool = False


@dataclass
class App:
    name: str
    uid: str
    created_at: float
    spec: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    generation: int = 1
    resource_version: int = 1
    # controller view
    desired: rendering.Rendered | None = None
    live: dict[ResourceKey, rendering.Resource] = field(default_factory=dict)
    changed_at: dict[ResourceKey, float] = field(default_factory=dict)  # pod template last changed
    live_revision: str = ""
    resources: list[ResourceState] = field(default_factory=list)
    sync_status: str = ""
    sync_revision: str = ""
    sync_revisions: list[str] = field(default_factory=list)  # multi-source apps only
    compared_to: dict[str, Any] | None = None
    health: str = ""
    health_message: str = ""
    health_since: float | None = None
    history: list[HistoryItem] = field(default_factory=list)
    conditions: list[dict[str, Any]] = field(default_factory=list)
    reconciled_at: float | None = None
    operation: dict[str, Any] | None = None
    op_state: OpState | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    # scheduling
    next_poll: float = 0.0
    compare_at: float | None = None
    sync_error: str | None = None  # emulator behaviour: make every sync fail with this message
    app_namespace: str = CONTROL_NAMESPACE
    rollout_runs: dict[ResourceKey, rollouts.Run] = field(default_factory=dict)  # Argo Rollouts' view

    # -- spec accessors

    @property
    def key(self) -> str:
        return qualified(self.app_namespace, self.name)

    @property
    def project(self) -> str:
        return str(self.spec.get("project", ""))

    @property
    def source(self) -> dict[str, Any]:
        return dict(self.spec.get("source") or {})

    @property
    def multi(self) -> bool:
        """``spec.sources`` set: status revisions are index-aligned lists (argocd-api.md section 4)."""
        return bool(self.spec.get("sources"))

    @property
    def sources(self) -> list[dict[str, Any]]:
        return [dict(s) for s in self.spec.get("sources") or []]

    @property
    def namespace(self) -> str:
        return str((self.spec.get("destination") or {}).get("namespace", ""))

    @property
    def automated(self) -> dict[str, Any] | None:
        auto = (self.spec.get("syncPolicy") or {}).get("automated")
        return auto if isinstance(auto, dict) and auto.get("enabled", True) is not False else None

    @property
    def ignore_differences(self) -> list[dict[str, Any]]:
        return [dict(rule) for rule in self.spec.get("ignoreDifferences") or []]

    @property
    def sync_options(self) -> list[str]:
        return list((self.spec.get("syncPolicy") or {}).get("syncOptions") or [])

    def event(self, now: float, reason: str, message: str, kind: str = "Normal") -> None:
        self.events.append({"reason": reason, "message": message, "type": kind, "at": now})
        del self.events[:-200]

    def add_history(self, item: HistoryItem) -> None:
        self.history.append(item)
        limit = int(self.spec.get("revisionHistoryLimit") or 10)
        del self.history[:-limit]

    def next_history_id(self) -> int:
        return self.history[-1].id + 1 if self.history else 0


# ----------------------------------------------------------------------------- comparison and health


def normalize(res: rendering.Resource, ignore: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The manifest without the ``spec.ignoreDifferences`` jsonPointers that match the resource (what
    ``normalizedLiveState`` shows and what the comparison uses)."""
    manifest = copy.deepcopy(dict(res.manifest))
    for rule in ignore:
        if (rule.get("kind"), rule.get("group", "")) != (res.kind, res.group):
            continue
        if rule.get("name") not in (None, "", res.name):
            continue
        for pointer in rule.get("jsonPointers") or []:
            *parents, leaf = [p.replace("~1", "/").replace("~0", "~") for p in str(pointer).split("/")[1:]]
            node: Any = manifest
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(leaf, None)
    return manifest


def compare(
    desired: rendering.Rendered,
    live: Mapping[ResourceKey, rendering.Resource],
    ignore: Sequence[Mapping[str, Any]] = (),
) -> tuple[str, list[ResourceState]]:
    """Synced iff every desired resource is live and identical (but for ignored differences), and
    nothing extra is live."""
    states: list[ResourceState] = []
    for res in desired.resources:
        current = live.get(res.key)
        synced = current is not None and normalize(current, ignore) == normalize(res, ignore)
        states.append(ResourceState(res, "Synced" if synced else "OutOfSync"))
    wanted = {res.key for res in desired.resources}
    for key, res in live.items():
        if key not in wanted:
            states.append(ResourceState(res, "OutOfSync", requires_pruning=True))
    states.sort(key=lambda s: s.resource.key)
    status = "Synced" if all(s.status == "Synced" for s in states) else "OutOfSync"
    return status, states


def aggregate_health(states: list[ResourceState], any_live: bool) -> workload.Health:
    """Worst of the managed resources; missing ones count only when nothing at all is live."""
    worst = workload.Health("Healthy")
    for state in states:
        if state.health is None or state.health.status == "Missing":
            continue
        if workload.worse(state.health.status, worst.status) != worst.status:
            worst = state.health
    if not any_live and states:
        return workload.Health("Missing")
    return worst


def resource_health(kind: str) -> workload.Health | None:
    """Non-workload kinds: a few always-Healthy ones, the rest (ConfigMap, Secret...) have no health."""
    return workload.Health("Healthy") if kind in HEALTHY_KINDS else None


# ----------------------------------------------------------------------------- live state changes


def template(res: rendering.Resource | None) -> Any:
    return ((res.manifest.get("spec") or {}).get("template")) if res is not None else None


def resource_result(res: rendering.Resource, status: str, message: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "group": res.group,
        "version": res.version,
        "kind": res.kind,
        "namespace": res.namespace,
        "name": res.name,
        "status": status,
        "message": message,
        "hookPhase": "Running",
        "syncPhase": "Sync",
    }
    if (wl := workload.workload_of(res)) is not None:
        out["images"] = sorted(set(wl.images.values()))
    return out


def sync_result(
    app: App,
    target: rendering.Rendered,
    resources: list[dict[str, Any]],
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if app.multi:  # revision "" and source {"repoURL":""}: the lists carry them (argocd-api.md section 4)
        return {
            "resources": resources,
            "revision": "",
            "source": {},
            "revisions": list(target.revisions),
            "sources": app.sources,
        }
    return {
        "resources": resources,
        "revision": target.revision,
        "source": copy.deepcopy(source or app.source),
    }


def apply(
    app: App,
    target: rendering.Rendered,
    now: float,
    prune: bool,
    selected: set[Any] | None = None,
    *,
    settled: bool = False,
) -> list[dict[str, Any]]:
    """Make live = target (only ``selected`` keys if given); returns syncResult.resources.

    ``settled`` backdates the rollout so an app declared as already deployed starts Healthy."""
    results: list[dict[str, Any]] = []
    for res in target.resources:
        if selected and res.key not in selected:
            continue
        old = app.live.get(res.key)
        verb = "created" if old is None else "unchanged" if old.manifest == res.manifest else "configured"
        manifest = copy.deepcopy(dict(res.manifest))
        app.live[res.key] = rendering.Resource(
            res.group, res.version, res.kind, res.namespace, res.name, manifest
        )
        if old is None or template(old) != template(res):
            app.changed_at[res.key] = now - (1e9 if settled else 0)
        group = f".{res.group}" if res.group else ""
        results.append(resource_result(res, "Synced", f"{res.kind.lower()}{group}/{res.name} {verb}"))
    wanted = {r.key for r in target.resources}
    for key, res in list(app.live.items()):
        if key in wanted or selected:
            continue
        if prune:
            del app.live[key]
            results.append(resource_result(res, "Pruned", "pruned"))
        else:
            results.append(resource_result(res, "PruneSkipped", "ignored (requires pruning)"))
    return results


def drift_live(app: App, drift: Mapping[str, Any]) -> ResourceKey:
    """Edit a live object (image, replicas, annotations, HPA bounds, a ConfigMap value); returns its key."""
    kinds: tuple[str, ...]
    if "configmap" in drift:
        kinds, want = ("ConfigMap",), drift["configmap"]
    else:
        kinds = (
            (drift["kind"],) if drift.get("kind") else (*rendering.WORKLOAD_KINDS, "HorizontalPodAutoscaler")
        )
        want = drift.get("workload") or drift.get("hpa")
    key = next((k for k in sorted(app.live) if k[1] in kinds and k[3] == want), None)
    if key is None:
        raise RequestError(5, f"{'/'.join(kinds)} {want!r} is not live in app {app.name}")
    manifest = copy.deepcopy(dict(app.live[key].manifest))
    spec = manifest.setdefault("spec", {})
    if "configmap" in drift:
        manifest.setdefault("data", {})[str(drift["key"])] = str(drift["value"])
    for name, wire in (("replicas", "replicas"), ("min", "minReplicas"), ("max", "maxReplicas")):
        if drift.get(name) is not None:
            spec[wire] = int(drift[name])
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    if drift.get("image") and containers:
        chosen = next((c for c in containers if c.get("name") == drift.get("container")), containers[0])
        chosen["image"] = str(drift["image"])
    if drift.get("annotations"):
        meta = spec.setdefault("template", {}).setdefault("metadata", {})
        meta["annotations"] = {**(meta.get("annotations") or {}), **drift["annotations"]}
    if not spec:
        del manifest["spec"]
    old = app.live[key]
    app.live[key] = rendering.Resource(old.group, old.version, old.kind, old.namespace, old.name, manifest)
    return key
