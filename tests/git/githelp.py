"""Helpers for the git tests: plain git via subprocess for the humans, and clean-state assertions."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from bot.clients import gitrepo

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: checkout
          image: ghcr.io/acme/checkout:1.14.1
          env:
            - name: MODE
              value: normal
"""
SERVICE = "apiVersion: v1\nkind: Service\nmetadata:\n  name: checkout\n"
CART = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cart\nspec:\n  replicas: 2\n"
CHECKOUT = "apps/checkout/prod"


def git(cwd: Path, *args: str, input: str | None = None) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, input=input)
    return out.stdout.strip()


class Human:
    """A developer's clone that commits and pushes behind the bot's back."""

    def __init__(self, remote: Path, path: Path, name: str = "Dana Dev") -> None:
        subprocess.run(["git", "clone", "-q", str(remote), str(path)], check=True, capture_output=True)
        self.path = path
        git(path, "config", "user.name", name)
        git(path, "config", "user.email", f"{name.split(maxsplit=1)[0].lower()}@example.com")

    def commit(self, files: Mapping[str, str | None], message: str, *, push: bool = True) -> str:
        git(self.path, "pull", "-q", "--rebase")
        for rel, text in files.items():
            target = self.path / rel
            if text is None:
                git(self.path, "rm", "-q", rel)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            git(self.path, "add", rel)
        git(self.path, "commit", "-q", "-F", "-", input=message)
        if push:
            git(self.path, "push", "-q", "origin", "HEAD:main")
        return git(self.path, "rev-parse", "HEAD")

    def edit(self, rel: str, old: str, new: str, message: str, *, push: bool = True) -> str:
        git(self.path, "pull", "-q", "--rebase")
        text = (self.path / rel).read_text()
        assert old in text, (old, rel)
        return self.commit({rel: text.replace(old, new, 1)}, message, push=push)


def remote_head(remote: Path, branch: str = "main") -> str:
    return git(remote, "rev-parse", f"refs/heads/{branch}")


def remote_branches(remote: Path) -> list[str]:
    return git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()


def assert_clean(wc: gitrepo.WorkingClone, remote: Path) -> None:
    """Nothing staged, unstaged or untracked; HEAD at the last-fetched remote branch; no other branches."""
    assert git(wc.path, "status", "--porcelain", "--ignored") == ""
    assert wc.head() == wc.resolve(wc.remote_ref), "HEAD is not the last-fetched remote branch"
    assert wc.head() in git(remote, "rev-list", "main").split()
    assert git(wc.path, "for-each-ref", "--format=%(refname:short)", "refs/heads").split() == ["main"]
    assert not (wc.path / ".git" / "rebase-merge").exists()
    assert not (wc.path / ".git" / "REVERT_HEAD").exists()
