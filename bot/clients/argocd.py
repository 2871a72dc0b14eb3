"""Argo CD REST client: the only module that talks to Argo CD's API server (over an injected httpx.Client).

It sends requests exactly as the grpc-gateway wants them (Content-Type on every non-GET, ``syncOptions``
as ``{"items": [...]}``, ``project`` whenever known, ``appNamespace`` for apps named ``ns/name`` or when
configured), keeps a session login alive (a new login before the token expires or after a 401, since
the server renews sessions only through a cookie it then ignores in favour of our Bearer header), and
translates every failure into the ``errors.ArgoCDError`` subtree: 5xx and timeouts temporary, 4xx
permanent (except FailedPrecondition, e.g. "another operation is already in progress"). Parsing lives
in ``argoapp``; retries, waiting and verification belong to the callers.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import quote

import httpx

from bot import errors, model
from bot.clients import argoapp
from bot.clients import retry as retrying

JSON_HEADERS = {"Content-Type": "application/json"}
SESSION_PATH = "/api/v1/session"
COOKIE = "argocd.token"
LIST_WITHOUT = ("-status.resources",)  # list_statuses parses no field under these


# Raw shapes and parsing live in ``argoapp``; these names keep the client's API in one place.
Source = argoapp.Source
Spec = argoapp.Spec
Application = argoapp.Application
ApplicationTree = argoapp.ApplicationTree
ResourceDiff = argoapp.ResourceDiff
Event = argoapp.Event
GatewayError = argoapp.GatewayError
parse_app = argoapp.parse_app
parse_time = argoapp.parse_time
primary_source = argoapp.primary_source


# ----------------------------------------------------------------------------- errors

# 4xx by gRPC code; anything unlisted is our request's fault (permanent). FailedPrecondition stays
# temporary: "another operation is already in progress" clears by itself.
_BY_CODE: dict[int, type[errors.ArgoCDError]] = {
    5: errors.ArgoCDNotFound,
    7: errors.ArgoCDPermissionDenied,
    9: errors.ArgoCDFailedPrecondition,
    16: errors.ArgoCDUnauthenticated,
}
# for plain-text gateway replies; 429 is ResourceExhausted (8), as grpc-gateway maps it
_CODE_OF_STATUS = {400: 3, 401: 16, 403: 7, 404: 5, 405: 3, 415: 3, 429: 8}
_TEMPORARY_4XX = (408, 429)  # Canceled, ResourceExhausted (login rate limiting)


def error_from_response(response: httpx.Response, app: str | None = None) -> errors.ArgoCDError:
    """Translate a non-2xx response (gateway JSON or plain text) into the typed error for its gRPC code."""
    status, text = response.status_code, response.text
    url = str(response.request.url)
    body: object
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("code"), int):
        gateway = cast(GatewayError, parsed)
        code, message, body = gateway["code"], gateway.get("message") or gateway.get("error", ""), gateway
    else:
        code, message, body = _CODE_OF_STATUS.get(status, 14 if status >= 500 else 3), text.strip(), text
        if status == 415:
            message += " (the server wants Content-Type exactly application/json)"
        elif status in (404, 405):
            message += " (route unknown to this Argo CD version)"
    if status >= 500 or status in _TEMPORARY_4XX:
        cls: type[errors.ArgoCDError] = errors.ArgoCDUnavailable  # Unknown/Internal/Unavailable: hiccups
    else:
        cls = _BY_CODE.get(code, errors.ArgoCDInvalidArgument)
    exc = cls(message or response.reason_phrase, app=app, url=url, status=status, payload=body)
    retrying.note_retry_after(exc, response.headers)
    return exc


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, unverified (the server verifies; we only plan the next login)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


# ----------------------------------------------------------------------------- the client

Refresh = Literal["normal", "hard"]
Strategy = Literal["hook", "apply"]
Name = str | None
App = Application


@dataclass(frozen=True)
class Call:
    """One request's variable parts."""

    params: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    timeout: float | None = None
    decode: Callable[[bytes], Any] = json.loads  # the 2xx body -> value (ValueError: not JSON)


@dataclass(frozen=True)
class SyncOptions:
    """The sync request body; ``sync_options`` travel as ``{"items": [...]}``, not a bare list."""

    revision: str = ""
    prune: bool = False
    dry_run: bool = False
    strategy: Strategy | None = None  # None: the server's default (hook)
    sync_options: tuple[str, ...] = ()
    resources: tuple[Mapping[str, str], ...] = ()  # non-empty: a partial sync, not written to history

    def body(self) -> dict[str, Any]:
        optional: dict[str, Any] = {
            "revision": self.revision,
            "strategy": {self.strategy: {}} if self.strategy else None,
            "syncOptions": {"items": list(self.sync_options)} if self.sync_options else None,
            "resources": [dict(r) for r in self.resources],
        }
        return {"prune": self.prune, "dryRun": self.dry_run, **{k: v for k, v in optional.items() if v}}


