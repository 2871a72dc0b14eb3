"""Helpers for the Argo CD tests: a real Git repo (clone + bare remote), a fake clock, an emulator factory."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.sandbox.argocd import controller, server, state, workload

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"

CHECKOUT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: checkout}
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/checkout:{tag}
---
apiVersion: v1
kind: Service
metadata:
  name: checkout
spec:
  ports: [{port: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: checkout
data:
  MODE: fast
"""


class Clock:
    def __init__(self, start: float = 1_775_822_400.0) -> None:  # 2026-04-10T12:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Repo:
    """A working clone plus the bare repo the emulator tracks; ``commit`` pushes like a CI job would."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "manifests.git"
        self.work = root / "work"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)
        subprocess.run(
            ["git", "clone", "-q", str(self.bare), str(self.work)], check=True, capture_output=True
        )
        self.git("checkout", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        env = {
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.work),
        }
        done = subprocess.run(["git", "-C", str(self.work), *args], check=True, capture_output=True, env=env)
        return done.stdout.decode().strip()

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        self.git("push", "-q", "origin", "HEAD:main")
        return self.git("rev-parse", "HEAD")


def make_emulator(
    repo: Repo, clock: Clock, model: workload.DefaultModel, **app: object
) -> server.ArgoCDEmulator:
    config = state.AppConfig(
        name="checkout",
        repo_url=str(repo.bare),
        path="apps/checkout",
        target_revision="main",
        project="payments",
        labels={"team": "payments"},
        **app,
    )  # type: ignore[arg-type]
    settings = controller.Settings(poll_interval=60.0, poll_jitter=0.0, sync_duration=1.0)
    return server.ArgoCDEmulator(
        [config], tokens=[API_TOKEN], settings=settings, model=model, clock=clock, background=False
    )


API_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib3QifQ.c2lnbmF0dXJl"
