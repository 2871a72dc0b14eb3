"""bot.clients.github against the emulator over real HTTP with real PyGithub (no mocks)."""

from __future__ import annotations

import time
import types
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import github
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from ghkit import BOT, REPO, Workspace, make_github

from bot import errors
from bot.clients import github as ghclient
from bot.sandbox.github import server
from bot.service import wiring
from bot.settings import tree

FIX = {"apps/web/deployment.yaml": "replicas: 2\nimage: web:0.9\n"}


@pytest.fixture
def client(gh: github.Github) -> ghclient.GitHubClient:
    return ghclient.GitHubClient(gh, sleep=lambda _s: None)


def _admin(emulator: server.GitHubEmulator, path: str, body: Any) -> requests.Response:
    reply = requests.post(f"{emulator.url}/_emulator{path}", json=body, timeout=5)
    reply.raise_for_status()
    return reply


def test_open_or_update_pr_dedupes_and_edits_in_place(
    workspace: Workspace, client: ghclient.GitHubClient, emulator: server.GitHubEmulator
) -> None:
    emulator.add_collaborator(REPO, "alice")
    head = workspace.push_branch("githeal/web-rollback", FIX)
    first = client.open_or_update_pr(
        REPO,
        "githeal/web-rollback",
        "main",
        "Rollback web",
        "v1",
        labels=["githeal"],
        reviewers=["alice", BOT],
    )
    assert (first.outcome, first.state, first.head_sha, first.number) == ("created", "open", head, 1)
    again = client.open_or_update_pr(
        REPO, "githeal/web-rollback", "main", "Rollback web", "v2", labels=["githeal", "rollback"]
    )
    assert (again.number, again.outcome) == (1, "updated")
    same = client.open_or_update_pr(
        REPO, "githeal/web-rollback", "main", "Rollback web", "v2", labels=["githeal"]
    )
    assert same.outcome == "unchanged"
    state = emulator.state(REPO)
    assert len(state["pulls"]) == 1
    assert state["pulls"][0]["body"] == "v2" and state["pulls"][0]["labels"] == ["githeal", "rollback"]
    assert state["pulls"][0]["requested_reviewers"] == ["alice"]  # the author cannot be asked
    found = client.find_pr(REPO, "githeal/web-rollback")
    assert found is not None and found.number == 1 and found.head_sha == head
    assert client.find_pr(REPO, "githeal/other") is None


def test_human_closed_pr_is_never_reopened(
    workspace: Workspace, client: ghclient.GitHubClient, emulator: server.GitHubEmulator
) -> None:
    workspace.push_branch("githeal/x", FIX)
    pr = client.open_or_update_pr(REPO, "githeal/x", "main", "t", "b")
    _admin(emulator, f"/repos/{REPO}/pulls/{pr.number}/close", {"login": "alice"})
    again = client.open_or_update_pr(REPO, "githeal/x", "main", "t", "b2")
    assert again.rejected and again.state == "closed" and again.number == pr.number
    assert len(emulator.state(REPO)["pulls"]) == 1
    assert client.pr_state(REPO, pr.number).state == "closed"


def test_merged_branch_without_new_commits_reports_merged(
    workspace: Workspace, client: ghclient.GitHubClient, emulator: server.GitHubEmulator
) -> None:
    workspace.push_branch("githeal/y", FIX)
    pr = client.open_or_update_pr(REPO, "githeal/y", "main", "t", "b")
    _admin(emulator, f"/repos/{REPO}/pulls/{pr.number}/merge", {"login": "alice", "merge_method": "merge"})
    state = client.pr_state(REPO, pr.number)
    assert (state.state, state.merged_by) == ("merged", "alice")
    again = client.open_or_update_pr(REPO, "githeal/y", "main", "t", "b")
    assert (again.outcome, again.number) == ("merged", pr.number)


