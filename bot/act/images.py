"""Image references in a manifest, in whatever form the file writes them: a container's ``image:``,
a kustomization ``images:`` entry (newName/newTag/digest), or Helm values (registry/repository/tag).

``discover`` lists them with a Target each; ``plan`` works out which fields to set so the file
points at a given full image ref. Pure: it reads parsed nodes and never edits text itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot import errors
from bot.act import locate, targets

DEFAULT_HELM_PATHS: tuple[str, ...] = ("**.image",)
HELM_FIELDS = ("registry", "repository", "tag", "digest")


@dataclass(frozen=True)
class ImageRef:
    """One image field: ``apply(text, ref.target, ref.value)`` on another revision pins it back."""

    target: targets.Target
    value: str  # the field's text as written ("" for an empty or null field)
    line: int  # 1-based
    form: str  # container | kustomize | helm
    field: str  # image | newName | newTag | digest | newDigest | tagSuffix | registry | repository | tag
    group: str  # fields of one image share a group (container, kustomize entry, helm image block)


def split_image(ref: str) -> tuple[str, str | None, str | None]:
    """``"reg:5000/app:1.2@sha256:ab"`` -> ("reg:5000/app", "1.2", "sha256:ab")."""
    name, _, digest = ref.strip().partition("@")
    tag = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag or None, digest or None


def _glob(parts: Sequence[str], path: Sequence[str | int]) -> bool:
    if not parts:
        return not path
    if parts[0] == "**":
        return _glob(parts[1:], path) or (bool(path) and _glob(parts, path[1:]))
    return bool(path) and parts[0] in ("*", str(path[0])) and _glob(parts[1:], path[1:])


def _helm_nodes(root: Node, patterns: Sequence[str]) -> Iterator[tuple[tuple[str | int, ...], Node]]:
    """Nodes whose key path matches a pattern, in source order."""
    split = [p.split(".") for p in patterns]
    seen: set[int] = set()
    stack: list[tuple[tuple[str | int, ...], Node]] = [((), root)]
    hits = []
    while stack:
        path, node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if path and any(_glob(parts, path) for parts in split):
            hits.append((path, node))
        if isinstance(node, MappingNode):
            stack.extend(((*path, k.value), v) for k, v in node.value if isinstance(k, ScalarNode))
    return iter(sorted(hits, key=lambda hit: int(hit[1].start_mark.index)))


def _text(node: Node) -> str:
    return "" if str(node.tag) == locate.NULL else str(node.value)


def _unique(docs: list[Node], target: targets.Target, doc: int) -> targets.Target:
    """The most stable target naming this field: without a document index when that is unambiguous,
    so the same target still works on another revision of the file."""
    if len(targets.candidates(docs, target)) == 1:
        return target
    return dataclasses.replace(target, doc=doc)


def discover(docs: list[Node], helm_paths: Sequence[str] = DEFAULT_HELM_PATHS) -> list[ImageRef]:
    refs: list[ImageRef] = []
    for i, root in enumerate(docs):
        where = targets.describe(i, root)
        kind, name = targets.doc_kind(root), targets.doc_name(root)
        for cpath, cname in targets.containers(root):
            found = locate.walk(root, (*cpath, "image"))
            if found is None or not isinstance(found.node, ScalarNode):
                continue
            target = (
                _unique(docs, targets.Target.image(cname, resource=kind, resource_name=name), i)
                if cname
                else targets.Target.at((*cpath, "image"), doc=i)
            )
            line = found.node.start_mark.line + 1
            refs.append(ImageRef(target, _text(found.node), line, "container", "image", f"{where} {cname!r}"))
        entries = locate.get(root, "images")
        for entry in entries.value if isinstance(entries, SequenceNode) else []:
            ename = locate.scalar(locate.get(entry, "name"))
            for field in targets.KUSTOMIZE_FIELDS if ename else ():
                node = locate.get(entry, field)
                if isinstance(node, ScalarNode):
                    target = _unique(docs, targets.Target.kustomize_image(str(ename), field), i)
                    group = f"{where} images[name={ename}]"
                    refs.append(
                        ImageRef(target, _text(node), node.start_mark.line + 1, "kustomize", field, group)
                    )
        helm = targets.values_root(root)
        for path, node in _helm_nodes(helm[1], helm_paths) if helm else ():
            fields: list[tuple[tuple[str, ...], str, ScalarNode]] = []
            if isinstance(node, ScalarNode):
                fields.append(((), "image", node))
            fields += [((f,), f, n) for f in HELM_FIELDS if isinstance(n := locate.get(node, f), ScalarNode)]
            if isinstance(node, MappingNode) and not {"repository", "tag"} & {f for _, f, _ in fields}:
                continue
            for suffix, field, n in fields:
                target = _unique(docs, targets.Target.helm_value((*path, *suffix)), i)
                group = f"{where} values {'.'.join(map(str, path))}"
                refs.append(ImageRef(target, _text(n), n.start_mark.line + 1, "helm", field, group))
    return refs


def current(group: list[ImageRef]) -> str:
    """The full image ref a group of fields describes today."""
    by = {r.field: r.value for r in group}
    if "image" in by:
        return by["image"]
    if group[0].form == "kustomize":
        ref = by.get("newName") or str(group[0].target.name)
        digest = by.get("digest") or by.get("newDigest")
    else:
        ref = "/".join(p for p in (by.get("registry"), by.get("repository")) if p)
        digest = by.get("digest")
    ref += f":{by['newTag' if 'newTag' in by else 'tag']}" if by.get("newTag") or by.get("tag") else ""
    return ref + (f"@{digest}" if digest else "")


def _owner(group: list[ImageRef]) -> str:
    t = group[0].target
    if group[0].form == "container":
        return str(t.container)
    if group[0].form == "kustomize":
        return str(t.name)
    return ".".join(map(str, t.path[:-1] if group[0].field != "image" else t.path))


def plan(
    refs: list[ImageRef], image: str, container: str | None, filename: str
) -> list[tuple[targets.Target, str]]:
    """The (target, value) edits that make the file use ``image``, in the form it already uses."""
    name, tag, digest = split_image(image)
    if not tag and not digest:
        raise errors.ManifestError(f"image {image!r} has neither a tag nor a digest", file=filename)
    groups: dict[str, list[ImageRef]] = {}
    for ref in refs:
        groups.setdefault(ref.group, []).append(ref)
    every = list(groups.values())
    if container is not None:
        chosen = [g for g in every if _owner(g) == container]
    else:
        chosen = [g for g in every if split_image(current(g))[0] == name] or (
            every if len(every) == 1 else []
        )
    if len(chosen) != 1:
        listed = "; ".join(f"{g[0].group} = {current(g)}" for g in every) or "none"
        how = "ambiguous" if chosen else "not found"
        raise errors.ManifestError(
            f"image for {container or name!r} {how}; images here: {listed}", file=filename
        )
    group = chosen[0]
    by = {r.field: r for r in group}
    form = group[0].form
    if form == "container" or "image" in by:
        return [(group[0].target, image)]
    edits: list[tuple[targets.Target, str]] = []
    base = group[0].target
    if form == "kustomize":
        if ("newName" in by and by["newName"].value != name) or ("newName" not in by and base.name != name):
            edits.append((dataclasses.replace(base, field="newName"), name))
        tag_field, digest_field = "newTag", "newDigest" if "newDigest" in by else "digest"
    else:
        registry = by.get("registry")
        if registry is not None and registry.value:
            host, _, rest = name.partition("/")
            if rest and ("." in host or ":" in host or host == "localhost"):
                edits.append((registry.target, host))
                name = rest
        if "repository" in by and by["repository"].value != name:
            edits.append((by["repository"].target, name))
        tag_field, digest_field = "tag", "digest"
        if (tag and "tag" not in by) or (digest and "digest" not in by):
            where = ".".join(map(str, base.path[:-1]))
            raise errors.ManifestError(f"values at {where} lack a tag or digest field", file=filename)

    def make(field: str) -> targets.Target:
        if form == "kustomize":
            return dataclasses.replace(base, field=field)
        return dataclasses.replace(base, path=(*base.path[:-1], field))

    if tag:
        edits.append((make(tag_field), tag))
    if digest:
        edits.append((make(digest_field), digest))
    elif digest_field in by and by[digest_field].value:
        edits.append((make(digest_field), ""))  # a stale digest would win over the new tag
    return edits
