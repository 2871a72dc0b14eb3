"""GitHub App and GraphQL routes of the emulator: installation tokens, repo installation, auto-merge.

App routes authenticate with an RS256 JWT checked against the configured public key (when one is
given) and the emulator's clock; GraphQL understands only the two auto-merge mutations the bot
uses. This module must not merge anything itself: ``pulls`` does.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import jwt

from bot.sandbox.github import gitwire, pulls, routing, store

ROUTES: list[routing.Route] = []
route = routing.registrar(ROUTES)
LEVELS = {"read": 1, "write": 2, "admin": 3}
APPS_DOCS = "https://docs.github.com/rest/reference/apps#create-an-installation-access-token-for-an-app"
MUTATION = re.compile(r"\b(enablePullRequestAutoMerge|disablePullRequestAutoMerge)\s*\(")

Ctx = routing.Context
Req = routing.Request
Match = re.Match[str]
Reply = routing.Reply


def verify_jwt(ctx: Ctx, token: str | None) -> store.App:
    """The App whose key signed ``token``; 401 with GitHub's messages otherwise."""
    if not token:
        raise store.ApiError(401, "A JSON web token could not be decoded")
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise store.ApiError(401, "A JSON web token could not be decoded") from exc
    try:
        app = ctx.db.apps.get(int(claims.get("iss", "")))
    except (TypeError, ValueError):
        app = None
    if app is None:
        raise store.ApiError(401, "'Issuer' claim ('iss') must be an Integer")
    if app.public_key_pem:
        try:
            # Time claims are checked below against the emulator's (injectable) clock, not the wall clock.
            jwt.decode(
                token,
                app.public_key_pem,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError as exc:
            raise store.ApiError(401, "A JSON web token could not be decoded") from exc
    now = ctx.db.clock().timestamp()
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or exp <= now:
        message = (
            "'Expiration time' claim ('exp') must be a numeric value representing the future time "
            "at which the assertion expires"
        )
        raise store.ApiError(401, message)
    if isinstance(iat, int | float) and exp - iat > 600 + 60:
        raise store.ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
    return app


@route("POST", r"/app/installations/(?P<id>\d+)/access_tokens", auth="jwt")
def create_access_token(ctx: Ctx, req: Req, m: Match) -> Reply:
    app = verify_jwt(ctx, req.bearer)
    inst = ctx.db.installations.get(routing.num(m, "id"))
    if inst is None or inst.app_id != app.id:
        raise store.ApiError(404, "Not Found")
    data = req.object()
    wanted = data.get("permissions") or {}
    if not isinstance(wanted, dict):
        raise store.ApiError(400, "Problems parsing JSON")
    for key, level in wanted.items():
        granted = inst.permissions.get(str(key))
        if granted is None or LEVELS.get(str(level), 9) > LEVELS.get(granted, 0):
            raise store.ApiError(422, "The permissions requested are not granted to this installation.")
    token, record = ctx.db.issue_token(inst, app.slug, timedelta(seconds=ctx.token_lifetime_s))
    body = {
        "token": token,
        "expires_at": store.iso(record.expires_at),
        "permissions": wanted or inst.permissions,
        "repository_selection": "all" if inst.repositories is None else "selected",
    }
    return Reply(201, body)


@route("GET", r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)/installation", auth="jwt")
def get_repo_installation(ctx: Ctx, req: Req, m: Match) -> Reply:
    app = verify_jwt(ctx, req.bearer)
    repo = ctx.db.repo(routing.arg(m, "owner"), routing.arg(m, "name"))
    for inst in ctx.db.installations.values():
        if inst.app_id == app.id and inst.covers(repo):
            return Reply(200, gitwire.installation(inst, app, req.urls))
    raise store.ApiError(404, "Not Found")


def graphql(ctx: Ctx, req: Req) -> Reply:
    """POST /graphql: the auto-merge mutations; everything else is a GraphQL error, not an HTTP one."""
    data = req.object()
    found = MUTATION.search(str(data.get("query", "")))
    if found is None:
        return Reply(
            200, {"errors": [{"message": "The GitHub emulator only supports the auto-merge mutations"}]}
        )
    name = found.group(1)
    variables = data.get("variables") or {}
    given = variables.get("input") if isinstance(variables, dict) else None
    inp: dict[str, Any] = given if isinstance(given, dict) else {}
    located = ctx.db.find_node(str(inp.get("pullRequestId", "")))
    try:
        if located is None:
            raise pulls.GraphQLError(
                "NOT_FOUND", f"Could not resolve to a node with the global id of '{inp.get('pullRequestId')}'"
            )
        repo, issue = located
        user = req.acting()
        if name == "enablePullRequestAutoMerge":
            ctx.pulls.enable_automerge(
                repo,
                issue,
                user,
                method=str(inp.get("mergeMethod", "MERGE")),
                expected_head=inp.get("expectedHeadOid"),
                title=inp.get("commitHeadline"),
                message=inp.get("commitBody"),
            )
        elif issue.pull is not None:
            issue.pull.auto_merge = None
    except pulls.GraphQLError as exc:
        error = {
            "type": exc.kind,
            "path": [name],
            "locations": [{"line": 1, "column": found.start() + 1}],
            "message": exc.message,
        }
        return Reply(200, {"data": {name: None}, "errors": [error]})
    login = user.login
    actor = {
        "avatarUrl": f"{req.urls.web}/avatars/u/{user.id}?v=4",
        "login": login,
        "resourcePath": f"/{login}",
        "url": f"{req.urls.web}/{login}",
    }
    return Reply(200, {"data": {name: {"actor": actor, "clientMutationId": inp.get("clientMutationId")}}})
