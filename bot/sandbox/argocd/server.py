"""The Argo CD API emulator: a threaded HTTP server on loopback speaking Argo CD's REST API over real sockets.

It applies the gateway's wire rules (415 Content-Type gate on non-GETs, JWT-shaped bearer tokens,
403-unless-project for unknown apps, plain-text 404/405 for unknown routes) and routes to the
controller. Admin endpoints under ``/api/emulator/`` (not part of Argo CD; no auth) let drills change
the world. Routing and auth only: app behaviour lives in ``controller``, JSON layout in ``wire``/``views``.
"""

from __future__ import annotations

import functools
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

from bot import errors
from bot.sandbox.argocd import admin, api, controller, state, wire, workload

_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
SESSION_SECONDS = 24 * 3600  # users.session.duration default
RENEW_SECONDS = 5 * 60  # util/session autoRegenerateTokenDuration


class ArgoCDEmulator:
    """``with ArgoCDEmulator([AppConfig(...)], tokens=[...]) as argo: httpx.Client(base_url=argo.url)``.

    ``background=False`` disables the controller thread: tests then drive it with ``tick()``/``poll()``
    and an injected ``clock``. ``namespaces``: the ``application.namespaces`` setting (regexes) where apps
    outside the control-plane namespace may live. ``session_duration``: ``users.session.duration``.
    ``refresh_deadline``: real seconds a ``GET ?refresh=`` waits for the controller before giving up.
    """

    def __init__(
        self,
        apps: Iterable[state.AppConfig] = (),
        *,
        tokens: Iterable[str] = (),
        users: Mapping[str, str] | None = None,
        settings: controller.Settings | None = None,
        model: workload.WorkloadModel | None = None,
        health_callback: workload.HealthCallback | None = None,
        analysis_callback: workload.AnalysisCallback | None = None,
        clock: Callable[[], float] = time.time,
        background: bool = True,
        tick_interval: float = 0.2,
        host: str = "127.0.0.1",
        port: int = 0,
        namespaces: Iterable[str] = (),
        session_duration: float = SESSION_SECONDS,
        refresh_deadline: float = 60.0,
    ) -> None:
        self.model = model if model is not None else workload.DefaultModel()
        self.controller = controller.Controller(
            settings or controller.Settings(), self.model, clock, health_callback, analysis_callback
        )
        self.clock = clock
        self.users = dict(users if users is not None else {"admin": "password"})
        self.api_tokens = set(tokens)
        self._secret = secrets.token_bytes(32)
        self.background = background
        self.namespaces = tuple(namespaces)
        self.session_duration = session_duration
        self.refresh_deadline = refresh_deadline
        self.stopping = False
        self._tick_interval = tick_interval
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        except OSError as exc:
            raise errors.SandboxError(f"argocd emulator cannot listen on {host}:{port}: {exc}") from exc
        self._server.daemon_threads = True
        self._serve_thread: threading.Thread | None = None
        for config in apps:
            self.controller.add(config)

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ArgoCDEmulator:
        # A short poll interval keeps stop() fast: shutdown() waits for the serve loop to notice.
        serve = functools.partial(self._server.serve_forever, poll_interval=0.05)
        self._serve_thread = threading.Thread(target=serve, name="argocd-emulator", daemon=True)
        self._serve_thread.start()
        if self.background:
            self._thread = threading.Thread(target=self._loop, name="argocd-emulator-controller", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        with self.controller.lock:  # wake any GET ?refresh= still waiting for the controller
            self.stopping = True
            self.controller.refreshed.notify_all()
        if self._serve_thread is not None:  # shutdown() would wait forever on a server never served
            self._server.shutdown()
        self._server.server_close()
        for thread in (self._thread, self._serve_thread):
            if thread is not None:
                thread.join(timeout=5)

    def __enter__(self) -> ArgoCDEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stopped.wait(self._tick_interval):
            self.controller.tick()

    # ------------------------------------------------------------------ admin API (as /api/emulator/...)

    def add_app(self, config: state.AppConfig) -> None:
        self.controller.add(config)

    def tick(self) -> None:
        self.controller.tick()

    def poll(self, name: str | None = None) -> None:
        """Force a Git poll (re-resolve the target revision and compare) for one app or all of them."""
        for app_name in [self._app(name).key] if name else list(self.controller.apps):
            self.controller.refresh(app_name)

    def live(self, name: str) -> dict[str, Any]:
        """What is "running": ``{"revision", "workloads": [...], "configmaps": {...}, "hpas": {...}}``."""
        with self.controller.lock:
            app = self._app(name)
            return workload.live_view(app.live_revision, app.live, app.rollout_runs)

    def inject_drift(self, name: str, drift: Mapping[str, Any]) -> None:
        """``{"workload", "container"?, "image"?, "replicas"?, "annotations"?}``, ``{"hpa", "min"?, "max"?}``
        or ``{"configmap", "key", "value"}``: a live change that is not in Git."""
        with self.controller.lock:
            try:
                self.controller.inject_drift(self._app(name), dict(drift))
            except state.RequestError as exc:
                raise errors.SandboxError(exc.message) from exc

    def set_image_behaviour(self, glob: str, behaviour: str) -> None:
        """``failing`` (pods crash-loop: Progressing, then Degraded after the deadline) or ``healthy``."""
        if not isinstance(self.model, workload.DefaultModel):
            raise errors.SandboxError("image behaviours need the default workload model")
        self.model.set_image(glob, behaviour)

    def set_sync_error(self, name: str, message: str | None) -> None:
        """Make every sync of ``name`` fail with ``message`` (None: succeed again)."""
        with self.controller.lock:
            self._app(name).sync_error = message

    def stall(self, stalled: bool = True) -> None:
        """A busy controller (long refresh queue): requested refreshes wait until it is unstalled."""
        with self.controller.lock:
            self.controller.stalled = stalled

    def namespace_enabled(self, namespace: str) -> bool:
        """util/security IsNamespaceEnabled: the control-plane namespace, or one matching a pattern."""
        return namespace == wire.CONTROL_NAMESPACE or any(re.fullmatch(p, namespace) for p in self.namespaces)

    def _app(self, name: str) -> state.App:
        try:
            return self.controller.apps[name]
        except KeyError:
            raise errors.SandboxError(f"no emulated app named {name!r}") from None

    def make_token(self, username: str = "admin", ttl: float | None = None) -> str:
        now = int(self.clock())
        ttl = self.session_duration if ttl is None else ttl
        claims = {
            "iss": "argocd",
            "sub": username,
            "iat": now,
            "nbf": now,
            "exp": now + int(ttl),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def authenticate(self, token: str | None) -> str:
        """The username behind a token, or RequestError(16) like argocd-server."""
        if not token or not _JWT_SHAPE.match(token):
            raise state.RequestError(16, "no session information")
        if token in self.api_tokens:
            return "bot"
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], options={"verify_exp": False})
        except jwt.PyJWTError as exc:
            raise state.RequestError(16, f"invalid session: {exc}") from exc
        if float(claims.get("exp", 0)) < self.clock():
            raise state.RequestError(16, "invalid session: token has invalid claims: token is expired")
        return str(claims.get("sub", ""))

    def renewal(self, token: str | None) -> str | None:
        """sessionmanager.go Parse: a valid login token with under 5 minutes left gets a fresh one of the
        same lifetime; API keys never do."""
        if not token or token in self.api_tokens:
            return None
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], options={"verify_exp": False})
        except jwt.PyJWTError:
            return None
        exp, iat = float(claims.get("exp", 0)), float(claims.get("iat", 0))
        if exp - self.clock() >= RENEW_SECONDS:
            return None
        return self.make_token(str(claims.get("sub", "")), ttl=exp - iat)


def _handler_for(emulator: ArgoCDEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "argocd-emulator"
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms delayed ACKs

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests and the demo have their own logs

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _send(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] = {}) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = unquote(parts.path)
            request = api.Request(
                method,
                path,
                parse_qs(parts.query, keep_blank_values=True),
                raw,
                self.headers.get("Content-Type"),
                _token(self.headers),
            )
            reply = api.handle(emulator, request, api.ROUTES + admin.ROUTES)
            if isinstance(reply.body, bytes):
                self._send(reply.status, reply.body, "text/plain; charset=utf-8")
            else:
                self._send(reply.status, wire.dumps(reply.body), "application/json", reply.headers)

    return Handler


def _token(headers: Any) -> str | None:
    """server.go getToken: a JWT-shaped Bearer token wins over the ``argocd.token`` cookie."""
    auth = str(headers.get("Authorization") or "")
    if auth.startswith("Bearer ") and _JWT_SHAPE.match(auth[7:].strip()):
        return auth[7:].strip()
    for cookie in str(headers.get("Cookie") or "").split(";"):
        name, _, value = cookie.strip().partition("=")
        if name == "argocd.token" and _JWT_SHAPE.match(value):
            return value
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None
