"""Run ``githeal run`` as a real process against a local bare repository (the other systems down),
as PID-1-to-be: the tests read its /metrics and stop it with SIGTERM."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from shipdefs import minimal

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}


def seed_repo(tmp: Path) -> Path:
    remote, seed = tmp / "remote.git", tmp / "seed"
    env = os.environ | GIT_ENV
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    subprocess.run(["git", "clone", "-q", str(remote), str(seed)], check=True, capture_output=True)
    (seed / "apps" / "checkout").mkdir(parents=True)
    (seed / "apps" / "checkout" / "deployment.yaml").write_text("replicas: 2\n")
    for cmd in (["add", "-A"], ["commit", "-qm", "init"], ["push", "-q", "origin", "HEAD:main"]):
        subprocess.run(["git", "-C", str(seed), *cmd], check=True, env=env)
    return remote


def write_config(tmp: Path) -> Path:
    """A config whose Prometheus and Argo CD refuse connections (port 9): the service still runs."""
    text = (
        minimal("http://127.0.0.1:9", tmp / "work")
        .replace("https://argocd-server.argocd.svc", "http://127.0.0.1:9")
        .replace("https://github.com/acme/manifests.git", str(seed_repo(tmp)))
    )
    text += "service:\n  listen: 127.0.0.1:0\nschedule:\n  interval: 2s\n"
    path = tmp / "githeal.yaml"
    path.write_text(text)
    return path


def start(
    githeal: list[str], config: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start the service; return the process and its base URL (read from the service.listening line)."""
    proc = subprocess.Popen(
        [*githeal, "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=(env or dict(os.environ)) | {"GITHEAL_ARGOCD_TOKEN": "x"},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if m := re.search(r"service\.listening url=(\S+)", line):
            return proc, m.group(1)
    proc.kill()
    raise AssertionError(f"githeal run did not start: {proc.communicate()[0]}")
