"""One heal per incident across replicas in PR mode (issue 9 §3): two working clones of one bare repo
(two replicas), the GitHub emulator. Before pushing or opening a PR the act stage looks for the Heal-Id
on the freshly fetched target branch and for the heal's PR (open or merged); the PR branch is created
by a push without force, so git's atomic ref update decides which replica owns the heal.

Before: a replica that missed the heal on the target branch (a human squash-merged it with an edited
message, dropping the trailers) force-pushed the merged heal branch and opened a second PR on it.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import model, settings
from bot.act import execute
from bot.act import replicas as claims
from bot.sandbox.github import server as ghserver
from bot.service import wiring

TOKEN = "ghp_replicas_test"
DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: web:1.0
"""
BRANCH = "githeal/web/scale-01234567"  # execute.branch_name: the first 8 characters of the Heal-Id


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    who = {
        "GIT_AUTHOR_NAME": "d",
        "GIT_AUTHOR_EMAIL": "d@x",
        "GIT_COMMITTER_NAME": "d",
        "GIT_COMMITTER_EMAIL": "d@x",
    }
    full = {**who, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), **(env or {})}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=full, check=True, capture_output=True, text=True
    ).stdout


@dataclass
class Replicas:
    a: execute.Tools
    b: execute.Tools
    bare: Path
    api: str
    tmp: Path

    def pulls(self) -> list[dict[str, Any]]:
        r = httpx.get(
            f"{self.api}/repos/acme/gitops/pulls?state=all", headers={"Authorization": f"token {TOKEN}"}
        )
        return list(r.json())

    def branches(self) -> list[str]:
        return [
            line.split("\t")[1]
            for line in git(self.bare, "ls-remote", "--heads", str(self.bare)).splitlines()
        ]


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    seed = tmp_path / "seed"
    (seed / "apps/web").mkdir(parents=True)
    (seed / "apps/web/deployment.yaml").write_text(DEPLOY)
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "seed")
    bare = tmp_path / "gitops.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    (tmp_path / "token").write_text(TOKEN)
    with ghserver.GitHubEmulator({"acme/gitops": bare}, tokens={TOKEN: "githeal"}) as emu:
        runtimes = []
        for name in ("a", "b"):
            config = tmp_path / f"{name}.yaml"
            config.write_text(f"""version: 1
prometheus: {{url: "http://127.0.0.1:9"}}
argocd: {{url: "http://127.0.0.1:9", token: {{file: "{tmp_path / "token"}"}}}}
repos:
  gitops: {{url: "{bare}", branch: main, github: acme/gitops, workdir: "{tmp_path / name}"}}
github: {{base_url: "{emu.api_url}", auth: {{token: {{file: "{tmp_path / "token"}"}}}}}}
apps:
  web: {{paths: ["apps/web/**"]}}
""")
            runtimes.append(wiring.build(settings.load(config)))
        tools = [
            execute.Tools(rt.settings, rt.clones, rt.argocd, rt.github, lambda: datetime.now(UTC))
            for rt in runtimes
        ]
        try:
            yield Replicas(tools[0], tools[1], bare, emu.api_url, tmp_path)
        finally:
            for rt in runtimes:
                rt.close()


def plan(to: int = 4) -> model.Plan:
    action = model.Action(
        app="web", kind=model.ActionKind.SCALE, policy="scale", mode=model.Mode.PROPOSE,
        reason="load", heal_id="0123456789ab", params={"to": to, "merge": "pr"},
    )  # fmt: skip
    return model.Plan(at=datetime.now(UTC), actions=(action,))


def test_a_merged_heal_branch_is_never_reused(replicas: Replicas) -> None:
    [first] = execute.execute(plan(), None, replicas.a)
    assert first.outcome is execute.Outcome.PROPOSED and first.pr is not None
    # a human squash-merges it and edits the message: the Heal-Id trailer is not on main
    r = httpx.put(
        f"{replicas.api}/repos/acme/gitops/pulls/{first.pr.number}/merge",
        headers={"Authorization": f"token {TOKEN}"},
        json={"merge_method": "squash", "commit_title": "web: more replicas", "commit_message": "lgtm"},
    )
    assert r.status_code == 200, r.text
    [again] = execute.execute(plan(), None, replicas.b)  # the other replica, same incident
    assert again.outcome is execute.Outcome.DUPLICATE
    assert again.detail == f"already merged as PR #{first.pr.number}"
    assert [p["number"] for p in replicas.pulls()] == [first.pr.number]


