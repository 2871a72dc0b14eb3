"""The GitHub API emulator: a threaded HTTP server on loopback in front of real bare git repos.

``GitHubEmulator`` owns the socket, authentication (tokens, App JWTs), rate-limit headers, the
base path (``""`` like api.github.com or ``/api/v3`` like GitHub Enterprise) and dispatch to the
route tables of ``api_git``, ``api_pulls``, ``api_apps`` and ``api_admin``. Handlers run under the
store lock. This module must not implement endpoint behaviour itself.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot import errors
from bot.sandbox.github import (
    api_admin,
    api_apps,
    api_git,
    api_pulls,
    gitops,
    hooks,
    limits,
    pulls,
    routing,
    store,
    webhooks,
    wire,
)

API_ROUTES = api_git.ROUTES + api_pulls.ROUTES + api_apps.ROUTES
DEFAULT_PERMISSIONS = {
    "contents": "write",
    "pull_requests": "write",
    "issues": "write",
    "statuses": "write",
    "metadata": "read",
}
REPO_PATH = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)(?:/|$)")


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int


class GitHubEmulator:
    """Serve GitHub's REST/GraphQL API for ``repos`` ("owner/name" -> bare repo path) on ``host:port``."""

    def __init__(
        self,
        repos: Mapping[str, Path | str] | None = None,
        *,
        tokens: Mapping[str, str] | None = None,
        base_path: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], datetime] | None = None,
        merge_identity: gitops.Identity | None = None,
        rate_limit: int = 5000,
        token_lifetime_s: float = 3600.0,
    ) -> None:
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.graphql_path = (self.base_path.removesuffix("/v3") if self.base_path else "") + "/graphql"
        self.db = store.Store(clock or (lambda: datetime.now(UTC)))
        self.hooks = webhooks.Webhooks()
        self.ctx = routing.Context(
            self.db,
            pulls.Pulls(self.db, merge_identity),
            limits.RateLimits(self.db.clock, rate_limit),
            self.hooks,
        )
        self.ctx.token_lifetime_s = token_lifetime_s
        self.db.on_pull_event = self._pull_event
        for token, login in (tokens or {}).items():
            self.add_token(token, login)
        for full_name, path in (repos or {}).items():
            self.register_repo(full_name, Path(path))
        self._host, self._port = host, port
        self.calls: list[Call] = []  # every API answer (admin routes excluded), for call-count tests
        self._log_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> GitHubEmulator:
        if self._server is not None:
            return self
        try:
            server = ThreadingHTTPServer((self._host, self._port), _handler_class(self))
        except OSError as exc:
            raise errors.SandboxError(
                f"GitHub emulator cannot listen on {self._host}:{self._port}: {exc}"
            ) from exc
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.hooks.stop()

    def __enter__(self) -> GitHubEmulator:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise errors.SandboxError("GitHub emulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """What to pass as PyGithub's ``base_url``."""
        return self.url + self.base_path

    @property
    def graphql_url(self) -> str:
        return self.url + self.graphql_path

    # ------------------------------------------------------------ configuration (admin API, Python side)

    def register_repo(
        self, full_name: str, path: Path | str, default_branch: str | None = None, **settings: Any
    ) -> None:
        protection = settings.pop("protection", None) or {}
        collaborators = settings.pop("collaborators", None) or ()
        repo = self.db.add_repo(full_name, Path(path), default_branch, **settings)
        hooks.install(repo)
        for login in collaborators:
            self.add_collaborator(full_name, str(login))
        for branch, rule in dict(protection).items():
            self.protect(full_name, str(branch), **dict(rule))

    def add_token(self, token: str, login: str) -> None:
        with self.db.lock:
            self.db.tokens[token] = store.Token(login)
            self.db.user(login)

    def set_required_contexts(self, full_name: str, branch: str, contexts: list[str]) -> None:
        self.protect(full_name, branch, contexts=contexts)

    def protect(
        self,
        full_name: str,
        branch: str,
        *,
        contexts: Sequence[str] = (),
        strict: bool = False,
        reviews: int = 0,
    ) -> None:
        """A branch protection rule: required checks, up-to-date head (``strict``), approving reviews."""
        owner, _, name = full_name.partition("/")
        with self.db.lock:
            repo = self.db.repo(owner, name)
            repo.protection[branch] = store.Protection(list(contexts), strict, reviews)
            hooks.install(repo)
            self.ctx.pulls.recheck_automerge(repo)

    def unprotect(self, full_name: str, branch: str) -> None:
        owner, _, name = full_name.partition("/")
        with self.db.lock:
            repo = self.db.repo(owner, name)
            repo.protection.pop(branch, None)
            hooks.install(repo)

    def configure(self, full_name: str, **settings: Any) -> None:
        """Repo settings such as ``allow_auto_merge`` or ``allow_merge_commit`` (as in Settings > General)."""
        owner, _, name = full_name.partition("/")
        with self.db.lock:
            repo = self.db.repo(owner, name)
            for key, value in settings.items():
                if key not in api_admin.SETTINGS:
                    raise ValueError(f"unknown repository setting {key!r}")
                setattr(repo, key, value)

    def add_past_pull(
        self, full_name: str, head: str, *, title: str = "", body: str = "", labels: Sequence[str] = ()
    ) -> int:
        """Import a closed PR of the repo's past (no git work: its head and base are the base tip)."""
        owner, _, name = full_name.partition("/")
        with self.db.lock:
            repo = self.db.repo(owner, name)
            tip = repo.git.resolve(f"refs/heads/{repo.default_branch}") or ""
            now, ident = self.db.clock(), self.db.new_id()
            pull = store.Pull(head, repo.default_branch, tip, tip, id=ident)
            pull.node_id = store.node_id("PullRequest", ident)
            author = self.db.user("octocat")
            issue = store.Issue(repo.next_number(), self.db.new_id(), title or head, body, author, now, now)
            issue.pull, issue.state, issue.closed_at = pull, "closed", now
            issue.labels = [self.db.label(repo, label) for label in labels]
            repo.issues[issue.number] = issue
            return issue.number

    def add_collaborator(self, full_name: str, login: str) -> None:
        owner, _, name = full_name.partition("/")
        with self.db.lock:
            self.db.repo(owner, name).collaborators.add(login.lower())
            self.db.user(login)

    def approve(self, full_name: str, number: int, login: str) -> None:
        """A collaborator approves PR ``number`` (a review with event APPROVE)."""
        owner, _, name = full_name.partition("/")
        with self.db.lock:
            repo = self.db.repo(owner, name)
            api_admin.approve_pull(self.ctx, repo, number, login)

    def add_app(self, app_id: int, public_key_pem: str | None = None, slug: str = "githeal") -> None:
        with self.db.lock:
            self.db.apps[app_id] = store.App(app_id, slug, public_key_pem)

    def add_installation(
        self,
        installation_id: int,
        app_id: int,
        account: str,
        permissions: Mapping[str, str] | None = None,
        repositories: list[str] | None = None,
    ) -> None:
        perms = dict(permissions or DEFAULT_PERMISSIONS)
        with self.db.lock:
            self.db.installations[installation_id] = store.Installation(
                installation_id, app_id, self.db.user(account), perms, repositories, self.db.clock()
            )

    def inject_secondary_rate_limit(self, count: int = 1, retry_after: int = 60, status: int = 403) -> None:
        self.ctx.limits.inject_secondary(count, retry_after, status)

    def add_webhook(self, url: str, secret: str, events: tuple[str, ...] = ("pull_request",)) -> None:
        self.hooks.add(url, secret, events)

    def state(self, full_name: str) -> dict[str, Any]:
        owner, _, name = full_name.partition("/")
        with self.db.lock:
            return api_admin.summary(self.db.repo(owner, name))

    # ------------------------------------------------------------------ dispatch

    def _pull_event(self, repo: store.Repo, issue: store.Issue, action: str, sender: store.User) -> None:
        if not self.hooks.hooks:
            return
        urls = wire.Urls(self.api_url, self.url)
        payload = {
            "action": action,
            "number": issue.number,
            "pull_request": wire.pull(repo, issue, urls, None),
            "repository": wire.repo(repo, urls),
            "sender": wire.user(sender, urls),
        }
        self.hooks.emit("pull_request", payload)

    def dispatch(self, req: routing.Request, raw_path: str) -> routing.Reply:
        if raw_path.startswith("/_emulator/"):
            return self._run(api_admin.ROUTES, req, raw_path, charge=False)
        if raw_path == self.graphql_path and req.method == "POST":
            return self._run([], req, raw_path, graphql=True)
        if self.base_path and not raw_path.startswith(self.base_path + "/"):
            return routing.Reply(404, wire.error(404, "Not Found"))
        return self._run(API_ROUTES, req, raw_path[len(self.base_path) :], charge=raw_path != "/rate_limit")

    def _run(
        self,
        table: list[routing.Route],
        req: routing.Request,
        path: str,
        charge: bool = True,
        graphql: bool = False,
    ) -> routing.Reply:
        req.path = path
        headers: dict[str, str] = {}
        try:
            found = None if graphql else match_route(table, req.method, path)
            auth = "token" if graphql else found[0].auth if found else "token"
            if auth != "none":
                self._authenticate(req, auth)
            if auth != "none" and charge:
                login = req.user.login if req.user else "app-jwt" if req.bearer else limits.ANONYMOUS
                verdict = self.ctx.limits.charge(login, "graphql" if graphql else "core")
                headers.update(verdict.headers)
                if verdict.status:
                    raise store.ApiError(verdict.status, verdict.message)
            with self.db.lock:
                if graphql:
                    reply = api_apps.graphql(self.ctx, req)
                elif found is None:
                    raise store.ApiError(404, "Not Found")
                else:
                    self._check_scope(req, path)
                    reply = found[0].handler(self.ctx, req, found[1])
        except store.ApiError as exc:
            reply = routing.Reply(
                exc.status, wire.error(exc.status, exc.message, exc.errors), dict(exc.headers)
            )
        except Exception as exc:  # an emulator bug must surface as a 500, not kill the connection
            traceback.print_exc(file=sys.stderr)
            reply = routing.Reply(500, wire.error(500, f"emulator error: {exc}"))
        if table is API_ROUTES and req.method == "GET" and reply.status == 200:
            reply = self._conditional(req, reply, charged=bool(headers))
            if reply.status == 304:
                headers = {}
        if not headers and table is not api_admin.ROUTES:
            # GitHub sends the rate-limit headers on every API answer, refusals included.
            headers = self.ctx.limits.peek(req.user.login if req.user else limits.ANONYMOUS)
        reply.headers = {**headers, **reply.headers}
        if table is not api_admin.ROUTES:
            with self._log_lock:
                self.calls.append(Call(req.method, path, reply.status))
        return reply

    def _conditional(self, req: routing.Request, reply: routing.Reply, charged: bool) -> routing.Reply:
        """ETag on every GET answer; ``If-None-Match`` with the current tag gets 304 and costs nothing.

        GitHub: "Making a conditional request does not count against your primary rate limit if a
        304 response is returned and the request was made while correctly authorized" (REST best
        practices, "Use conditional requests"). Tags vary with the credential, like GitHub's
        ``Vary: Accept, Authorization``.
        """
        digest = hashlib.sha256(
            json.dumps([reply.body, reply.headers.get("Link", ""), req.bearer or ""], sort_keys=True).encode()
        ).hexdigest()[:32]
        etag = f'W/"{digest}"'
        cache = {"ETag": etag, "Cache-Control": "private, max-age=60, s-maxage=60"}
        cache["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
        given = next((v for k, v in req.headers.items() if k.lower() == "if-none-match"), "")
        wanted = {t.strip() for t in given.split(",") if t.strip()}
        if etag not in wanted and etag.removeprefix("W/") not in wanted:
            reply.headers = {**reply.headers, **cache}
            return reply
        if charged and req.user is not None:
            self.ctx.limits.refund(req.user.login)
        return routing.Reply(304, None, {**cache, **{k: v for k, v in reply.headers.items() if k == "Link"}})

    def _authenticate(self, req: routing.Request, auth: str) -> None:
        scheme, _, credential = req.headers.get("Authorization", "").strip().partition(" ")
        credential = credential.strip()
        if not credential and auth == "token" and req.method == "GET":
            return  # anonymous reads of public data, as on github.com (60 requests/hour)
        if not credential:
            raise store.ApiError(401, "Requires authentication")
        if auth == "jwt":
            if scheme.lower() != "bearer":
                raise store.ApiError(401, "A JSON web token could not be decoded")
            req.bearer = credential
            return
        if scheme.lower() not in ("token", "bearer"):
            raise store.ApiError(401, "Bad credentials")
        with self.db.lock:
            token = self.db.tokens.get(credential)
            if token is None or (token.expires_at is not None and token.expires_at <= self.db.clock()):
                raise store.ApiError(401, "Bad credentials")
            req.user = self.db.user(token.login)
            req.bearer = credential

    def _check_scope(self, req: routing.Request, path: str) -> None:
        """Installation tokens only see the repositories their installation covers."""
        token = self.db.tokens.get(req.bearer or "")
        found = REPO_PATH.match(path)
        if token is None or token.installation_id is None or found is None:
            return
        inst = self.db.installations.get(token.installation_id)
        repo = self.db.repo(found.group("owner"), found.group("name"))
        if inst is None or not inst.covers(repo):
            raise store.ApiError(404, "Not Found")


def match_route(
    table: list[routing.Route], method: str, path: str
) -> tuple[routing.Route, re.Match[str]] | None:
    for candidate in table:
        found = candidate.pattern.match(path)
        if found and candidate.method == method:
            return candidate, found
    return None


def _handler_class(emulator: GitHubEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in two writes: without this a keep-alive client waits for its own
        # delayed ACK (~40 ms on Linux) on every request after the first, a cost GitHub never adds
        disable_nagle_algorithm = True
        server_version = "GitHub.com"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host = self.headers.get("Host") or emulator.url.removeprefix("http://")
            scheme = self.headers.get("X-Forwarded-Proto", "http")
            request = routing.Request(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                headers={k: v for k, v in self.headers.items()},
                body=body,
                urls=wire.Urls(f"{scheme}://{host}{emulator.base_path}", f"{scheme}://{host}"),
            )
            reply = emulator.dispatch(request, parts.path)
            payload = b"" if reply.status == 204 or reply.body is None else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            if payload:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
            self.send_header("X-GitHub-Request-Id", uuid.uuid4().hex[:20].upper())
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815 (BaseHTTPRequestHandler's names)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests and demos read state through the admin API, not the access log

    return Handler
