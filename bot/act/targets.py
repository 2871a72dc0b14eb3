"""What can be edited in a manifest (``Target``) and how each kind is found in a parsed file.

A target names its scalar in domain terms (container, kustomize image entry, Helm value, replicas,
HPA bound, ConfigMap key, pod-template annotation, or a raw path); ``resolve`` turns it into exactly
one (document, path) or refuses with a ManifestError listing the candidates. Pure: no text edits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot import errors
from bot.act import locate

KINDS = ("image", "kustomize-image", "helm-value", "replicas", "hpa", "configmap", "annotation", "path")
KUSTOMIZE_FIELDS = ("newName", "newTag", "digest", "newDigest", "tagSuffix")
WORKLOADS = frozenset(
    {
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "ReplicationController",
        "Rollout",
        "Job",
        "CronJob",
    }
)
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
DEFAULT_REPLICAS_PATH = ("replicaCount",)


def split_path(path: str | Sequence[str | int]) -> tuple[str | int, ...]:
    """``"image.tag"`` -> ("image", "tag"); sequences pass through (for keys containing dots)."""
    return tuple(path.split(".")) if isinstance(path, str) else tuple(path)


@dataclass(frozen=True)
class Target:
    """One scalar to edit. Build with the classmethods; ``doc``/``resource``/``resource_name``
    narrow which documents of a multi-document file are searched."""

    kind: str
    container: str | None = None  # image: container name (initContainers included)
    name: str | None = None  # kustomization images:/replicas: entry name
    field: str | None = None  # kustomize-image field, or hpa minReplicas/maxReplicas
    key: str | None = None  # configmap data key, annotation key
    path: tuple[str | int, ...] = ()  # helm-value path within the values, path within document
    doc: int | None = None
    resource: str | None = None  # document kind, e.g. "Deployment"
    resource_name: str | None = None  # document metadata.name

    def __post_init__(self) -> None:
        problem = None
        if self.kind not in KINDS:
            problem = f"unknown target kind {self.kind!r} (one of {', '.join(KINDS)})"
        elif self.kind == "kustomize-image" and (not self.name or self.field not in KUSTOMIZE_FIELDS):
            problem = f"kustomize-image needs a name and a field in {KUSTOMIZE_FIELDS}"
        elif self.kind == "hpa" and self.field not in ("minReplicas", "maxReplicas"):
            problem = "hpa field must be minReplicas or maxReplicas"
        elif self.kind in ("configmap", "annotation") and not self.key:
            problem = f"{self.kind} target needs a key"
        elif self.kind in ("helm-value", "path") and not self.path:
            problem = f"{self.kind} target needs a path"
        if problem:
            raise errors.ManifestError(f"invalid target: {problem}")

    @classmethod
    def image(cls, container: str | None = None, **where: object) -> Target:
        return cls("image", container=container, **where)  # type: ignore[arg-type]

    @classmethod
    def kustomize_image(cls, name: str, field: str = "newTag", **where: object) -> Target:
        return cls("kustomize-image", name=name, field=field, **where)  # type: ignore[arg-type]

    @classmethod
    def helm_value(cls, path: str | Sequence[str | int], **where: object) -> Target:
        return cls("helm-value", path=split_path(path), **where)  # type: ignore[arg-type]

    @classmethod
    def replicas(
        cls, name: str | None = None, *, helm_path: str | Sequence[str | int] = (), **where: object
    ) -> Target:
        """spec.replicas of a workload, a kustomization replicas: entry, or a Helm values count."""
        return cls("replicas", name=name, path=split_path(helm_path), **where)  # type: ignore[arg-type]

    @classmethod
    def hpa(cls, field: str, **where: object) -> Target:
        return cls("hpa", field=field, **where)  # type: ignore[arg-type]

    @classmethod
    def configmap(cls, key: str, **where: object) -> Target:
        return cls("configmap", key=key, **where)  # type: ignore[arg-type]

    @classmethod
    def annotation(cls, key: str, **where: object) -> Target:
        """A pod-template annotation (e.g. githeal.io/restartedAt); created when absent."""
        return cls("annotation", key=key, **where)  # type: ignore[arg-type]

    @classmethod
    def at(cls, path: str | Sequence[str | int], doc: int = 0) -> Target:
        return cls("path", path=split_path(path), doc=doc)

    @property
    def numeric(self) -> bool:
        return self.kind in ("replicas", "hpa")

    def __str__(self) -> str:
        detail = {
            "image": f"container {self.container!r}" if self.container else "container (any)",
            "kustomize-image": f"images[name={self.name}].{self.field}",
            "helm-value": ".".join(map(str, self.path)),
            "replicas": f"replicas[name={self.name}]" if self.name else ".".join(map(str, self.path)),
            "hpa": str(self.field),
            "configmap": f"data.{self.key}",
            "annotation": f"pod-template annotation {self.key}",
            "path": "/".join(map(str, self.path)),
        }[self.kind]
        scope = [f"doc {self.doc}"] if self.doc is not None else []
        scope += (
            [f"{self.resource or ''}/{self.resource_name or ''}"]
            if self.resource or self.resource_name
            else []
        )
        return f"{self.kind} target {detail}" + (f" in {', '.join(scope)}" if scope else "")


@dataclass(frozen=True)
class Resolved:
    doc: int
    path: tuple[str | int, ...]
    label: str
    create: bool = False  # missing trailing keys may be inserted
    extra: dict[str, str] = field(default_factory=dict)


def doc_kind(root: Node | None) -> str | None:
    return locate.scalar(locate.get(root, "kind"))


def doc_name(root: Node | None) -> str | None:
    return locate.scalar(locate.get(locate.get(root, "metadata"), "name"))


def describe(index: int, root: Node) -> str:
    kind, name = doc_kind(root), doc_name(root)
    return f"doc {index}" + (f" {kind or '?'}/{name or '?'}" if kind or name else "")


def documents(docs: list[Node], target: Target) -> Iterator[tuple[int, Node]]:
    for i, root in enumerate(docs):
        if target.doc is not None and i != target.doc:
            continue
        if target.resource is not None and doc_kind(root) != target.resource:
            continue
        if target.resource_name is not None and doc_name(root) != target.resource_name:
            continue
        yield i, root


def containers(root: Node) -> Iterator[tuple[tuple[str | int, ...], str | None]]:
    """(path to the container mapping, container name) for every container list in a document."""
    seen: set[int] = set()
    stack: list[tuple[tuple[str | int, ...], Node]] = [((), root)]
    found: list[tuple[int, tuple[str | int, ...], str | None]] = []
    while stack:
        path, node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for k, v in node.value:
                key = locate.scalar(k)
                if key is None:
                    continue
                if key in CONTAINER_LISTS and isinstance(v, SequenceNode):
                    for i, item in enumerate(v.value):
                        if isinstance(item, MappingNode):
                            name = locate.scalar(locate.get(item, "name"))
                            found.append((item.start_mark.index, (*path, key, i), name))
                else:
                    stack.append(((*path, key), v))
        elif isinstance(node, SequenceNode):
            stack.extend(((*path, i), item) for i, item in enumerate(node.value))
    return iter([(path, name) for _, path, name in sorted(found, key=lambda f: f[0])])


def values_root(root: Node) -> tuple[tuple[str, ...], Node] | None:
    """Where Helm values live: the whole document of a values file, or a HelmRelease's spec.values."""
    kind = doc_kind(root)
    if kind == "HelmRelease":
        values = locate.get(locate.get(root, "spec"), "values")
        return (("spec", "values"), values) if values is not None else None
    return ((), root) if kind is None and isinstance(root, MappingNode) else None


