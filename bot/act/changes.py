"""Pure change builders for scale, restart and adopt: which file of an app to edit, and the edit.

Input is the app's manifest files as text (path -> text); output is the new text of each touched
file plus one human line per change. The surgical work is ``bot.act.edit``'s; this module only picks
the place (an overlay's ``replicas:`` beats its base, an HPA owns replicas when present) and refuses
when the choice is ambiguous. No I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import errors
from bot.act import edit


@dataclass(frozen=True)
class FileChange:
    files: Mapping[str, str] = field(default_factory=dict)  # path -> new text
    changes: tuple[str, ...] = ()  # "apps/cart/kustomization.yaml: replicas 2 -> 4"

    def __bool__(self) -> bool:
        return bool(self.files)


def _priority(path: str) -> int:
    """Overlays and values files win over the base manifests they override."""
    name = path.rsplit("/", 1)[-1]
    if name in ("kustomization.yaml", "kustomization.yml"):
        return 0
    if name.startswith("values") and name.endswith((".yaml", ".yml")):
        return 1
    return 2


def _found(files: Mapping[str, str], target: edit.Target) -> list[tuple[str, object]]:
    hits = []
    for path in sorted(files, key=lambda p: (_priority(p), p)):
        try:
            value = edit.read(files[path], target, filename=path)
        except errors.ManifestError:
            continue
        hits.append((path, value))
    return hits


def _one(files: Mapping[str, str], target: edit.Target, what: str) -> tuple[str, object] | None:
    hits = _found(files, target)
    if not hits:
        return None
    best = [h for h in hits if _priority(h[0]) == _priority(hits[0][0])]
    if len(best) > 1:
        where = ", ".join(p for p, _ in best)
        raise errors.ManifestError(f"{what} is ambiguous: found in {where}")
    return hits[0]


def _apply(
    files: Mapping[str, str], out: dict[str, str], path: str, target: edit.Target, value: str | int
) -> str:
    text = out.get(path, files[path])
    result = edit.apply(text, target, value, filename=path)
    out[path] = result.text
    return f"{path}: {target} {result.old} -> {result.new}"


def scale(
    files: Mapping[str, str], replicas: int, *, helm_replicas: str = "replicaCount", expect: int | None = None
) -> FileChange:
    """Set the replica count; when an HPA owns the workload, raise its minReplicas (and max if needed)."""
    out: dict[str, str] = {}
    hpa = _one(files, edit.Target.hpa("minReplicas"), "HorizontalPodAutoscaler minReplicas")
    if hpa is not None:
        path, current = hpa
        lines = [_apply(files, out, path, edit.Target.hpa("minReplicas"), replicas)]
        top = edit.read(out[path], edit.Target.hpa("maxReplicas"), filename=path)
        if isinstance(top, int) and top < replicas:
            lines.append(_apply(files, out, path, edit.Target.hpa("maxReplicas"), replicas))
        return FileChange(out, tuple(lines))
    hit = _one(files, edit.Target.replicas(helm_path=helm_replicas), "the replica count")
    if hit is None:
        hit = _one(files, edit.Target.replicas(), "the replica count")
    if hit is None:
        raise errors.ManifestError(
            "no replica count found in the app's files (spec.replicas, replicas:, values)"
        )
    path, current = hit
    if expect is not None and isinstance(current, int) and current != expect:
        raise errors.ManifestError(
            f"{path}: Git says {current} replicas, the decision assumed {expect}: re-plan"
        )
    target = edit.Target.replicas(helm_path=helm_replicas) if _priority(path) == 1 else edit.Target.replicas()
    return FileChange(out, (_apply(files, out, path, target, replicas),))


def restart(files: Mapping[str, str], annotation: str, stamp: str) -> FileChange:
    """Set a pod-template annotation on every workload of the app (a rollout restart, in Git)."""
    out: dict[str, str] = {}
    lines = []
    target = edit.Target.annotation(annotation)
    for path in sorted(files):
        try:
            edit.read(files[path], target, filename=path)
        except errors.ManifestError:
            continue
        lines.append(_apply(files, out, path, target, stamp))
    if not lines:
        raise errors.ManifestError("no workload pod template found in the app's files to restart")
    return FileChange(out, tuple(lines))


# --------------------------------------------------------------------------- adopt (live -> Git)


def _state(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "null")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _images(obj: Mapping[str, Any]) -> dict[str, str]:
    spec = obj.get("spec") or {}
    pod = ((spec.get("jobTemplate") or {}).get("spec") or spec).get("template", {}).get("spec", {}) or {}
    out = {}
    for key in ("initContainers", "containers"):
        for c in pod.get(key) or []:
            if isinstance(c, dict) and c.get("name") and c.get("image"):
                out[str(c["name"])] = str(c["image"])
    return out


Drift = tuple[str, str, str, Any]  # (kind/name, what, key, live value)


def _hpa_targets(resources: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(kind, name) of every workload an HPA scales: its replicas belong to the HPA, never to Git."""
    owned = set()
    for r in resources:
        if r.get("kind") != "HorizontalPodAutoscaler":
            continue
        for raw in (r.get("targetState"), r.get("normalizedLiveState"), r.get("liveState")):
            ref = (_state(raw).get("spec") or {}).get("scaleTargetRef") or {}
            if ref.get("kind") and ref.get("name"):
                owned.add((str(ref["kind"]), str(ref["name"])))
    return owned


