"""Multi-source apps (``spec.sources``) in the emulator: per-source revisions and one combined desired state.

As Argo CD does (argocd-api.md section 4): each source resolves to its own revision (a Git SHA, or the
chart version of a Helm-repository source), a ``ref`` source only lends its files to the ``$ref/...``
value files of the others, and ``Rendered.revisions`` is index-aligned with spec.sources. A Helm
repository is emulated as a local directory ``<repoURL>/<chart>/<version>/`` holding the unpacked chart.
Pure rendering: no app state, no HTTP, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from io import StringIO
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.sandbox.argocd import rendering, state


def resolve(source: Mapping[str, Any], revision: str | None = None) -> str:
    """A chart source's version (exact versions only), or a Git source's commit SHA."""
    target = revision or str(source.get("targetRevision", ""))
    repo = rendering.repo_path(str(source.get("repoURL", "")))
    if source.get("chart"):
        chart = str(source["chart"])
        if not target or not (Path(repo) / chart / target).is_dir():
            raise rendering.RenderError(f"chart {chart!r} version {target!r} not found in repository {repo}")
        return target
    return rendering.resolve(repo, target)


def _chart_files(root: Path, prefix: str) -> dict[str, bytes]:
    return {
        f"{prefix}/{p.relative_to(root).as_posix()}": p.read_bytes() for p in root.rglob("*") if p.is_file()
    }


def _yaml(text: bytes, where: str) -> dict[str, Any]:
    try:
        doc = YAML(typ="safe", pure=True).load(StringIO(text.decode()))
    except (YAMLError, UnicodeDecodeError) as exc:
        raise rendering.RenderError(f"{where}: {exc}") from exc
    return doc if isinstance(doc, dict) else {}


def _value_file(
    name: str, refs: Mapping[str, tuple[str, str]], own: Mapping[str, bytes], own_path: str
) -> dict[str, Any]:
    """``$ref/path`` reads the ref source's tree at its revision; a plain path is the source's own."""
    if name.startswith("$"):
        ref, _, path = name[1:].partition("/")
        if ref not in refs:
            raise rendering.RenderError(f"value file {name}: no source has ref {ref!r}")
        repo, sha = refs[ref]
        files = rendering.tree(repo, sha)
    else:
        files, path = own, f"{own_path.strip('/')}/{name}".lstrip("/")
    if path not in files:
        raise rendering.RenderError(f"open {path}: no such file or directory")
    return _yaml(files[path], name)


def render_all(
    sources: Sequence[Mapping[str, Any]],
    revisions: Sequence[str] | None,
    *,
    app: str,
    namespace: str,
    helm_keys: rendering.HelmKeys,
) -> rendering.Rendered:
    """The desired state of all sources at ``revisions`` (None: each source's targetRevision)."""
    revs = [
        resolve(s, revisions[i] if revisions and i < len(revisions) else None) for i, s in enumerate(sources)
    ]
    refs = {
        str(s["ref"]): (rendering.repo_path(str(s.get("repoURL", ""))), rev)
        for s, rev in zip(sources, revs, strict=True)
        if s.get("ref") and not s.get("chart")
    }
    resources: dict[tuple[str, str, str, str], rendering.Resource] = {}
    kinds: list[str] = []
    for source, rev in zip(sources, revs, strict=True):
        if source.get("ref") and not source.get("path") and not source.get("chart"):
            continue  # a values-only source renders nothing itself
        if source.get("chart"):
            chart = str(source["chart"])
            root = Path(rendering.repo_path(str(source.get("repoURL", "")))) / chart / rev
            files: Mapping[str, bytes] = _chart_files(root, chart)
            path = chart
        else:
            files = rendering.tree(rendering.repo_path(str(source.get("repoURL", ""))), rev)
            path = str(source.get("path", ""))
        helm = source.get("helm") or {}
        values = [_value_file(str(f), refs, files, path) for f in helm.get("valueFiles") or []]
        params = {str(p.get("name")): str(p.get("value")) for p in helm.get("parameters") or []}
        out = rendering.render_files(
            files,
            rev,
            path,
            app=app,
            namespace=namespace,
            helm_keys=helm_keys,
            helm_params=params,
            values=values,
        )
        kinds.append(out.source_type)
        resources.update({r.key: r for r in out.resources})
    return rendering.Rendered("", kinds[0] if kinds else "Directory", tuple(resources.values()), tuple(revs))


def sync_request(
    sources: Sequence[Mapping[str, Any]], automated: bool, body: Mapping[str, Any]
) -> dict[str, Any]:
    """A multi-source sync: ``revisions`` + 1-based ``sourcePositions`` override single sources and
    ``revision`` is ignored (argocd-api.md section 4); returns the operation's sources and revisions."""
    wanted = [str(s.get("targetRevision", "")) for s in sources]
    overrides, positions = body.get("revisions") or [], body.get("sourcePositions") or []
    if len(overrides) != len(positions):
        raise state.RequestError(3, "revisions and sourcePositions must have the same length")
    for rev, pos in zip(overrides, positions, strict=True):
        if not isinstance(pos, int) or not 1 <= pos <= len(wanted):
            raise state.RequestError(3, f"source position is out of range: {pos}")
        current = wanted[pos - 1]
        if automated and not body.get("dryRun") and rev and rev != current:
            repo = sources[pos - 1].get("repoURL")
            raise state.RequestError(
                9, f"Cannot sync source {repo} to {rev}: auto-sync currently set to {current}"
            )
        wanted[pos - 1] = str(rev) or current
    try:
        revs = [resolve(s, wanted[i]) for i, s in enumerate(sources)]
    except rendering.RenderError as exc:
        raise state.RequestError(2, exc.message) from exc
    return {"sources": [dict(s) for s in sources], "revisions": revs}
