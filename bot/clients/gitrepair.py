"""What a killed git leaves in a working clone, found and cleared; and the parsing of the cheap checks
(``git status --porcelain=v2 --branch``, ``git for-each-ref``) that tell whether a full reset is needed.

Plain file operations and text parsing under ``gitrepo.WorkingClone``: it must not run git, and it is
only called on the bot's own disposable clone, which one process drives one command at a time.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

# read-cache.c: "index file corrupt", "bad index file sha1 signature", "bad signature 0x%08x",
# "bad index version %d", "index file smaller than expected"
_INDEX_CORRUPT = re.compile(r"index file|bad index|bad signature 0x", re.IGNORECASE)

# git's state files of an operation in progress (see git-status(1) "You are currently rebasing")
HALF_DONE = {
    "rebase-merge": "rebase in progress",
    "rebase-apply": "rebase in progress",
    "MERGE_HEAD": "merge in progress",
    "CHERRY_PICK_HEAD": "cherry-pick in progress",
    "REVERT_HEAD": "revert in progress",
    "sequencer": "cherry-pick/revert sequence in progress",
    "BISECT_LOG": "bisect in progress",
}
LEFTOVERS = ("MERGE_MSG", "MERGE_MODE", "AUTO_MERGE", "BISECT_START", "BISECT_TERMS")


def clear(dotgit: Path) -> list[str]:
    """Remove stale ``*.lock`` files and half-done operation state; what was found, for the log.

    Any lock is stale here: git takes a lock for one command and this process runs one at a time, so
    a lock seen between commands belongs to a git that was killed (``index.lock``: "Another git process
    seems to be running in this repository" on every later command, forever)."""
    found = []
    for lock in sorted([*dotgit.glob("*.lock"), *(dotgit / "refs").rglob("*.lock")]):
        lock.unlink(missing_ok=True)
        found.append(f"stale {lock.relative_to(dotgit)}")
    for marker, what in HALF_DONE.items():
        target = dotgit / marker
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        else:
            continue
        if what not in found:
            found.append(what)
    if found:
        for name in LEFTOVERS:
            (dotgit / name).unlink(missing_ok=True)
    return found


def index_corrupt(stderr: str) -> bool:
    """Whether git refused to work because ``.git/index`` is damaged (removing it loses nothing)."""
    return bool(_INDEX_CORRUPT.search(stderr))


def parse_status(out: str) -> tuple[str | None, str | None, bool]:
    """``status --porcelain=v2 --branch`` -> (branch or None when detached, HEAD sha, nothing to clean)."""
    branch = head = None
    clean = True
    for line in out.splitlines():
        if line.startswith("# branch.head "):
            branch = line.split(" ", 2)[2]
        elif line.startswith("# branch.oid "):
            head = line.split(" ", 2)[2]
        elif not line.startswith("#"):
            clean = False
    return (None if branch == "(detached)" else branch), head, clean


def parse_refs(out: str, remote_ref: str) -> tuple[str | None, list[str]]:
    """``for-each-ref --format='%(refname) %(objectname)'`` -> (sha of ``remote_ref``, local branches)."""
    remote, local = None, []
    for line in out.splitlines():
        name, _, sha = line.partition(" ")
        if name == remote_ref:
            remote = sha
        elif name.startswith("refs/heads/"):
            local.append(name.removeprefix("refs/heads/"))
    return remote, local