def test_an_open_pr_of_the_same_heal_is_left_alone(replicas: Replicas) -> None:
    [first] = execute.execute(plan(), None, replicas.a)
    assert first.pr is not None
    head = git(replicas.bare, "rev-parse", first.pr.head)
    [again] = execute.execute(plan(to=5), None, replicas.b)  # another policy's size, same incident
    assert again.outcome is execute.Outcome.DUPLICATE
    assert again.detail == f"PR #{first.pr.number} is already open for this heal"
    assert git(replicas.bare, "rev-parse", first.pr.head) == head  # no force-push over it
    assert len(replicas.pulls()) == 1


def plant_branch(replicas: Replicas, date: str) -> str:
    """Another replica's push of the heal branch, its PR not opened (yet, or ever: it was killed)."""
    other = replicas.tmp / "other"
    git(replicas.tmp, "clone", "-q", str(replicas.bare), str(other))
    (other / "apps/web/deployment.yaml").write_text(DEPLOY.replace("replicas: 2", "replicas: 4"))
    stamp = {"GIT_COMMITTER_DATE": date, "GIT_AUTHOR_DATE": date}
    git(other, "commit", "-qam", "scale web\n\nHeal-Id: 0123456789ab\nHeal-App: web", env=stamp)
    git(other, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
    return git(other, "rev-parse", "HEAD").strip()


def test_a_branch_another_replica_just_pushed_is_theirs(replicas: Replicas) -> None:
    sha = plant_branch(replicas, datetime.now(UTC).isoformat())
    [result] = execute.execute(plan(), None, replicas.b)
    assert result.outcome is execute.Outcome.DUPLICATE
    assert result.detail == f"another replica pushed {BRANCH} and is opening its PR"
    assert git(replicas.bare, "rev-parse", BRANCH).strip() == sha and replicas.pulls() == []


def test_a_stray_branch_left_by_a_killed_replica_is_replaced(replicas: Replicas) -> None:
    old = plant_branch(replicas, "2020-01-01T00:00:00+00:00")
    [result] = execute.execute(plan(), None, replicas.b)
    assert result.outcome is execute.Outcome.PROPOSED and result.pr is not None
    assert git(replicas.bare, "rev-parse", BRANCH).strip() not in ("", old)
    assert [p["head"]["ref"] for p in replicas.pulls()] == [BRANCH]


@pytest.mark.parametrize(("stray_after", "outcome"), [(60.0, "duplicate"), (10.0, "proposed")])
def test_the_age_of_a_stray_branch_is_repos_stray_branch_after(
    replicas: Replicas, stray_after: float, outcome: str
) -> None:
    """A branch pushed 30 s ago without its PR: another replica's under the default minute, a leftover
    to replace when ``repos.<name>.stray_branch_after`` is 10 s."""
    plant_branch(replicas, (datetime.now(UTC) - timedelta(seconds=30)).isoformat())
    repo = dataclasses.replace(replicas.b.settings.repos["gitops"], stray_branch_after=stray_after)
    tools = dataclasses.replace(
        replicas.b, settings=dataclasses.replace(replicas.b.settings, repos={"gitops": repo})
    )
    [result] = execute.execute(plan(), None, tools)
    assert result.outcome.value == outcome, result.detail
    assert [p["head"]["ref"] for p in replicas.pulls()] == ([BRANCH] if outcome == "proposed" else [])


def test_the_pr_branch_push_is_the_lock(replicas: Replicas) -> None:
    """Both replicas passed their checks; A pushes first: B's push without force is rejected, B re-fetches,
    sees the branch and stands down instead of overwriting A's commit (a force push would have)."""
    clone = replicas.b.clones["gitops"]
    clone.sync()
    sha = plant_branch(replicas, datetime.now(UTC).isoformat())  # A, after B's fetch
    clone.write_files({"apps/web/deployment.yaml": DEPLOY.replace("replicas: 2", "replicas: 5").encode()})
    clone.commit("scale web\n\nHeal-Id: 0123456789ab\nHeal-App: web\n")
    assert claims.claim(clone, BRANCH).status == "already-done"
    assert git(replicas.bare, "rev-parse", BRANCH).strip() == sha