def _named_entries(root: Node, list_key: str, name: str | None) -> Iterator[tuple[int, Node]]:
    entries = locate.get(root, list_key)
    if isinstance(entries, SequenceNode):
        for i, item in enumerate(entries.value):
            if isinstance(item, MappingNode) and (
                name is None or locate.scalar(locate.get(item, "name")) == name
            ):
                yield i, item


def candidates(docs: list[Node], t: Target) -> list[Resolved]:
    out: list[Resolved] = []
    for i, root in documents(docs, t):
        where = describe(i, root)
        if t.kind == "image":
            for cpath, cname in containers(root):
                if (t.container is None or cname == t.container) and locate.walk(root, (*cpath, "image")):
                    label = f"{where} {cpath[-2]} {cname!r}"
                    out.append(Resolved(i, (*cpath, "image"), label, extra={"container": cname or ""}))
        elif t.kind == "kustomize-image":
            for j, _ in _named_entries(root, "images", t.name):
                out.append(Resolved(i, ("images", j, str(t.field)), f"{where} images[{j}]", create=True))
        elif t.kind == "replicas":
            kustomize = isinstance(locate.get(root, "replicas"), SequenceNode)
            helm = values_root(root)
            if kustomize:
                for j, _ in _named_entries(root, "replicas", t.name):
                    out.append(Resolved(i, ("replicas", j, "count"), f"{where} replicas[{j}]"))
            elif t.name is None and helm is not None:
                path = (*helm[0], *(t.path or DEFAULT_REPLICAS_PATH))
                if locate.walk(root, path):
                    out.append(Resolved(i, path, f"{where} values {'.'.join(map(str, path))}"))
            elif t.name is None and doc_kind(root) and locate.walk(root, ("spec", "replicas")):
                out.append(Resolved(i, ("spec", "replicas"), f"{where} spec.replicas"))
        elif t.kind == "helm-value":
            helm = values_root(root) if t.doc is None else values_root(root) or ((), root)
            if helm is not None and locate.walk(root, (*helm[0], *t.path)):
                out.append(Resolved(i, (*helm[0], *t.path), f"{where} values {'.'.join(map(str, t.path))}"))
        elif t.kind == "hpa":
            if doc_kind(root) == "HorizontalPodAutoscaler" and locate.walk(root, ("spec", str(t.field))):
                out.append(Resolved(i, ("spec", str(t.field)), f"{where} spec.{t.field}"))
        elif t.kind == "configmap":
            if doc_kind(root) == "ConfigMap" and locate.walk(root, ("data", str(t.key))):
                out.append(Resolved(i, ("data", str(t.key)), f"{where} data"))
        elif t.kind == "annotation":
            if t.resource is None and doc_kind(root) not in WORKLOADS:
                continue
            templates = {cpath[:-4] for cpath, _ in containers(root) if cpath[-4:-2] == ("template", "spec")}
            for tpath in sorted(templates, key=len)[:1]:
                path = (*tpath, "template", "metadata", "annotations", str(t.key))
                out.append(Resolved(i, path, f"{where} pod template", create=True))
        elif t.kind == "path" and locate.walk(root, t.path):
            out.append(Resolved(i, t.path, where))
    return out