def drift(resources: Sequence[Mapping[str, Any]]) -> list[Drift]:
    """What differs between live and Git for the fields githeal knows how to write back.

    Live is ``normalizedLiveState`` (the app's ignoreDifferences removed, as Argo CD compares), not the
    raw ``liveState``; replicas of a workload an HPA targets are skipped."""
    found: list[Drift] = []
    scaled = _hpa_targets(resources)
    for r in resources:
        live = _state(r.get("normalizedLiveState") or r.get("liveState"))
        target = _state(r.get("targetState"))
        if not live or not target:
            continue
        who = f"{r.get('kind')}/{r.get('name')}"
        if r.get("kind") == "ConfigMap":
            for key, value in sorted((live.get("data") or {}).items()):
                if (target.get("data") or {}).get(key) != value:
                    found.append((who, "configmap", key, value))
            continue
        live_reps, want_reps = (
            (live.get("spec") or {}).get("replicas"),
            (target.get("spec") or {}).get("replicas"),
        )
        owned = (str(r.get("kind")), str(r.get("name"))) in scaled
        if isinstance(live_reps, int) and live_reps != want_reps and not owned:
            found.append((who, "replicas", "", live_reps))
        want_images = _images(target)
        for name, image in sorted(_images(live).items()):
            if want_images.get(name) != image:
                found.append((who, "image", name, image))
    return found


def adopt(
    files: Mapping[str, str], drifts: list[Drift], *, helm_replicas: str = "replicaCount"
) -> FileChange:
    """Write the live values into Git, each where Git defines it."""
    out: dict[str, str] = {}
    lines: list[str] = []
    edits: dict[str, Callable[[Drift], None]] = {}

    def current() -> dict[str, str]:
        return {**files, **out}

    def do_configmap(d: Drift) -> None:
        hit = _one(current(), edit.Target.configmap(d[2]), f"ConfigMap key {d[2]}")
        if hit is None:
            raise errors.ManifestError(f"{d[0]}: key {d[2]} is not defined in Git")
        lines.append(_apply(files, out, hit[0], edit.Target.configmap(d[2]), str(d[3])))

    def do_replicas(d: Drift) -> None:
        change = scale(current(), int(d[3]), helm_replicas=helm_replicas)
        out.update(change.files)
        lines.extend(change.changes)

    def do_image(d: Drift) -> None:
        for path in sorted(current(), key=lambda p: (_priority(p), p)):
            try:
                result = edit.set_image(current()[path], str(d[3]), container=d[2], filename=path)
            except errors.ManifestError:
                continue
            if result.lines:
                out[path] = result.text
                lines.append(f"{path}: image of {d[2]} -> {d[3]}")
            return
        raise errors.ManifestError(f"{d[0]}: no image reference for container {d[2]} in Git")

    edits.update(configmap=do_configmap, replicas=do_replicas, image=do_image)
    for d in drifts:
        edits[d[1]](d)
    return FileChange(out, tuple(lines))
