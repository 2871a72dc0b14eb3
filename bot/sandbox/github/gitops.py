"""Real git operations on the bare repositories the GitHub emulator fronts.

Refs are read live from the bare repo (the bot pushes there directly), and merges are made with
git plumbing (`merge-tree --write-tree`, `commit-tree`, compare-and-swap `update-ref`) or, for
rebase merges, in a throw-away shared clone. This module must not know about pull requests or HTTP.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot import errors

ZERO_SHA = "0" * 40


class GitOpFailed(errors.SandboxError):
    """A git command in the emulator failed (missing object, lost compare-and-swap race, ...)."""


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Identity
    author_date: str
    committer: Identity
    committer_date: str
    message: str


@dataclass(frozen=True)
class FileStat:
    filename: str
    additions: int
    deletions: int
    status: str
    blob: str
    patch: str


class BareRepo:
    """One bare repository; every method is a short git subprocess call."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not (self.path / "HEAD").exists():
            raise errors.SandboxError(f"not a git repository: {self.path}")

    def _git(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        full_env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C", **(env or {})}
        proc = subprocess.run(
            ["git", "--git-dir", str(self.path), *args],
            capture_output=True,
            text=True,
            env=full_env,
            check=False,
        )
        if check and proc.returncode != 0:
            raise GitOpFailed(f"git {' '.join(args[:3])} failed: {proc.stderr.strip()[:300]}")
        return proc.stdout

    def head_branch(self) -> str:
        out = self._git("symbolic-ref", "--short", "HEAD", check=False).strip()
        return out or "main"

    def resolve(self, ref: str) -> str | None:
        """Commit sha of a branch name, full ref or sha; None if it does not exist."""
        for candidate in (f"refs/heads/{ref}", ref):
            out = self._git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", check=False)
            if out.strip():
                return out.strip()
        return None

    def refs(self, prefix: str = "refs/") -> list[tuple[str, str]]:
        out = self._git("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        return [(name, sha) for name, sha in (line.split(" ", 1) for line in out.splitlines())]

    def update_ref(self, ref: str, new: str, old: str | None = None) -> None:
        """Move ``ref`` to ``new``; given ``old``, only if it still points there (ZERO_SHA: absent)."""
        args = ["update-ref", ref, new] + ([old] if old is not None else [])
        self._git(*args)

    def delete_ref(self, ref: str, old: str | None = None) -> None:
        self._git("update-ref", "-d", ref, *([old] if old else []))

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        proc = subprocess.run(
            ["git", "--git-dir", str(self.path), "merge-base", "--is-ancestor", ancestor, descendant],
            capture_output=True,
            check=False,
        )
        return proc.returncode == 0

    def commits_between(self, base: str, head: str) -> list[str]:
        """Commits reachable from head but not base, oldest first (what a PR would bring)."""
        return self._git("rev-list", "--reverse", f"{base}..{head}").split()

    def trial_merge(self, base: str, head: str) -> str | None:
        """Tree of merging head into base, or None when they conflict. Writes only objects, no refs."""
        proc = subprocess.run(
            ["git", "--git-dir", str(self.path), "merge-tree", "--write-tree", "--no-messages", base, head],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0:
            return proc.stdout.split()[0]
        if proc.returncode == 1:
            return None
        raise GitOpFailed(f"git merge-tree failed: {proc.stderr.strip()[:300]}")

    def commit_tree(
        self,
        tree: str,
        parents: list[str],
        message: str,
        *,
        author: Identity,
        committer: Identity,
        when: datetime,
    ) -> str:
        stamp = f"{int(when.timestamp())} +0000"
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": stamp,
        }
        args = ["commit-tree", tree, "-m", message]
        for parent in parents:
            args += ["-p", parent]
        return self._git(*args, env=env).strip()

    def rebase(self, base: str, head: str, committer: Identity, when: datetime) -> str | None:
        """Replay head's commits onto base (always new commits, like GitHub); None on conflict."""
        stamp = f"{int(when.timestamp())} +0000"
        env = {
            **os.environ,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": stamp,
        }
        with tempfile.TemporaryDirectory(prefix="ghemu-rebase-") as tmp:

            def run(*args: str, cwd: str = tmp) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
                )

            run("clone", "--quiet", "--shared", "--no-checkout", str(self.path), tmp, cwd="/")
            run("checkout", "--quiet", "--detach", head)
            proc = run("rebase", "--quiet", "--force-rebase", base)
            if proc.returncode != 0:
                run("rebase", "--abort")
                return None
            new_head = run("rev-parse", "HEAD").stdout.strip()
            # New objects live only in the clone; fetching into the bare repo copies them (FETCH_HEAD only).
            self._git("fetch", "--quiet", "--no-tags", tmp, "HEAD")
            return new_head

    def commit_info(self, sha: str) -> CommitInfo | None:
        fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
        out = self._git("show", "-s", f"--format={fmt}", f"{sha}^{{commit}}", check=False)
        parts = out.split("\x00")
        if len(parts) < 10:
            return None
        return CommitInfo(
            sha=parts[0],
            tree=parts[1],
            parents=tuple(parts[2].split()),
            author=Identity(parts[3], parts[4]),
            author_date=parts[5],
            committer=Identity(parts[6], parts[7]),
            committer_date=parts[8],
            message=parts[9].rstrip("\n"),
        )

    def file_stats(self, sha: str) -> list[FileStat]:
        """Per-file change of a commit against its first parent (root commits against the empty tree)."""
        base = ["diff-tree", "-r", "--no-renames", "--no-commit-id"]
        parents = self._git("rev-list", "--parents", "-n", "1", sha).split()[1:2]
        span = [parents[0], sha] if parents else ["--root", sha]
        raw = self._git(*base, "--raw", *span).splitlines()
        numstat = self._git(*base, "--numstat", *span).splitlines()
        patch = self._git(*base, "-p", *span)
        patches = {}
        for chunk in patch.split("diff --git ")[1:]:
            header, _, body = chunk.partition("\n@@")
            name = header.split("\n", 1)[0].split(" b/", 1)[-1]
            patches[name] = "@@" + body.rstrip("\n") if body else ""
        kinds = {"A": "added", "D": "removed", "M": "modified"}
        stats = []
        for meta, counts in zip(raw, numstat, strict=False):
            fields, filename = meta.split("\t", 1)
            _, _, _, blob, kind = fields.split()
            added, deleted, _ = counts.split("\t", 2)
            stats.append(
                FileStat(
                    filename,
                    int(added) if added.isdigit() else 0,
                    int(deleted) if deleted.isdigit() else 0,
                    kinds.get(kind[0], "changed"),
                    blob,
                    patches.get(filename, ""),
                )
            )
        return stats

    def diff_stats(self, base: str, head: str) -> tuple[int, int, int]:
        """(additions, deletions, changed files) of head against its merge base with base."""
        out = self._git("diff", "--numstat", "--no-renames", f"{base}...{head}", check=False)
        added = deleted = files = 0
        for line in out.splitlines():
            a, d, _ = line.split("\t", 2)
            added += int(a) if a.isdigit() else 0
            deleted += int(d) if d.isdigit() else 0
            files += 1
        return added, deleted, files
