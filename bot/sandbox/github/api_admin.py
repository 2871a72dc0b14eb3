"""Emulator-only admin routes under ``/_emulator/`` (no auth, JSON) for tests and demos.

They read state compactly, configure branch protection and repo settings, act as a human (merge
or close a PR), inject rate limits, add tokens and register webhooks. Nothing the bot itself calls
may live here: the bot only speaks GitHub's real API.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot import errors
from bot.sandbox.github import hooks, routing, store

ROUTES: list[routing.Route] = []
route = routing.registrar(ROUTES)
E = "/_emulator"
R = E + routing.REPO
SETTINGS = (
    "allow_auto_merge",
    "allow_merge_commit",
    "allow_squash_merge",
    "allow_rebase_merge",
    "delete_branch_on_merge",
    "has_issues",
    "default_branch",
)

Ctx = routing.Context
Req = routing.Request
Match = re.Match[str]
Reply = routing.Reply


def summary(repo: store.Repo) -> dict[str, Any]:
    """A compact, stable view of one repo's PRs, issues and statuses (not GitHub's JSON shapes)."""
    pulls, issues = [], []
    for issue in sorted(repo.issues.values(), key=lambda i: i.number):
        common = {
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "user": issue.user.login,
            "labels": [lab.name for lab in issue.labels],
            "comments": [{"user": c.user.login, "body": c.body} for c in issue.comments],
            "closed_by": issue.closed_by.login if issue.closed_by else None,
        }
        pull = issue.pull
        if pull is None:
            issues.append(common)
            continue
        auto = pull.auto_merge
        common.update(
            {
                "head": pull.head,
                "base": pull.base,
                "head_sha": pull.head_sha,
                "merged": pull.merged_at is not None,
                "merged_by": pull.merged_by.login if pull.merged_by else None,
                "merge_commit_sha": pull.merge_commit_sha,
                "auto_merge": {"enabled_by": auto.enabled_by.login, "merge_method": auto.merge_method}
                if auto
                else None,
                "requested_reviewers": [u.login for u in pull.requested_reviewers],
                "node_id": pull.node_id,
            }
        )
        pulls.append(common)
    statuses = {
        sha: [{"context": s.context, "state": s.state, "description": s.description} for s in items]
        for sha, items in repo.statuses.items()
    }
    settings = {key: getattr(repo, key) for key in SETTINGS}
    return {
        "full_name": repo.full_name,
        "path": str(repo.git.path),
        "settings": settings,
        "protection": _protection(repo),
        "collaborators": sorted(repo.collaborators),
        "pulls": pulls,
        "issues": issues,
        "statuses": statuses,
    }


_repo = routing.repo


def _protection(repo: store.Repo) -> dict[str, Any]:
    return {
        branch: {"contexts": list(r.contexts), "strict": r.strict, "reviews": r.reviews}
        for branch, r in repo.protection.items()
    }


def approve_pull(ctx: Ctx, repo: store.Repo, number: int, login: str) -> list[int]:
    """An approving review by ``login`` (a collaborator, not the author); re-checks auto-merge."""
    issue, pull = ctx.db.pull(repo, number)
    if not repo.is_collaborator(login) or login.lower() == issue.user.login.lower():
        raise store.ApiError(422, f"{login} cannot approve this pull request")
    pull.approvals[login.lower()] = pull.head_sha
    return ctx.pulls.recheck_automerge(repo)


@route("GET", f"{E}/state", auth="none")
def state(ctx: Ctx, req: Req, m: Match) -> Reply:
    return Reply(200, {"repos": [summary(r) for r in ctx.db.repos.values()]})


@route("POST", f"{E}/repos", auth="none")
def register_repo(ctx: Ctx, req: Req, m: Match) -> Reply:
    data = req.object()
    settings = {k: v for k, v in data.items() if k in SETTINGS and k != "default_branch"}
    try:
        repo = ctx.db.add_repo(
            str(data["full_name"]), Path(str(data["path"])), data.get("default_branch"), **settings
        )
        hooks.install(repo)
    except (KeyError, ValueError, errors.SandboxError) as exc:
        raise store.ApiError(422, f"cannot register repository: {exc}") from exc
    return Reply(201, summary(repo))


@route("GET", R, auth="none")
def repo_state(ctx: Ctx, req: Req, m: Match) -> Reply:
    return Reply(200, summary(_repo(ctx, m)))


@route("PATCH", R, auth="none")
def repo_settings(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    for key, value in req.object().items():
        if key not in SETTINGS:
            raise store.ApiError(422, f"unknown setting {key!r}; known: {', '.join(SETTINGS)}")
        setattr(repo, key, value)
    return Reply(200, summary(repo))


@route("PUT", f"{R}/protection/(?P<branch>.+)", auth="none")
def protect(ctx: Ctx, req: Req, m: Match) -> Reply:
    """A protection rule (``contexts``, ``strict``, ``reviews``); auto-merge PRs are re-checked at once."""
    repo, data = _repo(ctx, m), req.object()
    repo.protection[routing.arg(m, "branch")] = store.Protection(
        [str(c) for c in data.get("contexts", [])], bool(data.get("strict")), int(data.get("reviews", 0))
    )
    hooks.install(repo)
    merged = ctx.pulls.recheck_automerge(repo)
    return Reply(200, {"protection": _protection(repo), "merged": merged})


@route("DELETE", f"{R}/protection/(?P<branch>.+)", auth="none")
def unprotect(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    repo.protection.pop(routing.arg(m, "branch"), None)
    hooks.install(repo)
    return Reply(200, {"protection": _protection(repo)})


@route("PUT", f"{R}/collaborators/(?P<login>[^/]+)", auth="none")
def add_collaborator(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo, login = _repo(ctx, m), routing.arg(m, "login")
    repo.collaborators.add(login.lower())
    ctx.db.user(login)
    return Reply(201, {"collaborators": sorted(repo.collaborators)})


@route("POST", rf"{R}/pulls/(?P<number>\d+)/approve", auth="none")
def approve(ctx: Ctx, req: Req, m: Match) -> Reply:
    """A human approves the PR (a review with event APPROVE); may complete an auto-merge."""
    repo, data = _repo(ctx, m), req.object()
    merged = approve_pull(ctx, repo, routing.num(m, "number"), str(data.get("login", "octocat")))
    return Reply(200, {"merged": merged})


@route("POST", rf"{R}/pulls/(?P<number>\d+)/merge", auth="none")
def human_merge(ctx: Ctx, req: Req, m: Match) -> Reply:
    """A human presses "Merge" (an admin: required checks are bypassed unless ``enforce_checks``)."""
    repo, data = _repo(ctx, m), req.object()
    issue, _ = ctx.db.pull(repo, routing.num(m, "number"))
    sha = ctx.pulls.merge(
        repo,
        issue,
        ctx.db.user(str(data.get("login", "octocat"))),
        method=str(data.get("merge_method", "merge")),
        enforce_checks=bool(data.get("enforce_checks", False)),
    )
    return Reply(200, {"sha": sha, "merged": True})


@route("POST", rf"{R}/pulls/(?P<number>\d+)/close", auth="none")
def human_close(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo, data = _repo(ctx, m), req.object()
    issue, _ = ctx.db.pull(repo, routing.num(m, "number"))
    ctx.pulls.close(repo, issue, ctx.db.user(str(data.get("login", "octocat"))))
    return Reply(200, {"state": issue.state})


@route("POST", rf"{R}/recheck", auth="none")
def recheck(ctx: Ctx, req: Req, m: Match) -> Reply:
    """Re-evaluate auto-merge PRs, e.g. after pushing straight to the bare repo."""
    return Reply(200, {"merged": ctx.pulls.recheck_automerge(_repo(ctx, m))})


@route("POST", f"{E}/rate-limit", auth="none")
def rate_limit(ctx: Ctx, req: Req, m: Match) -> Reply:
    data = req.object()
    if "secondary" in data:
        ctx.limits.inject_secondary(
            int(data["secondary"]), int(data.get("retry_after", 60)), int(data.get("status", 403))
        )
    if "remaining" in data:
        ctx.limits.set_remaining(str(data.get("login", "")), int(data["remaining"]))
    return Reply(200, {"ok": True})


@route("POST", f"{E}/tokens", auth="none")
def add_token(ctx: Ctx, req: Req, m: Match) -> Reply:
    data = req.object()
    ctx.db.tokens[str(data["token"])] = store.Token(str(data["login"]))
    ctx.db.user(str(data["login"]))
    return Reply(201, {"login": data["login"]})


@route("POST", f"{E}/webhooks", auth="none")
def add_webhook(ctx: Ctx, req: Req, m: Match) -> Reply:
    data = req.object()
    hook = ctx.hooks.add(
        str(data["url"]), str(data.get("secret", "")), tuple(data.get("events", ["pull_request"]))
    )
    return Reply(201, {"id": hook.id, "url": hook.url, "events": list(hook.events)})


@route("GET", f"{E}/webhooks/deliveries", auth="none")
def deliveries(ctx: Ctx, req: Req, m: Match) -> Reply:
    items = [
        {
            "guid": d.guid,
            "hook_id": d.hook_id,
            "event": d.event,
            "action": d.action,
            "status": d.status,
            "error": d.error,
        }
        for d in ctx.hooks.deliveries
    ]
    return Reply(200, items)
