"""The PR path of execute() copes with GitHub as it really is (emulator with GitHub's defaults).

Facts (``../shared/reference/github-api.md``): 1.1 repo settings ``allow_auto_merge`` /
``allow_*_merge``; 1.5 ``mergeable_state`` clean/unstable/blocked/behind; 1.9 405 for a disabled
merge method; section 3 "Auto merge is not allowed for this repository" and "recommended pattern"
(merge clean PRs now, auto-merge blocked ones); review requests to non-collaborators are a 422
(peter-evans/create-pull-request#4138); a push to a protected branch fails with GH006.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot import model, settings
from bot.act import execute
from bot.sandbox.github import server as ghserver
from bot.service import wiring

TOKEN = "ghp_heal_pr_path"
GH = "acme/gitops"
DEPLOY = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n"

Setup = Callable[..., tuple[execute.Tools, ghserver.GitHubEmulator, Path]]


def git(cwd: Path, *args: str) -> str:
    who = {
        "GIT_AUTHOR_NAME": "d",
        "GIT_AUTHOR_EMAIL": "d@x",
        "GIT_COMMITTER_NAME": "d",
        "GIT_COMMITTER_EMAIL": "d@x",
    }
    env = {**who, "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Setup]:
    stack: list[Any] = []

    def make(
        repo_extra: str = "", **repo_settings: Any
    ) -> tuple[execute.Tools, ghserver.GitHubEmulator, Path]:
        seed = tmp_path / "seed"
        (seed / "apps/web").mkdir(parents=True)
        (seed / "apps/web/deployment.yaml").write_text(DEPLOY)
        git(seed, "init", "-q", "-b", "main")
        git(seed, "add", "-A")
        git(seed, "commit", "-qm", "seed")
        bare = tmp_path / "gitops.git"
        git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
        (tmp_path / "token").write_text(TOKEN)
        emu = ghserver.GitHubEmulator(tokens={TOKEN: "githeal"}).start()
        stack.append(emu)
        emu.register_repo(GH, bare, **repo_settings)
        config = tmp_path / "githeal.yaml"
        config.write_text(f"""version: 1
prometheus: {{url: "http://127.0.0.1:9"}}
argocd: {{url: "http://127.0.0.1:9", token: {{file: "{tmp_path / "token"}"}}}}
repos:
  gitops: {{url: "{bare}", branch: main, github: {GH}, workdir: "{tmp_path / "work"}"{repo_extra}}}
github: {{base_url: "{emu.api_url}", auth: {{token: {{file: "{tmp_path / "token"}"}}}}}}
apps:
  web: {{paths: ["apps/web/**"]}}
""")
        rt = wiring.build(settings.load(config))
        stack.append(rt)
        tools = execute.Tools(rt.settings, rt.clones, rt.argocd, rt.github, lambda: datetime.now(UTC))
        return tools, emu, bare

    yield make
    for item in reversed(stack):
        item.close() if hasattr(item, "close") else item.stop()


def plan(merge: str, mode: model.Mode = model.Mode.AUTO, **params: Any) -> model.Plan:
    action = model.Action(
        app="web", kind=model.ActionKind.SCALE, policy="scale", mode=mode, reason="load",
        heal_id="feedc0ffee12", params={"to": 4, "merge": merge, **params},
    )  # fmt: skip
    return model.Plan(at=datetime.now(UTC), actions=(action,))


def heads(bare: Path) -> list[str]:
    return [line.split("\t")[1] for line in git(bare, "ls-remote", "--heads", str(bare)).splitlines()]


def test_refused_review_request_never_costs_the_heal(world: Setup) -> None:
    tools, emu, bare = world(collaborators=["alice"])
    [result] = execute.execute(plan("pr", model.Mode.PROPOSE, pr_reviewers=("alice", "mallory")), None, tools)
    assert result.outcome is execute.Outcome.PROPOSED, result.detail
    [pr] = emu.state(GH)["pulls"]
    assert pr["state"] == "open" and f"refs/heads/{pr['head']}" in heads(bare)  # branch kept
    assert pr["requested_reviewers"] == ["alice"]  # the collaborator is still asked
    assert "githeal" in pr["labels"]  # the ledger finds heal PRs by this label
    assert any("mallory" in c["body"] and "collaborators" in c["body"] for c in pr["comments"])


def test_auto_merge_disabled_leaves_the_pr_for_a_human_and_says_why(world: Setup) -> None:
    tools, emu, _ = world(protection={"main": {"contexts": ["ci"]}})  # allow_auto_merge: GitHub's default off
    [result] = execute.execute(plan("pr-automerge"), None, tools)
    assert result.outcome is execute.Outcome.PROPOSED and "left for a human" in result.detail
    [pr] = emu.state(GH)["pulls"]
    assert pr["state"] == "open" and pr["auto_merge"] is None
    assert any("auto-merge is disabled" in c["body"] for c in pr["comments"])


def test_squash_only_repo_gets_a_squash_merge_that_keeps_the_trailers(world: Setup) -> None:
    tools, _, bare = world(allow_merge_commit=False, allow_rebase_merge=False)
    [result] = execute.execute(plan("pr-automerge"), None, tools)
    assert result.outcome is execute.Outcome.MERGED and "squash" in result.detail, result.detail
    message = git(bare, "log", "-1", "--format=%B", "main")
    assert (
        "Heal-Id: feedc0ffee12" in message and len(git(bare, "log", "-1", "--format=%P", "main").split()) == 1
    )


def test_configured_merge_method_the_repo_forbids_is_explained(world: Setup) -> None:
    tools, emu, _ = world(", merge_method: rebase", allow_rebase_merge=False)
    [result] = execute.execute(plan("pr-automerge"), None, tools)
    assert result.outcome is execute.Outcome.PROPOSED
    assert "does not allow rebase merges" in result.detail
    assert "does not allow rebase" in emu.state(GH)["pulls"][0]["comments"][0]["body"]


def test_direct_push_refused_by_protection_falls_back_to_an_automerge_pr(world: Setup) -> None:
    tools, emu, bare = world(allow_auto_merge=True, protection={"main": {"contexts": ["ci"]}})
    before = git(bare, "rev-parse", "main")
    [result] = execute.execute(plan("direct"), None, tools)
    assert result.outcome is execute.Outcome.AUTOMERGE, result.detail
    [pr] = emu.state(GH)["pulls"]
    assert pr["auto_merge"] is not None and git(bare, "rev-parse", "main").strip() == before.strip()
    assert tools.github is not None
    tools.github.set_status(GH, pr["head_sha"], "success", "ci")  # CI passes: GitHub merges it
    assert emu.state(GH)["pulls"][0]["merged"]


def test_protection_fallback_off_fails_with_gh006(world: Setup) -> None:
    tools, emu, _ = world(", protected_fallback: false", protection={"main": {"contexts": ["ci"]}})
    [result] = execute.execute(plan("direct"), None, tools)
    assert result.outcome is execute.Outcome.FAILED and "GH006" in result.detail
    assert emu.state(GH)["pulls"] == []
