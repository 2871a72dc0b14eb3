"""Request/reply values, the route table type and Link-header pagination for the GitHub emulator.

Handlers in ``rest``, ``apps`` and ``admin`` are plain functions ``(ctx, request, match) -> Reply``;
``server`` owns the sockets and calls them under the store lock. This module must not touch git
or mutate the store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

from bot.sandbox.github import limits, pulls, store, webhooks, wire

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 30


@dataclass
class Context:
    """What handlers may use: the state, PR behaviour, rate limits and the webhook sender."""

    db: store.Store
    pulls: pulls.Pulls
    limits: limits.RateLimits
    hooks: webhooks.Webhooks
    token_lifetime_s: float = 3600.0


@dataclass
class Request:
    method: str
    path: str  # without the base path and query string, still percent-encoded
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    urls: wire.Urls
    user: store.User | None = None
    bearer: str | None = None  # the raw credential, for JWT-authenticated App routes

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise store.ApiError(400, "Problems parsing JSON") from exc

    def object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise store.ApiError(400, "Problems parsing JSON")
        return data

    def acting(self) -> store.User:
        if self.user is None:
            raise store.ApiError(401, "Requires authentication")
        return self.user


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Context, Request, "re.Match[str]"], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: str = "token"  # "token" (PAT / installation token), "jwt" (GitHub App), "none"


def registrar(table: list[Route]) -> Callable[..., Callable[[Handler], Handler]]:
    """``route = registrar(ROUTES)`` then ``@route("GET", r"/path")`` appends to that module's table."""

    def route(method: str, pattern: str, auth: str = "token") -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            table.append(Route(method, re.compile(f"^{pattern}$"), fn, auth))
            return fn

        return register

    return route


REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"  # every per-repo route starts with this


def repo(ctx: Context, match: re.Match[str]) -> store.Repo:
    """The repository a ``REPO``-prefixed route names (ApiError 404 when unknown)."""
    return ctx.db.repo(arg(match, "owner"), arg(match, "name"))


def arg(match: re.Match[str], name: str) -> str:
    return unquote(match.group(name))


def num(match: re.Match[str], name: str) -> int:
    return int(match.group(name))


def paginate(req: Request, items: Sequence[Any]) -> Reply:
    """GitHub paging: ``per_page``/``page`` params and a ``Link`` header PyGithub's strict parser accepts."""
    try:
        per_page = min(max(int(req.query.get("per_page", DEFAULT_PER_PAGE)), 1), MAX_PER_PAGE)
        page = max(int(req.query.get("page", 1)), 1)
    except ValueError as exc:
        raise store.ApiError(422, "Validation Failed") from exc
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = list(items[(page - 1) * per_page : page * per_page])

    def link(n: int) -> str:
        query = {**req.query, "per_page": str(per_page), "page": str(n)}
        if "per_page" not in req.query:
            del query["per_page"]
        return f"{req.urls.api}{req.path}?{urlencode(query)}"

    rels = []
    if page > 1:
        rels.append(f'<{link(page - 1)}>; rel="prev"')
    if page < last:
        rels += [f'<{link(page + 1)}>; rel="next"', f'<{link(last)}>; rel="last"']
    if page > 1:
        rels.append(f'<{link(1)}>; rel="first"')
    return Reply(200, chunk, {"Link": ", ".join(rels)} if rels else {})
