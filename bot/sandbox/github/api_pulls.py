"""REST routes of the GitHub emulator for pull requests, issues, labels and issue comments.

PRs and issues share one number sequence per repo, as on GitHub. Validation and merge behaviour
live in ``pulls``; this module parses requests, filters lists and picks status codes. It must not
run git commands itself except through ``pulls``/``gitops``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bot.sandbox.github import gitops, pulls, routing, store, wire

ROUTES: list[routing.Route] = []
route = routing.registrar(ROUTES)
R = routing.REPO
N = r"(?P<number>\d+)"

Ctx = routing.Context
Req = routing.Request
Match = re.Match[str]
Reply = routing.Reply


_repo = routing.repo
NOT_COLLABORATOR = (
    "Reviews may only be requested from collaborators. One or more of the users or teams you "
    "specified is not a collaborator of the {repo} repository."
)


def _missing(resource: str, field: str) -> store.ApiError:
    return store.ApiError(
        422, "Validation Failed", [{"resource": resource, "field": field, "code": "missing_field"}]
    )


def _sorted(req: Req, items: Iterable[store.Issue]) -> list[store.Issue]:
    sort = req.query.get("sort", "created")
    desc = req.query.get("direction", "desc" if sort == "created" else "asc") == "desc"
    key = {
        "updated": lambda i: (i.updated_at, i.number),
        "comments": lambda i: (len(i.comments), i.number),
    }.get(sort, lambda i: (i.created_at, i.number))
    return sorted(items, key=key, reverse=desc)


def _state_filter(req: Req, issue: store.Issue) -> bool:
    state = req.query.get("state", "open")
    return state in ("all", issue.state)


def _full_pull(ctx: Ctx, req: Req, repo: store.Repo, issue: store.Issue) -> dict[str, Any]:
    return wire.pull(repo, issue, req.urls, ctx.pulls.mergeability(repo, issue))


# ---------------------------------------------------------------- pulls


@route("GET", f"{R}/pulls")
def list_pulls(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    head, base = req.query.get("head", ""), req.query.get("base")
    owner, _, branch = head.partition(":")
    found = []
    ctx.pulls.refresh_all(repo)
    for issue in repo.pulls():
        assert issue.pull is not None
        if not _state_filter(req, issue) or (base and issue.pull.base != base):
            continue
        # Like GitHub, a bare branch name (no "owner:") is silently ignored as a filter.
        if branch and (owner.lower() != repo.owner.login.lower() or issue.pull.head != branch):
            continue
        found.append(issue)
    items = [wire.pull(repo, i, req.urls, None, full=False) for i in _sorted(req, found)]
    return routing.paginate(req, items)


@route("POST", f"{R}/pulls")
def create_pull(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo, data = _repo(ctx, m), req.object()
    for required in ("head", "base", "title"):
        if not isinstance(data.get(required), str):
            raise _missing("PullRequest", required)
    issue = ctx.pulls.create(
        repo,
        req.acting(),
        head=data["head"],
        base=data["base"],
        title=data["title"],
        body=data.get("body"),
        draft=bool(data.get("draft", False)),
    )
    if "maintainer_can_modify" in data and issue.pull is not None:
        issue.pull.maintainer_can_modify = bool(data["maintainer_can_modify"])
    # GitHub computes mergeability in the background: a fresh PR says mergeable=null.
    body = wire.pull(repo, issue, req.urls, None)
    return Reply(201, body, {"Location": body["url"]})


@route("GET", f"{R}/pulls/{N}")
def get_pull(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    issue, _ = ctx.db.pull(repo, routing.num(m, "number"))
    return Reply(200, _full_pull(ctx, req, repo, issue))


@route("PATCH", f"{R}/pulls/{N}")
def edit_pull(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo, data = _repo(ctx, m), req.object()
    issue, pull = ctx.db.pull(repo, routing.num(m, "number"))
    if "base" in data:
        if repo.git.resolve(f"refs/heads/{data['base']}") is None:
            raise store.ApiError(
                422, "Validation Failed", [{"resource": "PullRequest", "field": "base", "code": "invalid"}]
            )
        pull.base = str(data["base"])
    _edit_common(ctx, req, repo, issue, data)
    if "maintainer_can_modify" in data:
        pull.maintainer_can_modify = bool(data["maintainer_can_modify"])
    return Reply(200, _full_pull(ctx, req, repo, issue))


def _edit_common(ctx: Ctx, req: Req, repo: store.Repo, issue: store.Issue, data: dict[str, Any]) -> None:
    if "title" in data:
        issue.title = str(data["title"])
    if "body" in data:
        issue.body = data["body"]
    if "labels" in data:
        issue.labels = [ctx.db.label(repo, str(n)) for n in data["labels"] or []]
    if "assignees" in data:
        issue.assignees = [ctx.db.user(str(login)) for login in data["assignees"] or []]
    issue.updated_at = ctx.db.clock()
    if data.get("state") == "closed":
        ctx.pulls.close(repo, issue, req.acting())
        issue.state_reason = data.get("state_reason") or ("completed" if issue.pull is None else None)
    elif data.get("state") == "open":
        ctx.pulls.reopen(repo, issue, req.acting())
        issue.state_reason = "reopened" if issue.pull is None else None


@route("GET", f"{R}/pulls/{N}/merge")
def is_merged(ctx: Ctx, req: Req, m: Match) -> Reply:
    _, pull = ctx.db.pull(_repo(ctx, m), routing.num(m, "number"))
    if pull.merged_at is None:
        raise store.ApiError(404, "Not Found")
    return Reply(204)


@route("PUT", f"{R}/pulls/{N}/merge")
def merge_pull(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo, data = _repo(ctx, m), req.object()
    issue, _ = ctx.db.pull(repo, routing.num(m, "number"))
    sha = ctx.pulls.merge(
        repo,
        issue,
        req.acting(),
        method=str(data.get("merge_method", "merge")),
        sha=data.get("sha"),
        title=data.get("commit_title"),
        message=data.get("commit_message"),
    )
    return Reply(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})


@route("POST", f"{R}/pulls/{N}/requested_reviewers")
def request_reviewers(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo, data = _repo(ctx, m), req.object()
    issue, pull = ctx.db.pull(repo, routing.num(m, "number"))
    logins = [str(login) for login in data.get("reviewers") or []]
    for login in logins:
        if login.lower() == issue.user.login.lower():
            raise store.ApiError(422, "Review cannot be requested from pull request author.")
        if not repo.is_collaborator(login):
            # All or nothing, as on GitHub (peter-evans/create-pull-request#4138 quotes the answer).
            raise store.ApiError(422, NOT_COLLABORATOR.format(repo=repo.full_name))
    for login in logins:
        reviewer = ctx.db.user(login)
        if reviewer not in pull.requested_reviewers:
            pull.requested_reviewers.append(reviewer)
    return Reply(201, wire.pull(repo, issue, req.urls, None))


@route("GET", f"{R}/pulls/{N}/requested_reviewers")
def list_reviewers(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    _, pull = ctx.db.pull(repo, routing.num(m, "number"))
    return Reply(200, {"users": [wire.user(u, req.urls) for u in pull.requested_reviewers], "teams": []})


@route("PUT", f"{R}/pulls/{N}/update-branch")
def update_branch(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo, data = _repo(ctx, m), req.object()
    issue, pull = ctx.db.pull(repo, routing.num(m, "number"))
    ctx.pulls.refresh(repo, issue)
    expected = data.get("expected_head_sha")
    if expected and expected != pull.head_sha:
        raise store.ApiError(422, "expected_head_sha does not match the pull request's current HEAD ref")
    url = f"{req.urls.repo(repo)}/pulls/{issue.number}"
    accepted = Reply(202, {"message": "Updating pull request branch.", "url": url}, {"Location": url})
    if repo.git.is_ancestor(pull.base_sha, pull.head_sha):
        return accepted  # already up to date: GitHub still answers 202 (the update job is a no-op)
    tree = repo.git.trial_merge(pull.head_sha, pull.base_sha)
    if tree is None:
        raise store.ApiError(422, "merge conflict between base and head")
    user, now = req.acting(), ctx.db.clock()
    message = f"Merge branch '{pull.base}' into {pull.head}"
    new = repo.git.commit_tree(
        tree, [pull.head_sha, pull.base_sha], message, author=user.identity, committer=pulls.GITHUB, when=now
    )
    try:
        repo.git.update_ref(f"refs/heads/{pull.head}", new, pull.head_sha)
    except gitops.GitOpFailed as exc:
        raise store.ApiError(
            422, "expected_head_sha does not match the pull request's current HEAD ref"
        ) from exc
    pull.head_sha = new
    return accepted


# ---------------------------------------------------------------- issues, comments, labels


@route("GET", f"{R}/issues")
def list_issues(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    wanted = {name.strip().lower() for name in req.query.get("labels", "").split(",") if name.strip()}
    found = [
        i
        for i in repo.issues.values()
        if _state_filter(req, i) and wanted <= {lab.name.lower() for lab in i.labels}
    ]
    return routing.paginate(req, [wire.issue(repo, i, req.urls) for i in _sorted(req, found)])


@route("POST", f"{R}/issues")
def create_issue(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo, data = _repo(ctx, m), req.object()
    if not repo.has_issues:
        raise store.ApiError(410, "Issues are disabled for this repo")
    if not isinstance(data.get("title"), str) or not data["title"]:
        raise _missing("Issue", "title")
    now = ctx.db.clock()
    issue = store.Issue(
        repo.next_number(), ctx.db.new_id(), data["title"], data.get("body"), req.acting(), now, now
    )
    issue.labels = [ctx.db.label(repo, str(n)) for n in data.get("labels") or []]
    issue.assignees = [ctx.db.user(str(login)) for login in data.get("assignees") or []]
    repo.issues[issue.number] = issue
    body = wire.issue(repo, issue, req.urls)
    return Reply(201, body, {"Location": body["url"]})


@route("GET", f"{R}/issues/{N}")
def get_issue(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    return Reply(200, wire.issue(repo, ctx.db.issue(repo, routing.num(m, "number")), req.urls))


@route("PATCH", f"{R}/issues/{N}")
def edit_issue(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo, data = _repo(ctx, m), req.object()
    issue = ctx.db.issue(repo, routing.num(m, "number"))
    _edit_common(ctx, req, repo, issue, data)
    return Reply(200, wire.issue(repo, issue, req.urls))


@route("GET", f"{R}/issues/{N}/comments")
def list_comments(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    issue = ctx.db.issue(repo, routing.num(m, "number"))
    return routing.paginate(req, [wire.comment(repo, c, req.urls) for c in issue.comments])


@route("POST", f"{R}/issues/{N}/comments")
def create_comment(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo, data = _repo(ctx, m), req.object()
    issue = ctx.db.issue(repo, routing.num(m, "number"))
    if not isinstance(data.get("body"), str):
        raise _missing("IssueComment", "body")
    now = ctx.db.clock()
    created = store.Comment(ctx.db.new_id(), issue.number, data["body"], req.acting(), now, now)
    issue.comments.append(created)
    issue.updated_at = now
    body = wire.comment(repo, created, req.urls)
    return Reply(201, body, {"Location": body["url"]})


def _label_names(req: Req) -> list[str]:
    """PyGithub sends a bare JSON array; the documented form is ``{"labels": [...]}``; both work."""
    data = req.json()
    names = data.get("labels", []) if isinstance(data, dict) else data
    if not isinstance(names, list):
        raise store.ApiError(422, "Invalid request.\n\nFor 'links/0/schema', nil is not an array.")
    return [str(n["name"]) if isinstance(n, dict) else str(n) for n in names]


@route("GET", f"{R}/issues/{N}/labels")
def list_issue_labels(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    issue = ctx.db.issue(repo, routing.num(m, "number"))
    return routing.paginate(req, [wire.label(repo, lab, req.urls) for lab in issue.labels])


@route("POST", f"{R}/issues/{N}/labels")
def add_labels(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    issue = ctx.db.issue(repo, routing.num(m, "number"))
    for name in _label_names(req):
        lab = ctx.db.label(repo, name)
        if lab not in issue.labels:
            issue.labels.append(lab)
    return Reply(200, [wire.label(repo, lab, req.urls) for lab in issue.labels])


@route("PUT", f"{R}/issues/{N}/labels")
def set_labels(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    issue = ctx.db.issue(repo, routing.num(m, "number"))
    issue.labels = [ctx.db.label(repo, name) for name in _label_names(req)]
    return Reply(200, [wire.label(repo, lab, req.urls) for lab in issue.labels])


@route("DELETE", f"{R}/issues/{N}/labels/(?P<label>.+)")
def remove_label(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    issue = ctx.db.issue(repo, routing.num(m, "number"))
    name = routing.arg(m, "label").lower()
    kept = [lab for lab in issue.labels if lab.name.lower() != name]
    if len(kept) == len(issue.labels):
        raise store.ApiError(404, "Label does not exist")
    issue.labels = kept
    return Reply(200, [wire.label(repo, lab, req.urls) for lab in issue.labels])


@route("GET", f"{R}/labels")
def list_labels(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    return routing.paginate(req, [wire.label(repo, lab, req.urls) for lab in repo.labels.values()])


@route("GET", f"{R}/labels/(?P<label>.+)")
def get_label(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    name = routing.arg(m, "label").lower()
    for lab in repo.labels.values():
        if lab.name.lower() == name:
            return Reply(200, wire.label(repo, lab, req.urls))
    raise store.ApiError(404, "Not Found")


@route("POST", f"{R}/labels")
def create_label(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo, data = _repo(ctx, m), req.object()
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise _missing("Label", "name")
    if any(lab.name.lower() == name.lower() for lab in repo.labels.values()):
        raise store.ApiError(
            422, "Validation Failed", [{"resource": "Label", "code": "already_exists", "field": "name"}]
        )
    lab = ctx.db.label(repo, name)
    lab.color, lab.description = str(data.get("color", lab.color)).lstrip("#"), data.get("description")
    return Reply(201, wire.label(repo, lab, req.urls))
