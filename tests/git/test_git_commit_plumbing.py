"""The heal commit without ``git commit``'s stat walk of every file (issue 10 P3), and the sync's tree
check run beside its fetch. What git records must be exactly what ``git commit --cleanup=whitespace``
records: git's own ``stripspace`` is the oracle for the message (git-stripspace(1): "strip trailing
whitespace from all lines; collapse multiple consecutive empty lines into one empty line; strip
leading and trailing empty lines; add a missing \\n to the last line"), a porcelain commit of the same
index the oracle for the rest.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from githelp import CHECKOUT, Human, assert_clean, git

from bot import errors
from bot.clients import gitrepo

MESSAGES = [
    "heal: scale web\n\nHeal-Id: 000000000001\n",
    "  \n\nsubject   \n\n\n\nbody line\t \n\n\nHeal-Id: x\n\n\n",
    "no final newline",
    "# a comment line stays (whitespace mode)\nsubject",
    "crlf\r\n\r\nbody\r\n",
    "tabs\tinside\t\tkept\nunicode\u00a0space kept\u00a0\n",
    "",
    "\n\n\n",
]


@pytest.mark.parametrize("text", MESSAGES)
def test_stripspace_is_gits(text: str) -> None:
    done = subprocess.run(["git", "stripspace"], input=text.encode(), capture_output=True, check=True)
    assert gitrepo.stripspace(text).encode() == done.stdout


def _commit_like_git(human: Human, message: str) -> str:
    """The same staged change committed by ``git commit``: the tree, parent and message to match."""
    (human.path / CHECKOUT / "note.yaml").write_text("a: 1\n")
    git(human.path, "add", "-A")
    msg = human.path.parent / "msg.txt"
    msg.write_text(message)
    git(human.path, "commit", "-q", "--cleanup=whitespace", f"--file={msg}")
    return git(human.path, "cat-file", "-p", "HEAD")


@pytest.mark.parametrize("message", MESSAGES[:2])
def test_the_commit_records_what_git_commit_records(
    clone: gitrepo.WorkingClone, human: Human, remote: Path, message: str
) -> None:
    clone.write_files({f"{CHECKOUT}/note.yaml": b"a: 1\n"})
    patch, stat = clone.staged()
    assert (patch, stat) == (clone.staged_diff(), clone.staged_stat())
    sha = clone.commit(message)
    assert sha == git(clone.path, "rev-parse", "HEAD") == git(clone.path, "rev-parse", "main")
    ours = git(clone.path, "cat-file", "-p", sha).splitlines()
    theirs = _commit_like_git(human, message).splitlines()
    # same tree and parent; author/committer lines differ only in who and when
    assert ours[:2] == theirs[:2]
    assert ours[ours.index("") :] == theirs[theirs.index("") :]
    assert "commit: " in git(clone.path, "reflog", "-1", "main")
    pushed = clone.push()
    assert pushed.sha == sha == git(remote, "rev-parse", "main")
    clone.reset()
    assert_clean(clone, remote)


def test_nothing_staged_is_refused_and_allow_empty_records_an_audit_commit(
    clone: gitrepo.WorkingClone,
) -> None:
    before = git(clone.path, "rev-parse", "HEAD")
    with pytest.raises(errors.GitError, match="nothing to commit"):
        clone.commit("heal: nothing\n")
    clone.sync()
    assert git(clone.path, "rev-parse", "HEAD") == before
    sha = clone.commit("enforce\n\nHeal-Id: 0000000000e1", allow_empty=True)
    assert git(clone.path, "rev-parse", f"{sha}^{{tree}}") == git(
        clone.path, "rev-parse", f"{before}^{{tree}}"
    )
    assert git(clone.path, "rev-parse", f"{sha}^") == before


def test_a_head_moved_under_the_commit_is_not_overwritten(clone: gitrepo.WorkingClone) -> None:
    """update-ref with the old value: git refuses when HEAD is no longer the parent read (a lost update)."""
    clone.write_files({f"{CHECKOUT}/note.yaml": b"a: 2\n"})
    parent = git(clone.path, "rev-parse", "HEAD")
    other = git(clone.path, "commit-tree", f"{parent}^{{tree}}", "-p", parent, "-m", "someone else")
    real = clone._git

    def racing(*args: str, ref: str | None = None) -> str:
        out = real(*args, ref=ref)
        if args[0] == "commit-tree":
            real("update-ref", "HEAD", other)
        return out

    clone._git = racing  # type: ignore[method-assign]
    try:
        with pytest.raises(errors.GitError):
            clone.commit("heal: lost update\n")
    finally:
        clone._git = real  # type: ignore[method-assign]
    assert git(clone.path, "rev-parse", "HEAD") == parent  # the failsafe reset put it back


def test_sync_still_finds_dirt_while_fetching(
    clone: gitrepo.WorkingClone, human: Human, remote: Path
) -> None:
    """The tree check runs beside the fetch: junk is still cleaned, and a remote that moved meanwhile
    is still checked out."""
    (clone.path / "junk.txt").write_text("x")
    (clone.path / CHECKOUT / "deployment.yaml").write_text("tampered\n")
    human.commit({"x.yaml": "x: 1\n"}, "human change")
    head = clone.sync()
    assert head == git(remote, "rev-parse", "main")
    assert not (clone.path / "junk.txt").exists()
    assert_clean(clone, remote)


def test_commit_hooks_in_the_clone_still_run(clone: gitrepo.WorkingClone, tmp_path: Path) -> None:
    """An operator's hooks (or a test's kill point) are honoured: with one present, ``git commit`` runs."""
    ran = tmp_path / "ran"
    hook = clone.path / ".git" / "hooks" / "post-commit"
    hook.write_text(f"#!/bin/sh\necho yes > {ran}\n")
    hook.chmod(0o755)
    clone.write_files({f"{CHECKOUT}/note.yaml": b"a: 3\n"})
    clone.commit("heal: with a hook\n")
    assert ran.read_text() == "yes\n"
