"""Fault isolation per app in the act stage, on a real bare repo and working clone: hostile files in
one app's folder (binary, non-UTF-8, huge, invalid YAML, an alias bomb, symlinks out of the repo) are
skipped with a reason and never stop another app's heal in the same execute() call.

Before the bounded reader, one invalid-UTF-8 ``.yaml`` raised UnicodeDecodeError out of execute() for
every app (issue 9), and a 9x9 alias bomb of a few hundred bytes hung the scale editor.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import model, settings
from bot.act import execute, manifests
from bot.service import wiring

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: {name}
          image: {name}:1.0
"""
LIMIT = 4096


def alias_bomb() -> str:
    lines = ["kind: Deployment", "metadata: {name: evil}", "x0: &a0 [" + ", ".join(["{name: c}"] * 9) + "]"]
    lines += [f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    lines.append("spec: {replicas: 2, template: {spec: {containers: *a8}}}")
    return "\n".join(lines) + "\n"


def git(cwd: Path, *args: str) -> str:
    who = {
        "GIT_AUTHOR_NAME": "d",
        "GIT_AUTHOR_EMAIL": "d@x",
        "GIT_COMMITTER_NAME": "d",
        "GIT_COMMITTER_EMAIL": "d@x",
    }
    env = {**who, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def hostile(folder: Path, outside: Path) -> None:
    """The hostile files of issue 9 §1, in one app's folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "binary.yaml").write_bytes(b"\x00\x01\x02kind: Deployment\x00" * 50)
    (folder / "latin1.yaml").write_bytes("kind: Deployment\nmetadata: {name: caf\xe9}\n".encode("latin-1"))
    (folder / "huge.yaml").write_text(DEPLOY.format(name="huge") + "# padding\n" * LIMIT)
    (folder / "invalid.yaml").write_text("kind: Deployment\nspec: {replicas: [unclosed\n  - : :\n")
    (folder / "bomb.yaml").write_text(alias_bomb())
    (folder / "escape.yaml").symlink_to(outside)  # a symlink to a file outside the repo
    (folder / "parent.yml").symlink_to("../../..")  # and to a directory above it


@dataclass
class Repo:
    tools: execute.Tools
    bare: Path


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    outside = tmp_path / "secret.yaml"
    outside.write_text(DEPLOY.format(name="outside"))
    seed = tmp_path / "seed"
    for app in ("web", "evil", "mixed"):
        (seed / "apps" / app).mkdir(parents=True)
    (seed / "apps/web/deployment.yaml").write_text(DEPLOY.format(name="web"))
    (seed / "apps/mixed/deployment.yaml").write_text(DEPLOY.format(name="mixed"))
    hostile(seed / "apps/evil", outside)
    hostile(seed / "apps/mixed", outside)
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "seed")
    bare = tmp_path / "gitops.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    (tmp_path / "token").write_text("t")
    config = tmp_path / "githeal.yaml"
    config.write_text(f"""version: 1
prometheus: {{url: "http://127.0.0.1:9"}}
argocd: {{url: "http://127.0.0.1:9", token: {{file: "{tmp_path / "token"}"}}}}
repos:
  gitops: {{url: "{bare}", branch: main, workdir: "{tmp_path / "work"}"}}
apps:
  evil: {{paths: ["apps/evil/**"]}}
  mixed: {{paths: ["apps/mixed/**"]}}
  web: {{paths: ["apps/web/**"]}}
manifests: {{max_bytes: {LIMIT}}}
""")
    rt = wiring.build(settings.load(config))
    try:
        yield Repo(execute.Tools(rt.settings, rt.clones, rt.argocd, None, lambda: datetime.now(UTC)), bare)
    finally:
        rt.close()


def scale(app: str, to: object, heal_id: str) -> model.Action:
    return model.Action(
        app=app, kind=model.ActionKind.SCALE, policy="scale", mode=model.Mode.AUTO,
        reason="load", heal_id=heal_id, params={"to": to, "merge": "direct"},
    )  # fmt: skip


def test_hostile_files_are_skipped_with_a_reason_each(repo: Repo) -> None:
    clone = repo.tools.clones["gitops"]
    clone.sync()
    read = manifests.read(clone, repo.tools.settings.apps["mixed"], LIMIT)
    assert list(read.files) == ["apps/mixed/deployment.yaml"]
    reasons = {s.path.rsplit("/", 1)[1]: s.reason for s in read.skipped}
    assert reasons["binary.yaml"] == "binary (NUL bytes): not a manifest"
    assert reasons["latin1.yaml"].startswith("not UTF-8 (invalid byte at offset")
    assert reasons["huge.yaml"].startswith("too large:") and f"{LIMIT}-byte" in reasons["huge.yaml"]
    assert reasons["bomb.yaml"] == "YAML aliases expand to over 100000 nodes: refused as an alias bomb"
    assert reasons["invalid.yaml"].startswith("invalid YAML at line")
    assert reasons["escape.yaml"].startswith("refused: symlink (apps/mixed/escape.yaml -> ")
    assert reasons["parent.yml"] == "refused: symlink (apps/mixed/parent.yml -> ../../..)"


def test_one_apps_hostile_folder_never_stops_the_others(repo: Repo) -> None:
    plan = model.Plan(
        at=datetime.now(UTC),
        actions=(scale("evil", 3, "e" * 12), scale("mixed", 3, "a" * 12), scale("web", 4, "b" * 12)),
    )
    evil, mixed, web = execute.execute(plan, None, repo.tools)
    assert evil.outcome is execute.Outcome.REFUSED
    assert (
        "no replica count found" in evil.detail and "(skipped: apps/evil/binary.yaml: binary" in evil.detail
    )
    assert mixed.outcome is execute.Outcome.COMMITTED, mixed.detail
    assert web.outcome is execute.Outcome.COMMITTED, web.detail
    changed = git(repo.bare, "log", "--format=", "--name-only", "main~2..main").split()
    assert sorted(changed) == ["apps/mixed/deployment.yaml", "apps/web/deployment.yaml"]
    assert git(repo.bare, "show", "main:apps/web/deployment.yaml").count("replicas: 4") == 1


def test_an_unexpected_exception_stays_in_its_app(repo: Repo) -> None:
    # a replica count that is not a number makes int() raise ValueError, not a BotError
    plan = model.Plan(
        at=datetime.now(UTC), actions=(scale("mixed", "many", "c" * 12), scale("web", 5, "d" * 12))
    )
    broken, web = execute.execute(plan, None, repo.tools)
    assert broken.outcome is execute.Outcome.FAILED
    assert broken.detail.startswith("ValueError: invalid literal for int()")
    assert web.outcome is execute.Outcome.COMMITTED, web.detail
    clone = repo.tools.clones["gitops"]
    assert git(clone.path, "status", "--porcelain") == ""  # the clone was reset after the failure