def test_automerge_enabled_then_merged_by_status(
    workspace: Workspace, client: ghclient.GitHubClient, emulator: server.GitHubEmulator
) -> None:
    emulator.set_required_contexts(REPO, "main", ["ci"])
    emulator.configure(REPO, allow_auto_merge=True)
    workspace.push_branch("githeal/auto", FIX)
    pr = client.open_or_update_pr(REPO, "githeal/auto", "main", "t", "b")
    assert client.enable_automerge(pr, "squash") == "enabled"
    assert client.pr_state(REPO, pr.number).auto_merge
    client.set_status(REPO, pr.head_sha, "pending", "ci", description="running")
    assert client.pr_state(REPO, pr.number).state == "open"
    client.set_status(REPO, pr.head_sha, "success", "ci", description="x" * 300, target_url="http://ci/1")
    done = client.pr_state(REPO, pr.number)
    assert (done.state, done.merged_by) == ("merged", BOT)
    assert workspace.sha("main") == done.merge_commit_sha
    combined = client.combined_status(REPO, pr.head_sha)
    assert combined.state == "success" and combined.of("ci") == "success" and combined.of("lint") is None


def test_enable_automerge_on_clean_pr_merges_now(
    workspace: Workspace, client: ghclient.GitHubClient, emulator: server.GitHubEmulator
) -> None:
    emulator.set_required_contexts(REPO, "main", [])
    workspace.push_branch("githeal/clean", FIX)
    pr = client.open_or_update_pr(REPO, "githeal/clean", "main", "t", "b")
    assert client.enable_automerge(pr, "merge") == "merged"
    assert client.pr_state(REPO, pr.number).state == "merged"


def test_merge_conflicts_are_typed(
    workspace: Workspace, client: ghclient.GitHubClient, emulator: server.GitHubEmulator
) -> None:
    workspace.push_branch("githeal/z", FIX)
    pr = client.open_or_update_pr(REPO, "githeal/z", "main", "t", "b")
    with pytest.raises(errors.GitHubConflict) as moved:
        client.merge(pr, "0" * 40)
    assert moved.value.status == 409 and moved.value.temporary and f"{REPO}#1" in str(moved.value)
    workspace.push_branch("main", {"apps/web/deployment.yaml": "replicas: 9\nimage: web:2\n"})
    with pytest.raises(errors.GitHubConflict) as dirty:
        client.merge(pr, pr.head_sha)
    assert dirty.value.status == 405 and "not mergeable" in str(dirty.value)
    with pytest.raises(errors.GitHubConflict):
        client.enable_automerge(
            ghclient.PrRef(REPO, 1, "githeal/z", "main", "f" * 40, "open", pr.html_url), "squash"
        )


def test_rate_limits_become_temporary_errors_with_delay(
    emulator: server.GitHubEmulator, gh: github.Github
) -> None:
    """github-api.md section 2: a secondary limit is a 403 with ``Retry-After``; a primary one has
    ``X-RateLimit-Remaining: 0`` and ``X-RateLimit-Reset``. GitHub asks clients not to retry before
    then (requests made while limited can get the integration banned), so the client backs off
    locally: no request leaves during the wait."""
    now = [time.time()]
    client = ghclient.GitHubClient(gh, clock=lambda: now[0])
    _admin(emulator, "/rate-limit", {"secondary": 1, "retry_after": 7})
    with pytest.raises(errors.GitHubRateLimited) as secondary:
        client.find_pr(REPO, "any")
    assert secondary.value.delay == 7.0 and secondary.value.temporary
    assert "secondary rate limit" in str(secondary.value)
    sent = len(emulator.calls)
    now[0] += 3
    with pytest.raises(errors.GitHubRateLimited) as waiting:
        client.find_pr(REPO, "any")
    assert 3.5 < waiting.value.delay <= 4.0 and len(emulator.calls) == sent  # nothing was sent
    now[0] += 5
    assert client.find_pr(REPO, "any") is None and len(emulator.calls) == sent + 1
    _admin(emulator, "/rate-limit", {"login": BOT, "remaining": 0})
    with pytest.raises(errors.GitHubRateLimited) as primary:
        client.issue_is_open(REPO, 1)
    assert 3500 < primary.value.delay <= 3600


