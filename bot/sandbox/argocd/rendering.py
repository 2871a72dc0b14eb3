"""Desired state of an emulated Argo CD app: resolve a revision in a local Git repo and render its path.

Rendering covers what the bot edits: plain YAML directories, kustomizations (resources, images,
replicas, namespace, configMapGenerator literals, strategic-merge patches) and Helm charts reduced to
their ``values.yaml`` through a key map (no template engine). It reads Git with the ``git`` CLI and must
not write to the repository or know anything about sync state or HTTP.
"""

from __future__ import annotations

import copy
import fnmatch
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from io import StringIO
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.sandbox.argocd import reposerver

CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Rollout"}


RenderError = reposerver.RenderError


@dataclass(frozen=True)
class HelmKeys:
    """Where the emulated chart finds its values (dotted paths in values.yaml)."""

    repository: str = "image.repository"
    tag: str = "image.tag"
    digest: str = "image.digest"
    replicas: str = "replicaCount"
    config: str = "config"
    pod_annotations: str = "podAnnotations"
    hpa_enabled: str = "autoscaling.enabled"
    hpa_min: str = "autoscaling.minReplicas"
    hpa_max: str = "autoscaling.maxReplicas"


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    namespace: str
    name: str
    manifest: Mapping[str, Any] = field(compare=False, hash=False)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.group, self.kind, self.namespace, self.name)


@dataclass(frozen=True)
class Rendered:
    revision: str  # "" for a multi-source app, whose ``revisions`` follow spec.sources
    source_type: str  # Directory | Kustomize | Helm
    resources: tuple[Resource, ...]
    revisions: tuple[str, ...] = ()


# The repo-server's Git side lives in ``reposerver``; these names are the emulator's own API.
repo_path = reposerver.repo_path
resolve = reposerver.resolve
tree = reposerver.tree


# ----------------------------------------------------------------------------- rendering


def _load(files: Mapping[str, bytes], path: str) -> list[dict[str, Any]]:
    try:
        docs = list(YAML(typ="safe", pure=True).load_all(StringIO(files[path].decode())))
    except (YAMLError, UnicodeDecodeError) as exc:
        raise RenderError(f"{path}: {exc}") from exc
    out: list[dict[str, Any]] = []
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "List":
            out.extend(d for d in doc.get("items") or [] if isinstance(d, dict))
        elif isinstance(doc, dict) and doc:
            out.append(doc)
    return out


