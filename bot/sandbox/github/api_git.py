"""REST routes of the GitHub emulator over git content: repo, branches, refs, commits, statuses, users.

Branches and refs are the bare repository's real refs (the bot pushes there too); statuses live in
the store and posting one re-checks auto-merge PRs. This module must not build JSON by hand
(``wire``/``gitwire`` do) nor hold state of its own.
"""

from __future__ import annotations

import re

from bot.sandbox.github import gitops, gitwire, limits, routing, store, wire

ROUTES: list[routing.Route] = []
route = routing.registrar(ROUTES)
R = routing.REPO
STATES = ("error", "failure", "pending", "success")
RESOURCES = (
    "search",
    "graphql",
    "integration_manifest",
    "source_import",
    "code_scanning_upload",
    "code_scanning_autofix",
    "actions_runner_registration",
    "scim",
    "dependency_snapshots",
    "dependency_sbom",
    "audit_log",
    "audit_log_streaming",
    "code_search",
)

Ctx = routing.Context
Req = routing.Request
Match = re.Match[str]
Reply = routing.Reply


_repo = routing.repo


@route("GET", R)
def get_repo(ctx: Ctx, req: Req, m: Match) -> Reply:
    return Reply(200, wire.repo(_repo(ctx, m), req.urls))


@route("GET", f"{R}/branches")
def list_branches(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    items = []
    for ref, sha in repo.git.refs("refs/heads/"):
        name = ref.removeprefix("refs/heads/")
        items.append(
            {
                "name": name,
                "commit": {"sha": sha, "url": f"{req.urls.repo(repo)}/commits/{sha}"},
                "protected": name in repo.protection,
            }
        )
    return routing.paginate(req, items)


@route("GET", f"{R}/branches/(?P<branch>.+)")
def get_branch(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    name = routing.arg(m, "branch")
    sha = repo.git.resolve(f"refs/heads/{name}")
    info = repo.git.commit_info(sha) if sha else None
    if info is None:
        raise store.ApiError(404, "Branch not found")
    return Reply(200, gitwire.branch(repo, name, info, req.urls))


def _full_ref(m: Match) -> str:
    ref = routing.arg(m, "ref")
    return ref if ref.startswith("refs/") else f"refs/{ref}"


def _exact(repo: store.Repo, ref: str) -> str | None:
    return next((sha for name, sha in repo.git.refs(ref) if name == ref), None)


@route("GET", f"{R}/git/refs?/(?P<ref>.+)")
def get_ref(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    ref = _full_ref(m)
    sha = _exact(repo, ref)
    if sha is not None:
        return Reply(200, gitwire.git_ref(repo, ref, sha, req.urls))
    # /git/refs/heads/fix matches by prefix on GitHub and then answers with a list.
    matching = [(n, s) for n, s in repo.git.refs("refs/") if n.startswith(ref)]
    if matching and "/git/refs/" in req.path:
        return Reply(200, [gitwire.git_ref(repo, n, s, req.urls) for n, s in matching])
    raise store.ApiError(404, "Not Found")


@route("GET", f"{R}/git/refs")
def list_refs(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    return routing.paginate(req, [gitwire.git_ref(repo, n, s, req.urls) for n, s in repo.git.refs("refs/")])


@route("POST", f"{R}/git/refs")
def create_ref(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    data = req.object()
    ref, sha = data.get("ref"), data.get("sha")
    if not isinstance(ref, str) or not isinstance(sha, str):
        raise store.ApiError(422, 'Invalid request.\n\n"ref", "sha" weren\'t supplied.')
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise store.ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.")
    if repo.git.commit_info(sha) is None:
        raise store.ApiError(422, "Object does not exist")
    try:
        repo.git.update_ref(ref, sha, gitops.ZERO_SHA)
    except gitops.GitOpFailed as exc:
        raise store.ApiError(422, "Reference already exists") from exc
    body = gitwire.git_ref(repo, ref, sha, req.urls)
    return Reply(201, body, {"Location": body["url"]})


@route("PATCH", f"{R}/git/refs?/(?P<ref>.+)")
def update_ref(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    ref, data = _full_ref(m), req.object()
    sha, force = data.get("sha"), bool(data.get("force", False))
    current = _exact(repo, ref)
    if current is None:
        raise store.ApiError(422, "Reference does not exist")
    if not isinstance(sha, str) or repo.git.commit_info(sha) is None:
        raise store.ApiError(422, "Object does not exist")
    if not force and not repo.git.is_ancestor(current, sha):
        raise store.ApiError(422, "Update is not a fast forward")
    try:
        repo.git.update_ref(ref, sha, current)
    except gitops.GitOpFailed as exc:
        raise store.ApiError(422, "Reference cannot be updated") from exc
    return Reply(200, gitwire.git_ref(repo, ref, sha, req.urls))


@route("DELETE", f"{R}/git/refs?/(?P<ref>.+)")
def delete_ref(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    ref = _full_ref(m)
    current = _exact(repo, ref)
    if current is None:
        raise store.ApiError(422, "Reference does not exist")
    repo.git.delete_ref(ref, current)
    return Reply(204)


@route("GET", f"{R}/commits/(?P<ref>[^/]+)")
def get_commit(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    sha = repo.git.resolve(routing.arg(m, "ref"))
    info = repo.git.commit_info(sha) if sha else None
    if sha is None or info is None:
        raise store.ApiError(422, f"No commit found for SHA: {routing.arg(m, 'ref')}")
    return Reply(200, gitwire.commit(repo, info, req.urls, repo.git.file_stats(sha)))


@route("GET", f"{R}/commits/(?P<ref>.+)/status")
def combined_status(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    sha = repo.git.resolve(routing.arg(m, "ref"))
    if sha is None:
        raise store.ApiError(404, "No commit found for SHA: " + routing.arg(m, "ref"))
    return Reply(200, gitwire.combined_status(repo, sha, req.urls))


@route("GET", f"{R}/commits/(?P<ref>.+)/statuses")
@route("GET", f"{R}/statuses/(?P<ref>[^/]+)")
def list_statuses(ctx: Ctx, req: Req, m: Match) -> Reply:
    # GitHub still serves the legacy ``GET {R}/statuses/{ref}``; PyGithub's Commit.get_statuses uses it
    repo = _repo(ctx, m)
    sha = repo.git.resolve(routing.arg(m, "ref")) or ""
    statuses = sorted(repo.statuses.get(sha, []), key=lambda s: s.id, reverse=True)
    return routing.paginate(req, [gitwire.status(repo, s, req.urls) for s in statuses])


@route("POST", f"{R}/statuses/(?P<sha>[0-9a-fA-F]{{40}})")
def create_status(ctx: Ctx, req: Req, m: Match) -> Reply:
    repo = _repo(ctx, m)
    sha, data = m.group("sha").lower(), req.object()
    if data.get("state") not in STATES:
        raise store.ApiError(
            422, "Validation Failed", [{"resource": "Status", "field": "state", "code": "custom"}]
        )
    if repo.git.commit_info(sha) is None:
        raise store.ApiError(422, f"No commit found for SHA: {sha}")
    status = store.Status(
        ctx.db.new_id(),
        sha,
        data["state"],
        str(data.get("context") or "default"),
        data.get("description"),
        data.get("target_url"),
        req.acting(),
        ctx.db.clock(),
    )
    repo.statuses.setdefault(sha, []).append(status)
    ctx.pulls.recheck_automerge(repo, sha)
    body = gitwire.status(repo, status, req.urls)
    return Reply(201, body, {"Location": body["url"]})


@route("GET", "/user")
def get_authenticated_user(ctx: Ctx, req: Req, m: Match) -> Reply:
    return Reply(200, gitwire.user_full(req.acting(), req.urls, private=True))


@route("GET", "/users/(?P<login>[^/]+)")
def get_user(ctx: Ctx, req: Req, m: Match) -> Reply:
    found = ctx.db.users.get(routing.arg(m, "login").lower())
    if found is None:
        raise store.ApiError(404, "Not Found")
    # GitHub shows the private profile fields when you look yourself up by login.
    return Reply(200, gitwire.user_full(found, req.urls, private=found is req.user))


@route("GET", "/rate_limit")
def get_rate_limit(ctx: Ctx, req: Req, m: Match) -> Reply:
    limit, used, reset = ctx.limits.snapshot(req.user.login if req.user else limits.ANONYMOUS)
    core = {
        "limit": limit,
        "used": used,
        "remaining": max(limit - used, 0),
        "reset": reset,
        "resource": "core",
    }
    others = {
        name: {"limit": limit, "used": 0, "remaining": limit, "reset": reset, "resource": name}
        for name in RESOURCES
    }
    return Reply(200, {"resources": {"core": core, **others}, "rate": core})
