"""The GitHub emulator driven by real PyGithub (and raw HTTP where PyGithub cannot send a shape)."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import github
import pytest
import requests
from ghkit import BOT, REPO, TOKEN, Workspace, make_github

from bot.sandbox.github import server

WEB_V2 = {"apps/web/deployment.yaml": "replicas: 2\nimage: web:0.9\n"}


def _api(emulator: server.GitHubEmulator, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(
        method, emulator.api_url + path, json=body, headers={"Authorization": f"token {TOKEN}"}, timeout=10
    )


def test_pr_lifecycle_merge_commit_is_real(workspace: Workspace, gh: github.Github) -> None:
    head = workspace.push_branch("githeal/rollback-web", WEB_V2, "rollback web")
    repo = gh.get_repo(REPO)
    pr = repo.create_pull(base="main", head="githeal/rollback-web", title="Rollback web", body="why")
    assert pr.mergeable is None  # GitHub computes it in the background
    assert pr.node_id and pr.head.sha == head and pr.url.startswith(gh.requester.base_url)

    fresh = repo.get_pull(pr.number)
    assert (fresh.mergeable, fresh.mergeable_state) == (True, "clean")
    assert not fresh.is_merged()
    base_before = workspace.sha("main")

    status = fresh.merge(sha=head, merge_method="merge")
    assert status.merged
    main = workspace.sha("main")
    assert main == status.sha
    parents = workspace.bare_git("rev-list", "--parents", "-n", "1", main).split()[1:]
    assert parents == [base_before, head]
    assert workspace.show("main", "apps/web/deployment.yaml") == WEB_V2["apps/web/deployment.yaml"]
    message = workspace.bare_git("log", "-1", "--format=%B")
    assert "Merge pull request #1 from acme/githeal/rollback-web" in message

    done = repo.get_pull(pr.number)
    assert done.merged and done.is_merged() and done.merged_by.login == BOT
    assert done.merge_commit_sha == main and done.state == "closed"


def test_squash_and_rebase_are_real_git(workspace: Workspace, gh: github.Github) -> None:
    repo = gh.get_repo(REPO)
    workspace.push_branch("squash-me", {"a.txt": "1\n"}, "one")
    head = workspace.push_branch("squash-me", {"a.txt": "2\n"}, "two")
    pr = repo.create_pull(base="main", head="squash-me", title="Squash", body="")
    before = workspace.sha("main")
    sha = pr.merge(sha=head, merge_method="squash").sha
    assert workspace.bare_git("rev-list", "--parents", "-n", "1", sha).split()[1:] == [before]
    assert workspace.bare_git("log", "-1", "--format=%s", sha) == "Squash (#1)"

    rebase_head = workspace.push_branch("rebase-me", {"b.txt": "b\n"}, "add b")
    pr2 = repo.create_pull(base="main", head="rebase-me", title="Rebase", body="")
    new = pr2.merge(sha=rebase_head, merge_method="rebase").sha
    assert new != rebase_head  # GitHub always rewrites the commits
    assert workspace.bare_git("rev-list", "--parents", "-n", "1", new).split()[1:] == [sha]
    assert workspace.show("main", "b.txt") == "b\n"


def test_create_errors_are_github_422s(workspace: Workspace, gh: github.Github) -> None:
    repo = gh.get_repo(REPO)
    workspace.push_branch("dup", WEB_V2)
    repo.create_pull(base="main", head="dup", title="t", body="")
    with pytest.raises(github.GithubException) as dup:
        repo.create_pull(base="main", head="dup", title="t", body="")
    assert dup.value.status == 422 and dup.value.message == "Validation Failed"
    assert dup.value.data["errors"][0]["message"] == "A pull request already exists for acme:dup."

    workspace.git("fetch", "--quiet", "origin")
    workspace.git("push", "--quiet", "origin", "origin/main:refs/heads/empty")
    with pytest.raises(github.GithubException) as empty:
        repo.create_pull(base="main", head="empty", title="t", body="")
    assert empty.value.data["errors"][0]["message"] == "No commits between main and empty"
    with pytest.raises(github.GithubException) as missing:
        repo.create_pull(base="main", head="nope", title="t", body="")
    assert missing.value.data["errors"][0] == {"resource": "PullRequest", "field": "head", "code": "invalid"}


def test_list_filters_head_base_state(workspace: Workspace, gh: github.Github) -> None:
    repo = gh.get_repo(REPO)
    for name in ("a", "b"):
        workspace.push_branch(name, {f"{name}.txt": name})
        repo.create_pull(base="main", head=name, title=name, body="")
    repo.get_pull(1).edit(state="closed")
    assert [p.number for p in repo.get_pulls(state="all", head="acme:a")] == [1]
    assert [p.number for p in repo.get_pulls(state="open", head="acme:a")] == []
    # A bare branch name is ignored, exactly like GitHub (a classic bot bug).
    assert sorted(p.number for p in repo.get_pulls(state="all", head="a")) == [1, 2]
    assert [p.number for p in repo.get_pulls(state="all", base="main")] == [2, 1]
    assert [p.number for p in repo.get_pulls(state="all", base="other")] == []


def test_merge_guards_409_405_and_states(
    workspace: Workspace, gh: github.Github, emulator: server.GitHubEmulator
) -> None:
    repo = gh.get_repo(REPO)
    head = workspace.push_branch("fix", WEB_V2)
    pr = repo.create_pull(base="main", head="fix", title="fix", body="")
    with pytest.raises(github.GithubException) as moved:
        pr.merge(sha="0" * 40)
    assert moved.value.status == 409
    assert moved.value.data["message"] == "Head branch was modified. Review and try the merge again."

    emulator.set_required_contexts(REPO, "main", ["ci"])
    assert repo.get_pull(1).mergeable_state == "blocked"
    with pytest.raises(github.GithubException) as blocked:
        pr.merge(sha=head)
    assert blocked.value.status == 405
    commit = repo.get_commit(head)
    commit.create_status("success", context="ci")
    commit.create_status("failure", context="lint")
    assert repo.get_pull(1).mergeable_state == "unstable"

    # A conflicting change lands on main (an admin lifts the rule first: a protected branch refuses
    # direct pushes with GH006): the PR turns dirty and cannot merge.
    emulator.unprotect(REPO, "main")
    workspace.push_branch("main", {"apps/web/deployment.yaml": "replicas: 5\nimage: web:1.1\n"}, "scale")
    dirty = repo.get_pull(1)
    assert (dirty.mergeable, dirty.mergeable_state) == (False, "dirty")
    with pytest.raises(github.GithubException) as conflict:
        pr.merge(sha=head)
    assert (conflict.value.status, conflict.value.data["message"]) == (405, "Pull Request is not mergeable")


def test_automerge_merges_when_required_status_passes(
    workspace: Workspace, gh: github.Github, emulator: server.GitHubEmulator
) -> None:
    repo = gh.get_repo(REPO)
    head = workspace.push_branch("auto", WEB_V2)
    pr = repo.create_pull(base="main", head="auto", title="auto", body="")
    with pytest.raises(github.GithubException) as off:
        pr.enable_automerge(merge_method="SQUASH")  # GitHub's default: "Allow auto-merge" is off
    assert "Auto merge is not allowed for this repository" in json.dumps(off.value.data)
    emulator.configure(REPO, allow_auto_merge=True)
    with pytest.raises(github.GithubException) as unprotected:
        pr.enable_automerge(merge_method="SQUASH")
    assert "Protected branch rules not configured" in json.dumps(unprotected.value.data)

    emulator.set_required_contexts(REPO, "main", ["ci"])
    pr.enable_automerge(merge_method="SQUASH", expected_head_oid=head)
    assert repo.get_pull(1).auto_merge["merge_method"] == "squash"
    commit = repo.get_commit(head)
    commit.create_status("pending", context="ci")
    assert not repo.get_pull(1).merged
    commit.create_status("success", context="ci")
    merged = repo.get_pull(1)
    assert merged.merged and merged.merged_by.login == BOT
    assert workspace.sha("main") == merged.merge_commit_sha

    head2 = workspace.push_branch("auto2", {"c.txt": "c"})
    pr2 = repo.create_pull(base="main", head="auto2", title="auto2", body="")
    repo.get_commit(head2).create_status("success", context="ci")
    with pytest.raises(github.GithubException) as clean:
        pr2.enable_automerge()
    assert "Pull request is in clean status" in json.dumps(clean.value.data)


def test_labels_both_body_forms_and_comments(
    workspace: Workspace, gh: github.Github, emulator: server.GitHubEmulator
) -> None:
    repo = gh.get_repo(REPO)
    workspace.push_branch("lab", WEB_V2)
    pr = repo.create_pull(base="main", head="lab", title="t", body="")
    pr.add_to_labels("githeal", "rollback")  # PyGithub sends a bare JSON array
    reply = _api(emulator, "POST", f"/repos/{REPO}/issues/1/labels", {"labels": ["needs review"]})
    assert reply.status_code == 200
    assert [lab["name"] for lab in reply.json()] == ["githeal", "rollback", "needs review"]
    pr.remove_from_labels("rollback")
    assert [lab.name for lab in repo.get_issue(1).labels] == ["githeal", "needs review"]
    with pytest.raises(github.GithubException) as absent:
        pr.remove_from_labels("absent")
    assert (absent.value.status, absent.value.data["message"]) == (404, "Label does not exist")
    pr.create_issue_comment("first")
    assert [c.body for c in repo.get_issue(1).get_comments()] == ["first"]


def test_statuses_and_combined_status(workspace: Workspace, gh: github.Github) -> None:
    repo = gh.get_repo(REPO)
    sha = workspace.sha("main")
    commit = repo.get_commit(sha)
    assert commit.get_combined_status().state == "pending"
    commit.create_status("pending", context="githeal/verify", description="verifying")
    commit.create_status("success", context="githeal/verify", description="healthy", target_url="http://x/1")
    commit.create_status("success", context="ci")
    combined = repo.get_commit("main").get_combined_status()
    assert combined.state == "success" and combined.sha == sha
    assert {s.context: s.state for s in combined.statuses} == {"githeal/verify": "success", "ci": "success"}
    commit.create_status("error", context="ci")
    assert commit.get_combined_status().state == "failure"


def test_pagination_over_more_than_30_prs(workspace: Workspace, gh: github.Github) -> None:
    repo = gh.get_repo(REPO)
    head = workspace.push_branch("p0", {"p.txt": "p"})
    updates = "".join(f"create refs/heads/p{n} {head}\n" for n in range(1, 35))
    subprocess.run(
        ["git", "--git-dir", str(workspace.bare), "update-ref", "--stdin"],
        input=updates,
        text=True,
        check=True,
    )
    for n in range(35):
        repo.create_pull(base="main", head=f"p{n}", title=f"p{n}", body="")
    pulls = repo.get_pulls(state="open")
    assert len(list(pulls)) == 35
    assert pulls.totalCount == 35
    first = requests.get(
        f"{gh.requester.base_url}/repos/{REPO}/pulls?per_page=10&page=2",
        headers={"Authorization": f"token {TOKEN}"},
        timeout=10,
    )
    assert len(first.json()) == 10
    assert set(first.links) == {"prev", "next", "last", "first"}
    assert "page=4" in first.links["last"]["url"]


def test_refs_both_spellings(
    workspace: Workspace, gh: github.Github, emulator: server.GitHubEmulator
) -> None:
    repo = gh.get_repo(REPO)
    main = workspace.sha("main")
    created = repo.create_git_ref("refs/heads/topic", main)
    assert created.url.endswith("/git/refs/heads/topic")
    with pytest.raises(github.GithubException) as exists:
        repo.create_git_ref("refs/heads/topic", main)
    assert exists.value.status == 422
    assert _api(emulator, "GET", f"/repos/{REPO}/git/refs/heads/topic").json()["object"]["sha"] == main
    newer = workspace.push_branch("other", {"x": "x"})
    repo.get_git_ref("heads/topic").edit(newer)  # fast-forward
    assert workspace.sha("topic") == newer
    with pytest.raises(github.GithubException) as not_ff:
        repo.get_git_ref("heads/topic").edit(main)
    assert not_ff.value.data["message"] == "Update is not a fast forward"
    assert _api(emulator, "DELETE", f"/repos/{REPO}/git/ref/heads/topic").status_code == 204
    assert _api(emulator, "DELETE", f"/repos/{REPO}/git/refs/heads/topic").status_code == 422


def test_auth_rate_limit_headers_and_secondary_limit(
    emulator: server.GitHubEmulator, gh: github.Github
) -> None:
    with pytest.raises(github.BadCredentialsException) as bad:
        make_github(emulator.api_url, "wrong").get_repo(REPO)
    assert "x-ratelimit-remaining" in (bad.value.headers or {})
    reply = _api(emulator, "GET", f"/repos/{REPO}")
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Used"} <= set(
        reply.headers
    )
    assert reply.headers["X-RateLimit-Resource"] == "core"
    requests.post(f"{emulator.url}/_emulator/rate-limit", json={"secondary": 1, "retry_after": 7}, timeout=5)
    with pytest.raises(github.RateLimitExceededException) as limited:
        gh.get_repo(REPO)
    assert limited.value.status == 403 and (limited.value.headers or {}).get("retry-after") == "7"
    assert gh.get_repo(REPO).full_name == REPO  # only the injected request was refused


def test_enterprise_base_path(workspace: Workspace) -> None:
    with server.GitHubEmulator({REPO: workspace.bare}, tokens={TOKEN: BOT}, base_path="/api/v3") as emu:
        assert emu.api_url.endswith("/api/v3") and emu.graphql_url.endswith("/api/graphql")
        gh = make_github(emu.api_url)
        repo = gh.get_repo(REPO)
        assert repo.url == f"{emu.api_url}/repos/{REPO}"
        head = workspace.push_branch("ghe", WEB_V2)
        pr = repo.create_pull(base="main", head="ghe", title="t", body="")
        emu.set_required_contexts(REPO, "main", ["ci"])
        emu.configure(REPO, allow_auto_merge=True)
        pr.enable_automerge(expected_head_oid=head)  # GraphQL at /api/graphql
        repo.get_commit(head).create_status("success", context="ci")
        assert repo.get_pull(pr.number).merged
        assert requests.get(f"{emu.url}/repos/{REPO}", timeout=5).status_code == 404


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook", got
    srv.shutdown()
    srv.server_close()


def test_webhook_on_human_close_is_signed(
    workspace: Workspace,
    gh: github.Github,
    emulator: server.GitHubEmulator,
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, got = receiver
    requests.post(f"{emulator.url}/_emulator/webhooks", json={"url": url, "secret": "s3cret"}, timeout=5)
    workspace.push_branch("hooked", WEB_V2)
    gh.get_repo(REPO).create_pull(base="main", head="hooked", title="t", body="")
    admin = f"{emulator.url}/_emulator/repos/{REPO}"
    closed = requests.post(f"{admin}/pulls/1/close", json={"login": "alice"}, timeout=5)
    assert closed.json() == {"state": "closed"}
    assert emulator.hooks.wait(5)
    actions = [json.loads(body)["action"] for _, body in got]
    assert actions == ["opened", "closed"]
    headers, body = got[1]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["x-hub-signature-256"] == expected and headers["x-github-event"] == "pull_request"
    assert len(headers["x-github-delivery"]) == 36
    payload = json.loads(body)
    assert payload["pull_request"]["merged"] is False and payload["sender"]["login"] == "alice"
    state = requests.get(f"{emulator.url}/_emulator/repos/{REPO}", timeout=5).json()
    assert state["pulls"][0]["closed_by"] == "alice"