def _dig(values: Mapping[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _containers(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [c for key in ("initContainers", "containers") for c in pod.get(key) or [] if isinstance(c, dict)]


def split_image(image: str) -> tuple[str, str, str]:
    """``repo/name:tag@digest`` -> (name, tag, digest); a port colon is not a tag."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :], digest
    return name, "", digest


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge, simplified: maps merge, lists of named maps merge by name, other lists replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = None if value is None else _merge(base.get(key), value)
        return {k: v for k, v in merged.items() if v is not None}
    named = isinstance(patch, list) and all(isinstance(p, dict) and "name" in p for p in patch)
    if named and isinstance(base, list):
        by_name = {p["name"]: p for p in patch}
        out = [_merge(b, by_name.pop(b.get("name"))) if b.get("name") in by_name else b for b in base]
        return out + list(by_name.values())
    return copy.deepcopy(patch)


def _kustomize(files: Mapping[str, bytes], directory: str, depth: int = 0) -> list[dict[str, Any]]:
    if depth > 10:
        raise RenderError(f"{directory}: kustomization nesting too deep")
    kfile = next(
        (
            f"{directory}/{n}"
            for n in ("kustomization.yaml", "kustomization.yml", "Kustomization")
            if f"{directory}/{n}" in files
        ),
        None,
    )
    if kfile is None:
        raise RenderError(f"{directory}: no kustomization file")
    kust = (_load(files, kfile) or [{}])[0]
    docs: list[dict[str, Any]] = []
    for entry in [*(kust.get("resources") or []), *(kust.get("bases") or [])]:
        target = posixpath.normpath(posixpath.join(directory, str(entry)))
        if target in files:
            docs.extend(_load(files, target))
        elif any(f.startswith(target + "/") for f in files):
            docs.extend(_kustomize(files, target, depth + 1))
        else:
            raise RenderError(f"{kfile}: resource '{entry}' not found")
    for gen in kust.get("configMapGenerator") or []:
        # Real kustomize appends a content hash to the name; the emulator keeps the plain name so that
        # drills can address the ConfigMap by the name written in Git.
        data = dict(str(lit).split("=", 1) for lit in gen.get("literals") or [] if "=" in str(lit))
        existing = next(
            (d for d in docs if d.get("kind") == "ConfigMap" and _name(d) == gen.get("name")), None
        )
        if existing is not None and gen.get("behavior") in ("merge", "replace"):
            existing["data"] = (
                {**(existing.get("data") or {}), **data} if gen["behavior"] == "merge" else data
            )
        else:
            docs.append(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen.get("name")}, "data": data}
            )
    for item in [*(kust.get("patchesStrategicMerge") or []), *(kust.get("patches") or [])]:
        patch_docs = _patch_docs(files, directory, item)
        for patch in patch_docs:
            selector: dict[str, Any] = (item.get("target") if isinstance(item, dict) else None) or {}
            kind = selector.get("kind") or patch.get("kind")
            name = selector.get("name") or _name(patch)
            for i, doc in enumerate(docs):
                if doc.get("kind") == kind and fnmatch.fnmatchcase(_name(doc), name or "*"):
                    docs[i] = _merge(doc, patch)
    for doc in docs:
        if kust.get("namespace") and doc.get("kind") not in CLUSTER_SCOPED:
            doc.setdefault("metadata", {})["namespace"] = kust["namespace"]
        for rep in kust.get("replicas") or []:
            if doc.get("kind") in WORKLOAD_KINDS and _name(doc) == rep.get("name"):
                doc.setdefault("spec", {})["replicas"] = int(rep.get("count", 0))
        for container in _containers(doc):
            _set_image(container, kust.get("images") or [])
    return docs


def _patch_docs(files: Mapping[str, bytes], directory: str, item: Any) -> list[dict[str, Any]]:
    if isinstance(item, str) or (isinstance(item, dict) and item.get("path")):
        target = posixpath.normpath(
            posixpath.join(directory, item if isinstance(item, str) else item["path"])
        )
        if target not in files:
            raise RenderError(f"{directory}: patch '{target}' not found")
        return _load(files, target)
    if isinstance(item, dict) and isinstance(item.get("patch"), str):
        loaded = list(YAML(typ="safe", pure=True).load_all(StringIO(item["patch"])))
        if any(isinstance(d, list) for d in loaded):
            raise RenderError(f"{directory}: JSON6902 patches are not emulated")
        return [d for d in loaded if isinstance(d, dict)]
    return []


def _set_image(container: dict[str, Any], images: list[Mapping[str, Any]]) -> None:
    name, tag, digest = split_image(str(container.get("image", "")))
    for rule in images:
        if rule.get("name") != name:
            continue
        name = str(rule.get("newName") or name)
        tag = str(rule.get("newTag") if rule.get("newTag") is not None else tag)
        digest = str(rule.get("digest") or digest)
        container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _helm(
    files: Mapping[str, bytes],
    directory: str,
    app: str,
    keys: HelmKeys,
    params: Mapping[str, str],
    overrides: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    chart = (_load(files, f"{directory}/Chart.yaml") or [{}])[0]
    values = (
        (_load(files, f"{directory}/values.yaml") or [{}])[0] if f"{directory}/values.yaml" in files else {}
    )
    for extra in overrides:  # spec.source.helm.valueFiles, in order, like helm -f
        values = _merge(values, dict(extra))
    for dotted, value in params.items():  # spec.source.helm.parameters, like --set
        node = values
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    name = str(values.get("fullnameOverride") or app)
    image = str(_dig(values, keys.repository) or chart.get("name", app))
    tag = _dig(values, keys.tag) or chart.get("appVersion") or "latest"
    digest = _dig(values, keys.digest)
    image = f"{image}:{tag}" + (f"@{digest}" if digest else "")
    labels = {"app.kubernetes.io/name": str(chart.get("name", app)), "app.kubernetes.io/instance": app}
    template: dict[str, Any] = {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": str(chart.get("name", app)), "image": image}]},
    }
    if _dig(values, keys.pod_annotations):
        template["metadata"]["annotations"] = {
            k: str(v) for k, v in _dig(values, keys.pod_annotations).items()
        }
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": int(_dig(values, keys.replicas) or 1),
            "selector": {"matchLabels": labels},
            "template": template,
        },
    }
    docs: list[dict[str, Any]] = [deploy]
    config = _dig(values, keys.config)
    if isinstance(config, Mapping):
        data = {
            str(k): v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in config.items()
        }
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
    if _dig(values, keys.hpa_enabled):
        spec = {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": int(_dig(values, keys.hpa_min) or 1),
            "maxReplicas": int(_dig(values, keys.hpa_max) or 1),
        }
        docs.append(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": name},
                "spec": spec,
            }
        )
    return docs


def _name(doc: Mapping[str, Any]) -> str:
    return str((doc.get("metadata") or {}).get("name", ""))


def render(
    repo: str,
    sha: str,
    path: str,
    *,
    app: str,
    namespace: str,
    helm_keys: HelmKeys | None = None,
    helm_params: Mapping[str, str] | None = None,
) -> Rendered:
    """All resources of ``path`` at ``sha``, namespaced into ``namespace`` where they name none."""
    return render_files(
        tree(repo, sha), sha, path, app=app, namespace=namespace, helm_keys=helm_keys, helm_params=helm_params
    )


def render_files(
    files: Mapping[str, bytes],
    revision: str,
    path: str,
    *,
    app: str,
    namespace: str,
    helm_keys: HelmKeys | None = None,
    helm_params: Mapping[str, str] | None = None,
    values: Sequence[Mapping[str, Any]] = (),
) -> Rendered:
    """``render`` over a file mapping (a Git tree or an unpacked Helm chart); ``values``: helm -f files."""
    directory = path.strip("/") or "."
    names = {f.rsplit("/", 1)[-1] for f in files if posixpath.dirname(f) == directory.removeprefix(".")}
    if not any(f.startswith(directory + "/") or directory == "." for f in files):
        raise RenderError(f"app path does not exist: {path}")
    if names & {"kustomization.yaml", "kustomization.yml", "Kustomization"}:
        source_type, docs = "Kustomize", _kustomize(files, directory)
    elif "Chart.yaml" in names:
        keys = helm_keys or HelmKeys()
        source_type, docs = "Helm", _helm(files, directory, app, keys, helm_params or {}, values)
    else:
        source_type = "Directory"
        docs = [
            d
            for n in sorted(names)
            if n.endswith((".yaml", ".yml", ".json"))
            for d in _load(files, posixpath.join(directory, n).removeprefix("./"))
        ]
    resources: dict[tuple[str, str, str, str], Resource] = {}
    for doc in docs:
        if not doc.get("kind") or not _name(doc):
            continue
        group, _, version = str(doc.get("apiVersion", "v1")).rpartition("/")
        if doc["kind"] not in CLUSTER_SCOPED:
            doc.setdefault("metadata", {}).setdefault("namespace", namespace)
        ns = str(doc.get("metadata", {}).get("namespace", ""))
        res = Resource(group, version, str(doc["kind"]), ns, _name(doc), doc)
        resources[res.key] = res
    return Rendered(revision, source_type, tuple(resources.values()))