class ArgoCDClient:
    """Thin typed wrapper; ``http`` carries base_url, TLS and the default timeout.

    ``app_namespace``: the ``appNamespace`` of apps given by bare name (``ns/name`` names carry their
    own). ``renew_before``: with a session login, log in again this many seconds before the token's
    ``exp`` (read from the JWT, by the injected ``clock``), and once more on any 401.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        token: str | None = None,
        refresh_timeout: float = 120.0,
        app_namespace: str | None = None,
        renew_before: float = 300.0,
        clock: Callable[[], float] = time.time,
        retry: retrying.Retry | None = None,
    ) -> None:
        self.http = http
        # one attempt unless the caller (the wiring) gives a policy: tests of error shapes stay exact
        self.retry = retry if retry is not None else retrying.Retry(attempts=1)
        self.token = token
        self.refresh_timeout = refresh_timeout
        self.app_namespace = app_namespace
        self.renew_before = renew_before
        self.clock = clock
        self._credentials: tuple[str, str] | None = None

    def _request(
        self, method: str, path: str, app: Name = None, call: Call | None = None, *, again: bool = True
    ) -> Any:
        # reads are retried on any temporary error, writes only when the server surely did not act
        once = lambda: self._request_once(method, path, app, call, again)  # noqa: E731
        return self.retry.call("argocd", once, idempotent=method == "GET")

    def _request_once(self, method: str, path: str, app: Name, call: Call | None, again: bool) -> Any:
        call = call or Call()
        session = path == SESSION_PATH
        if self._credentials and not session and self._expiring():
            self._login()
        headers = dict(JSON_HEADERS) if method != "GET" else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        query = {k: v for k, v in call.params.items() if v not in (None, "", [], ())}
        content = None if call.body is None else json.dumps(call.body, separators=(",", ":"))
        wait = call.timeout if call.timeout is not None else httpx.USE_CLIENT_DEFAULT
        try:
            response = self.http.request(
                method, path, params=query, content=content, headers=headers, timeout=wait
            )
        except httpx.TimeoutException as exc:
            raise errors.ArgoCDUnavailable(f"timed out: {exc}", app=app, url=path) from exc
        except httpx.TransportError as exc:
            raise errors.ArgoCDUnavailable(f"cannot reach Argo CD: {exc}", app=app, url=path) from exc
        renewed = response.cookies.get(COOKIE)
        if renewed and not session and self._credentials:
            self.token = renewed  # the server renews near expiry by cookie only; the Bearer must follow
        if response.status_code == 401 and again and self._credentials and not session:
            self._login()  # "invalid session": the token expired or was revoked; one fresh login
            return self._request_once(method, path, app, call, False)
        if response.status_code >= 400:
            raise error_from_response(response, app)
        try:
            return call.decode(response.content)
        except ValueError as exc:
            status, text = response.status_code, response.text
            raise errors.ArgoCDUnavailable(
                "not JSON", app=app, url=path, status=status, payload=text
            ) from exc

    def _app(
        self, method: str, name: str, suffix: str = "", project: Name = None, call: Call | None = None
    ) -> Any:
        """Per-app call; ``project`` and ``appNamespace`` go in the body of writes, else the query.

        Without ``appNamespace`` the server looks in its own namespace only and answers 403 for an app
        that lives elsewhere (application.go getAppEnforceRBAC)."""
        call = call or Call()
        namespace, bare = argoapp.split_name(name)
        extra = {"project": project or "", "appNamespace": namespace or self.app_namespace or ""}
        extra = {k: v for k, v in extra.items() if v}
        if call.body is not None:
            call = dataclasses.replace(call, body={**call.body, **extra})
        else:
            call = dataclasses.replace(call, params={**call.params, **extra})
        return self._request(method, f"/api/v1/applications/{quote(bare, safe='')}{suffix}", name, call)

    # -- auth

    def login(self, username: str, password: str) -> str:
        """Session login; the token is kept for later calls (and renewed by logging in again)."""
        self._credentials = (username, password)
        return self._login()

    def _login(self) -> str:
        assert self._credentials is not None
        body = {"username": self._credentials[0], "password": self._credentials[1]}
        self.token = str(self._request("POST", SESSION_PATH, None, Call(body=body)).get("token", ""))
        if not self.token:
            raise errors.ArgoCDUnauthenticated("session login returned no token", url=SESSION_PATH)
        return self.token

    def _expiring(self) -> bool:
        exp = token_expiry(self.token or "")
        return exp is not None and exp - self.clock() < self.renew_before

    def userinfo(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._request("GET", "/api/v1/session/userinfo"))

    # -- reads

    def list_apps(
        self, selector: str = "", projects: Sequence[str] = (), fields: Sequence[str] = ()
    ) -> list[App]:
        """``fields`` without the ``items.`` prefix, e.g. ``status.sync.status``; a leading ``-`` excludes."""
        wanted = ",".join(f"-items.{f[1:]}" if f.startswith("-") else f"items.{f}" for f in fields)
        params = {"selector": selector, "projects": list(projects), "fields": wanted}
        return cast(
            list[App], self._request("GET", "/api/v1/applications", None, Call(params)).get("items") or []
        )

    def list_statuses(
        self, selector: str = "", projects: Sequence[str] = (), *, resources: bool = False
    ) -> list[model.AppStatus]:
        """Each Application parsed, then dropped from the decoded list at once: the raw JSON and the
        statuses are not both held whole at a fleet's peak of memory. ``resources``: keep
        ``status.resources`` (the Rollouts an app manages are read from it)."""
        # status.resources (every managed object of every app: most of a real list's bytes) is only
        # read for canaries; otherwise Argo CD drops it server-side (argocd-api.md, List applications: fields)
        fields = "" if resources else ",".join(f"-items.{f[1:]}" for f in LIST_WITHOUT)
        params = {"selector": selector, "projects": list(projects), "fields": fields}
        decode = functools.partial(argoapp.decode_statuses, default_namespace=self.app_namespace)
        listing = self._request("GET", "/api/v1/applications", None, Call(params, decode=decode))
        return cast(list[model.AppStatus], listing.get("items") or [])

    def get(self, name: str, project: Name = None, refresh: Refresh | None = None) -> App:
        """With ``refresh`` the server re-resolves Git and blocks until reconciled: longer timeout."""
        call = Call({"refresh": refresh or ""}, timeout=self.refresh_timeout if refresh else None)
        return cast(App, self._app("GET", name, "", project, call))

    def status(self, name: str, project: Name = None, refresh: Refresh | None = None) -> model.AppStatus:
        return parse_app(self.get(name, project, refresh), self.app_namespace)

    def refresh(self, name: str, project: Name = None, *, hard: bool = False) -> model.AppStatus:
        """Refresh and wait for the reconcile. The server annotates the app before it waits, so when the
        wait times out or fails (a busy controller, a 5xx) the refresh still happens later: the current
        status comes back instead of an error, and the caller's next step (e.g. a sync) still runs."""
        try:
            return self.status(name, project, "hard" if hard else "normal")
        except errors.ArgoCDUnavailable:
            return self.status(name, project)

    def resource_tree(self, name: str, project: Name = None) -> ApplicationTree:
        return cast(ApplicationTree, self._app("GET", name, "/resource-tree", project))

    def managed_resources(self, name: str, project: Name = None, **filters: str) -> list[ResourceDiff]:
        """``filters``: kind, name, namespace, group, version (server-side)."""
        data = self._app("GET", name, "/managed-resources", project, Call(dict(filters)))
        return cast(list[ResourceDiff], data.get("items") or [])

    def events(self, name: str, project: Name = None) -> list[Event]:
        return cast(list[Event], self._app("GET", name, "/events", project).get("items") or [])

    # -- writes

    def sync(self, name: str, project: Name = None, options: SyncOptions | None = None) -> App:
        """Returns the app with ``operation`` set and no operationState; the sync completes asynchronously."""
        body = (options or SyncOptions()).body()
        return cast(App, self._app("POST", name, "/sync", project, Call(body=body)))

    def rollback(self, name: str, history_id: int, project: Name = None, *, prune: bool = False) -> App:
        """``history_id`` is ``status.history[].id``, not a list index; refused while auto-sync is on."""
        body = {"id": history_id, "prune": prune, "dryRun": False}
        return cast(App, self._app("POST", name, "/rollback", project, Call(body=body)))

    def terminate_operation(self, name: str, project: Name = None) -> None:
        # Body-less, but _request still sends Content-Type: application/json (415 otherwise).
        self._app("DELETE", name, "/operation", project)

    def patch(
        self, name: str, patch: Mapping[str, Any], project: Name = None, patch_type: str = "merge"
    ) -> App:
        """The patch travels as a JSON *string* inside the request body."""
        body = {"patch": json.dumps(patch, separators=(",", ":")), "patchType": patch_type}
        return cast(App, self._app("PATCH", name, "", project, Call(body=body)))

    def set_auto_sync(self, name: str, enabled: bool, project: Name = None) -> App:
        """Toggle ``automated.enabled`` (Argo CD >= 3.1), keeping the rest of the sync policy."""
        return self.patch(name, {"spec": {"syncPolicy": {"automated": {"enabled": enabled}}}}, project)
