"""Helpers shared by the GitHub tests: a bare repo with a working clone, and a PyGithub factory."""

from __future__ import annotations

import subprocess
from pathlib import Path

import github

TOKEN = "ghp_test_token_githeal"
BOT = "githeal-bot"
REPO = "acme/gitops"


class Workspace:
    """A bare repo plus a working clone used to push branches the way the bot does."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "gitops.git"
        self.work = root / "work"
        self._run("git", "init", "--quiet", "--bare", "--initial-branch=main", str(self.bare), cwd=root)
        self._run("git", "clone", "--quiet", str(self.bare), str(self.work), cwd=root)
        self.write({"apps/web/deployment.yaml": "replicas: 2\nimage: web:1.0\n", "README.md": "gitops\n"})
        self.commit("initial manifests")
        self.git("push", "--quiet", "origin", "HEAD:refs/heads/main")

    def _run(self, *args: str, cwd: Path) -> str:
        env = {
            "GIT_AUTHOR_NAME": "Dev",
            "GIT_AUTHOR_EMAIL": "dev@example.com",
            "GIT_COMMITTER_NAME": "Dev",
            "GIT_COMMITTER_EMAIL": "dev@example.com",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(cwd),
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        }
        return subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout

    def git(self, *args: str) -> str:
        return self._run("git", *args, cwd=self.work).strip()

    def bare_git(self, *args: str) -> str:
        return self._run("git", "--git-dir", str(self.bare), *args, cwd=self.bare).strip()

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "--quiet", "-m", message)
        return self.git("rev-parse", "HEAD")

    def push_branch(
        self, branch: str, files: dict[str, str], message: str = "change", base: str = "main"
    ) -> str:
        """Create/extend ``branch`` from ``base`` in the bare repo; returns the new head sha."""
        self.git("fetch", "--quiet", "origin")
        exists = branch in self.git("ls-remote", "--heads", "origin", branch)
        self.git("checkout", "--quiet", "-B", branch, f"origin/{branch if exists else base}")
        self.write(files)
        sha = self.commit(message)
        self.git("push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{branch}")
        return sha

    def sha(self, ref: str) -> str:
        return self.bare_git("rev-parse", ref)

    def show(self, ref: str, path: str) -> str:
        return self._run("git", "--git-dir", str(self.bare), "show", f"{ref}:{path}", cwd=self.bare)


def make_github(base_url: str, token: str = TOKEN) -> github.Github:
    return github.Github(
        auth=github.Auth.Token(token),
        base_url=base_url,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
