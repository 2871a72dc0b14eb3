"""The working clone is disposable (issue 9 §2): whatever a killed git left behind is repaired or the
clone is re-made, and a ``git.clone_repaired`` / ``git.clone_remade`` event says so.

Each state is made by real git, as a crash leaves it: git takes ``index.lock`` for one command and only
removes it on exit ("Unable to create '.../index.lock': File exists. Another git process seems to be
running in this repository" on every later command otherwise, git-status(1)/lockfile.c); a rebase,
merge or cherry-pick stopped on a conflict stays "in progress" until aborted.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from githelp import CHECKOUT, Human, assert_clean, git

from bot.clients import gitrepo
from bot.record import log

DEPLOY = f"{CHECKOUT}/deployment.yaml"


@pytest.fixture
def clone(remote: Path, tmp_path: Path) -> Iterator[gitrepo.WorkingClone]:
    wc = gitrepo.WorkingClone(
        str(remote), "main", tmp_path / "work", identity=("githeal-bot", "g@example.com"), on_event=log.event
    )
    wc.sync()
    yield wc


def _try(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def _events(caplog: pytest.LogCaptureFixture) -> list[tuple[str, object]]:
    return [
        (r.getMessage(), getattr(r, "githeal_fields", {}).get("repaired") or getattr(r, "githeal_fields", {}))
        for r in caplog.records
        if r.getMessage().startswith("git.clone_")
    ]


def _conflict(clone: gitrepo.WorkingClone, human: Human) -> str:
    """A local commit of the bot and a human's conflicting push: returns the human's sha (fetched)."""
    git(clone.path, "checkout", "-q", "-b", "side")
    path = clone.path / DEPLOY
    path.write_text(path.read_text().replace("replicas: 3", "replicas: 5"))
    git(clone.path, "commit", "-qam", "bot side")
    theirs = human.edit(DEPLOY, "replicas: 3", "replicas: 9", "human change")
    clone.fetch()
    return theirs


def _sync_repairs(clone: gitrepo.WorkingClone, remote: Path, caplog: pytest.LogCaptureFixture) -> list:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="githeal"):
        clone.sync()
    assert_clean(clone, remote)
    return _events(caplog)


def test_stale_index_lock_from_a_killed_git(
    clone: gitrepo.WorkingClone, remote: Path, human: Human, caplog: pytest.LogCaptureFixture
) -> None:
    (clone.path / ".git" / "index.lock").write_text("")
    (clone.path / ".git" / "refs" / "heads" / "main.lock").write_text("")
    stuck = subprocess.run(
        ["git", "reset", "--hard"], cwd=clone.path, capture_output=True, text=True, check=False
    )
    assert stuck.returncode != 0 and "index.lock" in stuck.stderr  # what used to stop every heal
    human.edit(DEPLOY, "replicas: 3", "replicas: 4", "human scales")
    assert _sync_repairs(clone, remote, caplog) == [
        ("git.clone_repaired", ["stale index.lock", "stale refs/heads/main.lock"])
    ]
    assert "replicas: 4" in (clone.path / DEPLOY).read_text()


@pytest.mark.parametrize(
    ("verb", "what"),
    [
        ("rebase", "rebase in progress"),
        ("merge", "merge in progress"),
        ("cherry-pick", "cherry-pick in progress"),
    ],
)
def test_operation_stopped_on_a_conflict(
    verb: str,
    what: str,
    clone: gitrepo.WorkingClone,
    remote: Path,
    human: Human,
    caplog: pytest.LogCaptureFixture,
) -> None:
    theirs = _conflict(clone, human)
    target = {"rebase": clone.remote_ref, "merge": clone.remote_ref, "cherry-pick": theirs}[verb]
    if verb == "cherry-pick":
        git(clone.path, "reset", "-q", "--hard", "HEAD~0")
    stopped = subprocess.run(
        ["git", verb, target], cwd=clone.path, capture_output=True, text=True, check=False
    )
    assert stopped.returncode != 0, stopped.stdout
    assert "conflict" in (stopped.stdout + stopped.stderr).lower()
    assert ("git.clone_repaired", [what]) in _sync_repairs(clone, remote, caplog)
    assert "replicas: 9" in (clone.path / DEPLOY).read_text()


def test_detached_head(
    clone: gitrepo.WorkingClone, remote: Path, human: Human, caplog: pytest.LogCaptureFixture
) -> None:
    git(clone.path, "checkout", "-q", "--detach", "HEAD")
    human.edit(DEPLOY, "replicas: 3", "replicas: 6", "human scales")
    assert _sync_repairs(clone, remote, caplog) == [("git.clone_repaired", ["detached HEAD"])]


def test_corrupted_index(
    clone: gitrepo.WorkingClone, remote: Path, human: Human, caplog: pytest.LogCaptureFixture
) -> None:
    index = clone.path / ".git" / "index"
    index.write_bytes(b"DIRC" + b"\xff" * 64)
    broken = _try(clone.path, "status")
    assert broken.returncode != 0 and "index" in broken.stderr
    human.edit(DEPLOY, "replicas: 3", "replicas: 7", "human scales")
    assert _sync_repairs(clone, remote, caplog) == [("git.clone_repaired", ["corrupt index"])]
    assert "replicas: 7" in (clone.path / DEPLOY).read_text()


def test_a_clone_broken_beyond_repair_is_remade(
    clone: gitrepo.WorkingClone, remote: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (clone.path / ".git" / "HEAD").write_text("garbage\n")  # no longer a git repository
    events = _sync_repairs(clone, remote, caplog)
    assert [name for name, _ in events] == ["git.clone_remade"]


def test_a_healthy_clone_logs_nothing(
    clone: gitrepo.WorkingClone, remote: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert _sync_repairs(clone, remote, caplog) == []
