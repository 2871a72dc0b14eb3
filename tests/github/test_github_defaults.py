"""The emulator behaves like github.com by default, including the parts that hurt a bot.

Facts (``../shared/reference/github-api.md`` unless noted):
- 1.1: a repo carries ``allow_auto_merge`` and ``allow_{merge_commit,squash_merge,rebase_merge}``;
  a new repo on GitHub has auto-merge OFF; section 3: enabling it on such a repo fails with
  "Pull request Auto merge is not allowed for this repository".
- 1.9: a merge with a method the repo disabled is a 405.
- Review requests only reach collaborators: 422 "Reviews may only be requested from collaborators"
  (the answer quoted in peter-evans/create-pull-request#4138).
- 1.5: ``mergeable_state`` is one of clean, dirty, blocked, behind, unstable, ...
- A push to a protected branch fails with ``remote: error: GH006: Protected branch update failed``.
- Conditional requests: a matching ``If-None-Match`` answers 304 and does not count against the
  rate limit (GitHub REST best practices; ``openapi-subset.json`` lists 304 for ``GET .../pulls``).
"""

from __future__ import annotations

import subprocess

import github
import pytest
import requests
from ghkit import REPO, TOKEN, Workspace

from bot.sandbox.github import server

FIX = {"apps/web/deployment.yaml": "replicas: 2\nimage: web:0.9\n"}


def test_new_repo_has_auto_merge_off_and_merge_methods_per_repo(
    workspace: Workspace, gh: github.Github, emulator: server.GitHubEmulator
) -> None:
    repo = gh.get_repo(REPO)
    assert repo.allow_auto_merge is False
    assert (repo.allow_merge_commit, repo.allow_squash_merge, repo.allow_rebase_merge) == (True, True, True)
    emulator.configure(REPO, allow_merge_commit=False, allow_rebase_merge=False)  # squash-only
    workspace.push_branch("fix", FIX)
    pr = gh.get_repo(REPO).create_pull(base="main", head="fix", title="t", body="")
    with pytest.raises(github.GithubException) as refused:
        pr.merge(merge_method="merge")
    assert refused.value.status == 405 and "Merge commits are not allowed" in refused.value.data["message"]
    assert pr.merge(merge_method="squash").merged


def test_review_requests_only_to_collaborators(
    workspace: Workspace, gh: github.Github, emulator: server.GitHubEmulator
) -> None:
    workspace.push_branch("fix", FIX)
    pr = gh.get_repo(REPO).create_pull(base="main", head="fix", title="t", body="")
    emulator.add_collaborator(REPO, "alice")
    with pytest.raises(github.GithubException) as refused:
        pr.create_review_request(reviewers=["alice", "mallory"])
    assert refused.value.status == 422
    assert refused.value.data["message"].startswith("Reviews may only be requested from collaborators.")
    assert emulator.state(REPO)["pulls"][0]["requested_reviewers"] == []  # all or nothing
    pr.create_review_request(reviewers=["alice"])
    assert emulator.state(REPO)["pulls"][0]["requested_reviewers"] == ["alice"]


def test_direct_push_to_protected_branch_is_refused_with_gh006(
    workspace: Workspace, emulator: server.GitHubEmulator
) -> None:
    workspace.push_branch("main", {"a.txt": "1"}, "before protection")  # allowed
    emulator.protect(REPO, "main", contexts=["ci"])
    with pytest.raises(subprocess.CalledProcessError) as refused:
        workspace.push_branch("main", {"a.txt": "2"}, "after protection")
    assert "GH006: Protected branch update failed for refs/heads/main." in refused.value.stderr
    assert "[remote rejected]" in refused.value.stderr
    workspace.push_branch("githeal/x", {"a.txt": "3"})  # other branches still take pushes
    emulator.unprotect(REPO, "main")
    workspace.push_branch("main", {"a.txt": "4"}, "after unprotection")


def test_mergeable_states_blocked_by_reviews_behind_and_unstable(
    workspace: Workspace, gh: github.Github, emulator: server.GitHubEmulator
) -> None:
    repo = gh.get_repo(REPO)
    head = workspace.push_branch("fix", FIX)
    repo.create_pull(base="main", head="fix", title="t", body="")
    emulator.add_collaborator(REPO, "alice")
    repo.get_commit(head).create_status("failure", context="lint")  # not required
    assert repo.get_pull(1).mergeable_state == "unstable"
    emulator.protect(REPO, "main", reviews=1)
    blocked = repo.get_pull(1)
    assert blocked.mergeable_state == "blocked"
    with pytest.raises(github.GithubException) as refused:
        blocked.merge(sha=head)
    assert refused.value.status == 405 and "approving review" in refused.value.data["message"]
    emulator.approve(REPO, 1, "alice")
    assert repo.get_pull(1).mergeable_state == "unstable"
    # strict protection ("require branches to be up to date") and a base that moved on: behind
    emulator.unprotect(REPO, "main")
    workspace.push_branch("main", {"other.txt": "x"}, "unrelated")
    emulator.protect(REPO, "main", strict=True)
    behind = repo.get_pull(1)
    assert (behind.mergeable, behind.mergeable_state) == (True, "behind")
    assert behind.update_branch(head)
    assert repo.get_pull(1).mergeable_state == "clean"  # a new head: the failing lint was on the old one


def test_etag_304_is_free(workspace: Workspace, emulator: server.GitHubEmulator) -> None:
    url = f"{emulator.api_url}/repos/{REPO}/pulls?state=all"
    auth = {"Authorization": f"token {TOKEN}"}
    first = requests.get(url, headers=auth, timeout=5)
    etag, remaining = first.headers["ETag"], int(first.headers["X-RateLimit-Remaining"])
    again = requests.get(url, headers={**auth, "If-None-Match": etag}, timeout=5)
    assert again.status_code == 304 and again.content == b""
    assert int(again.headers["X-RateLimit-Remaining"]) == remaining  # not counted
    workspace.push_branch("fix", FIX)
    requests.post(
        f"{emulator.api_url}/repos/{REPO}/pulls",
        json={"head": "fix", "base": "main", "title": "t"},
        headers=auth,
        timeout=5,
    )
    changed = requests.get(url, headers={**auth, "If-None-Match": etag}, timeout=5)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag and len(changed.json()) == 1
    assert int(changed.headers["X-RateLimit-Remaining"]) == remaining - 2  # the POST and this GET