def test_low_remaining_budget_stops_requests_until_the_reset(
    emulator: server.GitHubEmulator, gh: github.Github
) -> None:
    """``X-RateLimit-Remaining`` on every answer (github-api.md 1.14): at the reserve, stop asking."""
    client = ghclient.GitHubClient(gh, reserve=5)
    _admin(emulator, "/rate-limit", {"login": BOT, "remaining": 6})
    assert client.find_pr(REPO, "any") is None  # answered with Remaining: 5
    sent = len(emulator.calls)
    with pytest.raises(errors.GitHubRateLimited) as held:
        client.find_pr(REPO, "any")
    assert held.value.delay > 3000 and "X-RateLimit-Remaining is 5" in str(held.value)
    assert len(emulator.calls) == sent


def test_issue_per_incident_found_by_marker(
    workspace: Workspace, client: ghclient.GitHubClient, emulator: server.GitHubEmulator
) -> None:
    workspace.push_branch("githeal/m", FIX)
    # A PR carrying the same marker must not be mistaken for the incident issue.
    client.open_or_update_pr(REPO, "githeal/m", "main", "t", "<!-- githeal:heal-id=h1 -->")
    first = client.open_or_update_issue(REPO, "web is down", "details", ["githeal"], "heal-id=h1")
    assert first.outcome == "created" and first.state == "open"
    again = client.open_or_update_issue(REPO, "web is down (2)", "more", ["githeal"], "heal-id=h1")
    assert (again.number, again.outcome) == (first.number, "updated")
    other = client.open_or_update_issue(REPO, "db is down", "x", ["githeal"], "heal-id=h2")
    assert other.number != first.number
    body = emulator.state(REPO)["issues"][0]["body"]
    assert body.startswith("more") and "<!-- githeal:heal-id=h1 -->" in body
    assert client.issue_is_open(REPO, first.number)
    gh = make_github(emulator.api_url)
    gh.get_repo(REPO).get_issue(first.number).edit(state="closed")
    assert not client.issue_is_open(REPO, first.number)
    reopened = client.open_or_update_issue(REPO, "web is down", "again", ["githeal"], "heal-id=h1")
    assert reopened.outcome == "created" and reopened.number not in (first.number, other.number)


def test_comment_status_and_branch_deletion(
    workspace: Workspace, client: ghclient.GitHubClient, emulator: server.GitHubEmulator
) -> None:
    head = workspace.push_branch("githeal/d", FIX)
    pr = client.open_or_update_pr(REPO, "githeal/d", "main", "t", "b")
    assert client.comment(REPO, pr.number, "verified: healthy") > 0
    assert emulator.state(REPO)["pulls"][0]["comments"] == [{"user": BOT, "body": "verified: healthy"}]
    client.set_status(REPO, head, "failure", "githeal/verify", description="error budget burning")
    assert client.combined_status(REPO, head).state == "failure"
    assert client.delete_branch(REPO, "githeal/d") is True
    assert client.delete_branch(REPO, "githeal/d") is False
    assert "githeal/d" not in workspace.bare_git("branch", "--list")


def test_failures_are_translated(workspace: Workspace, emulator: server.GitHubEmulator) -> None:
    bad = ghclient.GitHubClient(make_github(emulator.api_url, "wrong-token"))
    with pytest.raises(errors.GitHubError) as unauthorized:
        bad.find_pr(REPO, "x")
    assert unauthorized.value.status == 401 and not unauthorized.value.temporary
    good = ghclient.GitHubClient(make_github(emulator.api_url))
    with pytest.raises(errors.GitHubError) as missing:
        good.pr_state("acme/absent", 1)
    assert missing.value.status == 404 and "acme/absent#1" in str(missing.value)
    # Answer URLs follow the Host the client used, so PyGithub's same-host assertion holds for localhost.
    workspace.push_branch("githeal/host", FIX)
    good.open_or_update_pr(REPO, "githeal/host", "main", "t", "b")
    via_localhost = ghclient.GitHubClient(make_github(emulator.api_url.replace("127.0.0.1", "localhost")))
    assert via_localhost.pr_state(REPO, 1).html_url.startswith("http://localhost:")
    url = emulator.api_url
    emulator.stop()
    with pytest.raises(errors.GitHubUnavailable):
        ghclient.GitHubClient(make_github(url)).find_pr(REPO, "x")


