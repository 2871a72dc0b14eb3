"""The emulated repo-server's Git side: resolve a revision the way Argo CD's lsRemote does, read a commit.

It reads local repositories with the ``git`` CLI (a repoURL is a path or ``file://`` URL) and must not
write to them, render manifests or know about apps.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from functools import lru_cache

from bot import errors

_SHA = re.compile(r"^[0-9a-f]{40}$")
_SEMVER = re.compile(r"[*~^<>=]|\s-\s")


class RenderError(errors.SandboxError):
    """The emulated repo-server could not produce manifests (becomes a ComparisonError condition)."""


def _git(repo: str, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(["git", "-C", repo, *args], input=stdin, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise RenderError(
            f"git {args[0]} failed in {repo}: {detail.decode(errors='replace').strip()}"
        ) from exc
    return done.stdout


# Remote URL -> local repository: the repo-server's own copy of a remote it fetches with the credentials
# Argo CD holds (its repo-creds). Tests serving a repo over authenticated HTTP register it here; the
# emulator never sees the bot's credentials, as the real Argo CD does not.
MIRRORS: dict[str, str] = {}


def repo_path(repo_url: str) -> str:
    return MIRRORS.get(repo_url, repo_url.removeprefix("file://"))


def resolve(repo: str, revision: str) -> str:
    """Argo CD's lsRemote rules, reduced to a local repo: HEAD, SHA, branch/tag/full ref, short SHA."""
    revision = revision or "HEAD"
    if _SHA.match(revision):
        return revision
    if _SEMVER.search(revision):
        raise RenderError(f"semver constraints are not emulated: '{revision}'")
    refs: dict[str, str] = {}
    for line in _git(repo, "show-ref", "--head", "--dereference").decode().splitlines():
        sha, ref = line.split(" ", 1)
        if ref.endswith("^{}"):
            ref = ref[:-3]  # an annotated tag: keep the commit it points at
        refs[ref] = sha
    if revision == "HEAD" and "HEAD" in refs:
        return refs["HEAD"]
    for candidate in (revision, f"refs/heads/{revision}", f"refs/tags/{revision}"):
        if candidate in refs:
            return refs[candidate]
    if re.fullmatch(r"[0-9a-f]{7,39}", revision):
        try:
            return _git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").decode().strip()
        except RenderError:
            pass
    raise RenderError(f"unable to resolve '{revision}' to a commit SHA")


@lru_cache(maxsize=64)
def tree(repo: str, sha: str) -> Mapping[str, bytes]:
    """Every file of the commit (demo repos are small), read with one ls-tree and one cat-file --batch."""
    entries: list[tuple[str, str]] = []
    for line in _git(repo, "ls-tree", "-r", "-z", sha).split(b"\0"):
        if line:
            meta, name = line.split(b"\t", 1)
            _mode, kind, oid = meta.split()
            if kind == b"blob":
                entries.append((name.decode(), oid.decode()))
    raw = _git(repo, "cat-file", "--batch", stdin=b"".join(f"{oid}\n".encode() for _, oid in entries))
    files: dict[str, bytes] = {}
    pos = 0
    for path, _ in entries:
        header_end = raw.index(b"\n", pos)
        size = int(raw[pos:header_end].split()[2])
        files[path] = raw[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1
    return files
