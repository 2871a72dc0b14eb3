"""Pluggable health of emulated workloads: what a rollout of a given image looks like over time.

The default model says Healthy once ``rollout_delay`` has passed since the pod template last changed,
unless an image matches a failing glob: then Progressing until the progress deadline, Degraded after
(Argo CD's Deployment health with crash-looping pods). It only answers questions about time and
images; it never touches app state, Git or HTTP.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from bot.sandbox.argocd import rendering, rollouts

HEALTH_ORDER = ("Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown")


def worse(a: str, b: str) -> str:
    """Argo CD's aggregation order: Healthy < Suspended < Progressing < Missing < Degraded < Unknown."""
    rank = {status: i for i, status in enumerate(HEALTH_ORDER)}
    return a if rank.get(a, 0) >= rank.get(b, 0) else b


@dataclass(frozen=True)
class Workload:
    """The part of a live workload that a simulator or a health model cares about."""

    kind: str
    name: str
    namespace: str
    images: Mapping[str, str]  # container name -> image
    replicas: int
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    progress_deadline: float | None = None  # spec.progressDeadlineSeconds, when set

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "images": dict(self.images),
            "replicas": self.replicas,
            "annotations": dict(self.annotations),
        }


@dataclass(frozen=True)
class Health:
    status: str
    message: str = ""


def workload_of(resource: rendering.Resource) -> Workload | None:
    if resource.kind not in rendering.WORKLOAD_KINDS:
        return None
    spec = resource.manifest.get("spec") or {}
    template_meta = (spec.get("template") or {}).get("metadata") or {}
    pod = (spec.get("template") or {}).get("spec") or {}
    images = {str(c.get("name", "")): str(c.get("image", "")) for c in pod.get("containers") or []}
    deadline = spec.get("progressDeadlineSeconds")
    replicas = spec.get("replicas")
    return Workload(
        kind=resource.kind,
        name=resource.name,
        namespace=resource.namespace,
        images=MappingProxyType(images),
        replicas=1 if replicas is None else int(replicas),
        annotations=MappingProxyType(
            {str(k): str(v) for k, v in (template_meta.get("annotations") or {}).items()}
        ),
        progress_deadline=float(deadline) if deadline is not None else None,
    )


class WorkloadModel(Protocol):
    """Health of one live workload ``since`` seconds after its pod template last changed."""

    def health(self, app: str, workload: Workload, since: float) -> Health: ...


HealthCallback = Callable[[str], str | None]
"""app name -> a health status to combine (worst wins) with the model's, or None; e.g. a simulator."""

AnalysisCallback = Callable[[str, Mapping[str, str]], str | None]
"""(app name, canary container images) -> a canary AnalysisRun's phase: "Failed", "Successful", or None
(no opinion: it fails only when the model says an image is failing); e.g. the workload simulator."""


class DefaultModel:
    """Rollouts take ``rollout_delay``; images matching a failing glob never become available."""

    def __init__(self, rollout_delay: float = 5.0, progress_deadline: float = 600.0) -> None:
        self.rollout_delay = rollout_delay
        self.progress_deadline = progress_deadline
        self._failing: dict[str, str] = {}  # glob -> reason
        self._lock = threading.Lock()

    def set_image(self, glob: str, behaviour: str, reason: str = "CrashLoopBackOff") -> None:
        """``behaviour`` is ``failing`` or ``healthy`` (forget the glob)."""
        if behaviour not in ("failing", "healthy"):
            raise ValueError(f"unknown image behaviour {behaviour!r} (use failing or healthy)")
        with self._lock:
            if behaviour == "failing":
                self._failing[glob] = reason
            else:
                self._failing.pop(glob, None)

    def failing(self, image: str) -> str | None:
        with self._lock:
            return next(
                (why for glob, why in self._failing.items() if fnmatch.fnmatchcase(image, glob)), None
            )

    def health(self, app: str, workload: Workload, since: float) -> Health:
        bad = [(c, img, why) for c, img in workload.images.items() if (why := self.failing(img)) is not None]
        if workload.replicas == 0:
            return Health("Healthy")
        deadline = workload.progress_deadline or self.progress_deadline
        if bad and since >= deadline:
            return Health("Degraded", f'Deployment "{workload.name}" exceeded its progress deadline')
        if bad or since < self.rollout_delay:
            done = (
                0 if bad else min(workload.replicas - 1, int(workload.replicas * since / self.rollout_delay))
            )
            return Health(
                "Progressing",
                f"Waiting for rollout to finish: {done} of {workload.replicas} updated "
                "replicas are available...",
            )
        return Health("Healthy")

    def pod_health(self, workload: Workload, since: float) -> Health:
        """For the resource tree: a pod with a failing image shows the crash loop right away."""
        reasons = [why for img in workload.images.values() if (why := self.failing(img)) is not None]
        if reasons:
            return Health("Degraded", f"back-off restarting failed container: {reasons[0]}")
        return (
            Health("Healthy") if since >= self.rollout_delay else Health("Progressing", "ContainerCreating")
        )


def live_view(
    revision: str,
    resources: Mapping[Any, rendering.Resource],
    canaries: Mapping[Any, rollouts.Run] | None = None,
) -> dict[str, Any]:
    """The ``/api/emulator/apps/{name}/live`` document the workload simulator polls. A Rollout in a
    canary (``canaries``: key -> ``rollouts.Run``) serves its stable images, and its canary's images
    get ``canary.weight`` percent of the traffic (0 once aborted)."""
    workloads, configmaps, hpas = [], {}, {}
    for res in sorted(resources.values(), key=lambda r: r.key):
        if (workload := workload_of(res)) is not None:
            item = workload.as_json()
            run = (canaries or {}).get(res.key)
            if run is not None and run.current_hash != run.stable_hash:
                item["images"] = dict(run.images.get(run.stable_hash) or item["images"])
                weight = rollouts.weight(run, res.manifest)
                item["canary"] = {"images": dict(run.images[run.current_hash]), "weight": weight}
            workloads.append(item)
        elif res.kind == "ConfigMap":
            configmaps[res.name] = {str(k): str(v) for k, v in (res.manifest.get("data") or {}).items()}
        elif res.kind == "HorizontalPodAutoscaler":
            spec = res.manifest.get("spec") or {}
            hpas[res.name] = {"min": int(spec.get("minReplicas", 1)), "max": int(spec.get("maxReplicas", 1))}
    return {"revision": revision, "workloads": workloads, "configmaps": configmaps, "hpas": hpas}