def resolve(docs: list[Node], target: Target, filename: str) -> Resolved:
    found = candidates(docs, target)
    if len(found) == 1:
        return found[0]
    if not found:
        hint = ""
        if target.kind == "image":
            names = [repr(n) for _, root in documents(docs, target) for _, n in containers(root)]
            hint = f" (containers here: {', '.join(names) or 'none'})"
        raise errors.ManifestError(f"{target} not found{hint}", file=filename)
    listed = "; ".join(f.label for f in found)
    raise errors.ManifestError(
        f"{target} is ambiguous, {len(found)} candidates: {listed} (narrow it by container, doc or resource)",
        file=filename,
    )


def node_value(node: Node | None) -> object:
    """The Python value a scalar constructs to (YAML 1.2 core types); collections as dict/list."""
    if isinstance(node, ScalarNode):
        tag, text = str(node.tag), node.value
        if tag == locate.INT:
            digits = text.replace("_", "")
            try:
                return int(digits, 0)
            except ValueError:
                return int(digits, 10)
        if tag.endswith(":float"):
            return float(text.replace("_", ""))
        if tag.endswith(":bool"):
            return text.lower() in ("true", "yes", "on", "y")
        if tag == locate.NULL:
            return None
        return text
    if isinstance(node, SequenceNode):
        return [node_value(n) for n in node.value]
    if isinstance(node, MappingNode):
        return {str(node_value(k)): node_value(v) for k, v in node.value}
    return None