def test_github_app_installation_flow_on_enterprise_path(workspace: Workspace) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with server.GitHubEmulator({REPO: workspace.bare}, base_path="/api/v3") as emu:
        emu.add_app(4242, public, slug="githeal")
        emu.add_installation(77, 4242, "acme")
        auth = github.Auth.AppAuth(4242, private)
        integration = github.GithubIntegration(auth=auth, base_url=emu.api_url, retry=None)
        installation = integration.get_repo_installation("acme", "gitops")
        assert installation.id == 77
        token = integration.get_access_token(77)
        assert token.expires_at.tzinfo is not None and token.token.startswith("ghs_")
        gh = github.Github(
            auth=auth.get_installation_auth(77),
            base_url=emu.api_url,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        workspace.push_branch("githeal/app", FIX)
        pr = ghclient.GitHubClient(gh).open_or_update_pr(REPO, "githeal/app", "main", "t", "b")
        assert emu.state(REPO)["pulls"][0]["user"] == "githeal[bot]" and pr.outcome == "created"

        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = other.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        intruder = github.GithubIntegration(
            auth=github.Auth.AppAuth(4242, forged), base_url=emu.api_url, retry=None
        )
        with pytest.raises(github.GithubException) as denied:
            intruder.get_access_token(77)
        assert denied.value.status == 401
        with pytest.raises(github.UnknownObjectException):
            integration.get_access_token(78)
        # An installation token only sees the repositories its installation covers.
        emu.add_installation(79, 4242, "acme", repositories=["acme/elsewhere"])
        with pytest.raises(github.UnknownObjectException):
            make_github(emu.api_url, integration.get_access_token(79).token).get_repo(REPO)


def test_land_merges_an_unstable_pr_github_allows(
    workspace: Workspace, client: ghclient.GitHubClient, emulator: server.GitHubEmulator
) -> None:
    """github-api.md 1.5/3: ``unstable`` = only non-required checks pending or failing; GitHub merges
    it and refuses auto-merge on it ("Pull request is in unstable status"): merge now."""
    emulator.configure(REPO, allow_auto_merge=True)
    emulator.protect(REPO, "main", contexts=["ci"])
    head = workspace.push_branch("githeal/unstable", FIX)
    pr = client.open_or_update_pr(REPO, "githeal/unstable", "main", "t", "b")
    client.set_status(REPO, head, "success", "ci")
    client.set_status(REPO, head, "pending", "preview-env")  # not required
    assert client.pr_state(REPO, pr.number).mergeable_state == "unstable"
    landed = client.land(pr)
    assert (landed.status, landed.method) == ("merged", "merge")
    assert client.pr_state(REPO, pr.number).state == "merged"


def test_land_waits_for_reviews_and_updates_a_behind_branch(
    workspace: Workspace, client: ghclient.GitHubClient, emulator: server.GitHubEmulator
) -> None:
    """Protection with required reviews (``blocked``) and strict up-to-date checks (``behind``):
    auto-merge is enabled, the branch is brought up to date, and GitHub merges after the approval."""
    emulator.configure(REPO, allow_auto_merge=True)
    emulator.add_collaborator(REPO, "alice")
    workspace.push_branch("githeal/behind", FIX)
    pr = client.open_or_update_pr(REPO, "githeal/behind", "main", "t", "b")
    workspace.push_branch("main", {"other.txt": "moved"}, "someone else lands first")
    emulator.protect(REPO, "main", strict=True, reviews=1)
    assert client.pr_state(REPO, pr.number).mergeable_state == "blocked"
    landed = client.land(pr, "squash")
    assert landed.status == "enabled"
    emulator.approve(REPO, pr.number, "alice")
    assert client.pr_state(REPO, pr.number).mergeable_state in ("behind", "clean")
    emulator.unprotect(REPO, "main")
    emulator.protect(REPO, "main", strict=True)
    # behind and no review needed now: land() updates the branch, then merges it
    again = client.land(client.pr_state(REPO, pr.number))
    assert again.status == "merged", again


def test_installation_tokens_are_renewed_before_the_hour_and_found_by_repo(workspace: Workspace) -> None:
    """github-api.md 1.13: installation tokens last 1 h; ``GET /repos/{o}/{r}/installation`` finds
    the installation. The emulator expires tokens on its clock; the bot renews them on the same one."""
    from bot.clients import githubauth

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    start = datetime.now(UTC)
    now = [start]

    # PyGithub signs the App JWT with time.time(); it follows the same (fake) clock as the emulator.
    def epoch() -> float:
        return now[0].timestamp()

    jwt_clock = types.SimpleNamespace(time=epoch)
    with (
        mock.patch("github.Auth.time", jwt_clock),
        server.GitHubEmulator({REPO: workspace.bare}, clock=lambda: now[0]) as emu,
    ):
        emu.add_app(4242, public, slug="githeal")
        emu.add_installation(77, 4242, "acme")
        integration = github.GithubIntegration(
            auth=github.Auth.AppAuth(4242, private), base_url=emu.api_url, retry=None
        )
        tokens = githubauth.InstallationTokens(integration, repo=REPO, clock=epoch)
        gh = github.Github(
            auth=githubauth.TokenAuth(tokens),
            base_url=emu.api_url,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        client = ghclient.GitHubClient(gh, token_source=tokens)
        assert client.find_pr(REPO, "x") is None
        assert tokens.installation_id == 77 and tokens.issued == 1
        first = tokens()
        now[0] = start + timedelta(minutes=50)
        assert client.find_pr(REPO, "x") is None and tokens.issued == 1  # still fresh
        now[0] = start + timedelta(minutes=56)  # inside the 5-minute margin: renewed
        assert client.find_pr(REPO, "x") is None and tokens.issued == 2
        assert client.token_source is not None and client.token_source() != first
        now[0] = start + timedelta(minutes=61)
        stale = requests.get(
            f"{emu.api_url}/repos/{REPO}", headers={"Authorization": f"token {first}"}, timeout=5
        )
        assert stale.status_code == 401  # the emulator expires the old token after its hour
        assert client.find_pr(REPO, "x") is None  # the renewed one still works

        # wiring: App settings without installation_id look the installation up by repository
        app = tree.GitHubSettings(emu.api_url, app_id=4242, private_key=tree.Secret("file:key", private))
        wired = wiring.github_client(app, REPO, clock=epoch)
        assert wired.find_pr(REPO, "x") is None and wired.token_source is not None
        assert wired.token_source().startswith("ghs_")
        with pytest.raises(errors.ConfigError):
            wiring.github_client(app, None)


def test_secondary_limit_as_429_without_retry_after_waits_a_minute(
    emulator: server.GitHubEmulator, gh: github.Github
) -> None:
    """github-api.md section 2: GitHub may answer 429 for secondary limits; PyGithub raises a plain
    GithubException(429). Without Retry-After, GitHub asks to wait at least one minute."""
    client = ghclient.GitHubClient(gh)
    emulator.inject_secondary_rate_limit(1, retry_after=0, status=429)
    with pytest.raises(errors.GitHubRateLimited) as limited:
        client.find_pr(REPO, "any")
    assert limited.value.delay >= 60 and limited.value.temporary


def test_land_picks_the_only_method_a_rebase_only_repo_allows(
    workspace: Workspace, client: ghclient.GitHubClient, emulator: server.GitHubEmulator
) -> None:
    """github-api.md 1.1/1.9: ``allow_*_merge`` per repo; a disabled method is a 405."""
    emulator.configure(REPO, allow_merge_commit=False, allow_squash_merge=False)
    assert client.merge_settings(REPO).methods == ("rebase",)
    workspace.push_branch("githeal/rebase", FIX)
    pr = client.open_or_update_pr(REPO, "githeal/rebase", "main", "t", "b")
    with pytest.raises(errors.GitHubConflict):
        client.merge(pr, pr.head_sha, "merge")
    landed = client.land(pr)
    assert (landed.status, landed.method) == ("merged", "rebase")
    assert workspace.bare_git("log", "-1", "--format=%s", "main") == "change"  # the commit, rebased
