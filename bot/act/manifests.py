"""Bounded reading of an app's manifests from the working clone: what the act stage may parse at all.

Only regular files under the app's allowed paths are read, at most ``max_bytes`` each, valid UTF-8
without NUL bytes, parsing as YAML to a graph whose alias expansion stays bounded. Anything else is skipped
with a reason (logged, and named in the error when the heal then finds nothing to edit); symlinks and
paths leaving the repository are refused, never followed. Pure checks are ``refusal``/``text``; ``read``
looks at the clone (files are read from git objects, their kind and size from the checked-out tree).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from bot import errors
from bot.act import locate
from bot.clients import gitrepo
from bot.record import log
from bot.settings import tree

# An alias bomb (each anchor listing the previous one N times) grows as N**depth when walked: the
# editor's walk hangs on a 9x8 bomb of a few hundred bytes. The composed graph shares aliased nodes,
# so its expanded size is counted (memoized) before anything walks it.
MAX_NODES = 100_000


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class Manifests:
    files: dict[str, str]  # path -> text, the ones safe to parse
    skipped: tuple[Skipped, ...] = ()

    def note(self) -> str:
        """A suffix for an error message: which files were not even read, and why."""
        if not self.skipped:
            return ""
        return " (skipped: " + "; ".join(str(s) for s in self.skipped) + ")"


def prefixes(spec: tree.AppSpec) -> tuple[str, ...]:
    """Directory prefixes of the app's allowed globs (``apps/x/**`` -> ``apps/x``), for git pathspecs."""
    out = []
    for p in spec.paths:
        head = p.split("*", 1)[0].rstrip("/")
        out.append(head or ".")
    return tuple(dict.fromkeys(out))


def refusal(root: Path, rel: str, max_bytes: int) -> str | None:
    """Why the checked-out file ``rel`` under ``root`` must not be read, or None when it may be."""
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or ".." in parts or parts[0] == ".git":
        return "refused: path leaves the repository"
    here = root
    for part in parts:
        here = here / part
        if here.is_symlink():
            return f"refused: symlink ({here.relative_to(root)} -> {_link(here)})"
    try:
        if not here.resolve().is_relative_to(root.resolve()):
            return "refused: path leaves the repository"
        st = here.lstat()
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if not here.is_file():
        return "refused: not a regular file"
    if st.st_size > max_bytes:
        return f"too large: {st.st_size} bytes, over the {max_bytes}-byte manifest limit"
    return None


def _link(path: Path) -> str:
    try:
        return str(path.readlink())
    except OSError:
        return "?"


def text(data: bytes, max_bytes: int) -> tuple[str | None, str]:
    """(the text, "") when ``data`` is a manifest worth parsing, else (None, why not)."""
    if len(data) > max_bytes:
        return None, f"too large: {len(data)} bytes, over the {max_bytes}-byte manifest limit"
    if b"\0" in data:
        return None, "binary (NUL bytes): not a manifest"
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (invalid byte at offset {exc.start})"
    return decoded, ""


def expanded(nodes: list[Node]) -> int:
    """How many nodes the documents would have with every alias expanded (memoized, so fast)."""
    memo: dict[int, int] = {}

    def size(node: Node) -> int:
        key = id(node)
        if key not in memo:
            memo[key] = 0  # a recursive alias counts once instead of looping
            children: list[Node] = []
            if isinstance(node, MappingNode):
                children = [n for pair in node.value for n in pair]
            elif isinstance(node, SequenceNode):
                children = list(node.value)
            memo[key] = min(MAX_NODES + 1, 1 + sum(size(c) for c in children))
        return memo[key]

    return sum(size(n) for n in nodes)


def parsed(path: str, decoded: str) -> str:
    """ "" when the text parses to a bounded node graph, else why the editor must not see it."""
    try:
        docs = locate.parse(decoded, path)
    except errors.ManifestError as exc:
        return str(exc).removeprefix(f"{path}: ")
    except RecursionError:
        return "nested too deeply to parse"
    if expanded(docs) > MAX_NODES:
        return f"YAML aliases expand to over {MAX_NODES} nodes: refused as an alias bomb"
    return ""


def read(clone: gitrepo.WorkingClone, spec: tree.AppSpec, max_bytes: int) -> Manifests:
    """The app's ``.yaml``/``.yml`` files at HEAD of the (freshly reset) clone, bounded as above."""
    files: dict[str, str] = {}
    skipped: list[Skipped] = []
    for prefix in prefixes(spec):
        entries = clone.blobs("HEAD", "" if prefix == "." else prefix)
        wanted = [p for p in entries if p.endswith((".yaml", ".yml")) and spec.allows(p) and p not in files]
        refused = {p: refusal(clone.path, p, max_bytes) for p in wanted}
        # one git process reads every readable file (it was two per file)
        contents = clone.read_blobs(list(dict.fromkeys(entries[p] for p in wanted if refused[p] is None)))
        for path in wanted:
            why = refused[path]
            decoded = None
            if why is None:
                data = contents.get(entries[path])
                if data is None:
                    continue
                decoded, why = text(data, max_bytes)
                if decoded is not None:
                    why = parsed(path, decoded)
                    decoded = None if why else decoded
            if decoded is None:
                skipped.append(Skipped(path, why or "unreadable"))
                # Helm templates are not YAML until rendered: skipping them is routine, not a warning
                level = logging.DEBUG if why.startswith("invalid YAML") else logging.WARNING
                log.event("manifest.skipped", level, app=spec.name, file=path, reason=why)
                continue
            files[path] = decoded
    return Manifests(files, tuple(skipped))
