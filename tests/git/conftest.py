"""Real git repositories in temp dirs: a bare "remote", the bot's working clone, a "human" clone."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from githelp import CART, CHECKOUT, DEPLOY, SERVICE, Human, git

from bot.clients import gitrepo


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # the developer's own ~/.gitconfig (signing, hooks, templates) must not leak into the tests
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig-global"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (tmp_path / "gitconfig-global").write_text("[init]\n\tdefaultBranch = main\n")


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
    git(seed, "config", "user.name", "Seed")
    git(seed, "config", "user.email", "seed@example.com")
    for rel, text in {
        f"{CHECKOUT}/deployment.yaml": DEPLOY,
        f"{CHECKOUT}/service.yaml": SERVICE,
        "apps/cart/prod/deployment.yaml": CART,
    }.items():
        (seed / rel).parent.mkdir(parents=True, exist_ok=True)
        (seed / rel).write_text(text)
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "initial manifests")
    git(seed, "push", "-q", str(bare), "main")
    return bare


@pytest.fixture
def human(remote: Path, tmp_path: Path) -> Human:
    return Human(remote, tmp_path / "human")


@pytest.fixture
def clone(remote: Path, tmp_path: Path) -> Iterator[gitrepo.WorkingClone]:
    wc = gitrepo.WorkingClone(
        str(remote),
        "main",
        tmp_path / "work",
        identity=("githeal-bot", "githeal@example.com"),
        sleep=lambda _s: None,
    )
    wc.sync()
    yield wc
