"""The service's HTTP face: /healthz, /readyz, /metrics and the two webhooks, on uvicorn + starlette.

Webhooks never act: an Alertmanager alert asks for an immediate evaluation of the apps it names, and a
GitHub event updates what the bot knows about its heal PRs. The server bounds what a client can hold:
a deadline for the whole request (headers and body), a body size limit, a cap on connections and on
requests in flight. Credentials are checked before the body is read (the bearer token; the presence of
an X-Hub-Signature-256 whose HMAC is checked once the bounded body is in). A webhook without a
configured credential is refused unless ``insecure`` says otherwise. Replays are refused by delivery id
and by body digest within a window. Handlers never call a dependency: /readyz reads recorded state.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import h11
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.record import log

MAX_BODY = 1024 * 1024  # Alertmanager groups and GitHub events are far below this
REQUEST_TIMEOUT = 10.0  # seconds a client gets to send one whole request (headers and body)
MAX_CONNECTIONS = 256  # open sockets; more are closed at once
MAX_IN_FLIGHT = 128  # uvicorn answers 503 to a request arriving while this many connections are open
REPLAY_WINDOW = 600.0  # seconds during which the same delivery id or body digest is a replay


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def alert_apps(payload: Mapping[str, Any], labels: Iterable[str]) -> list[str]:
    """Apps named by the firing alerts of an Alertmanager webhook payload (first matching label wins)."""
    wanted = tuple(labels)
    apps: list[str] = []
    for alert in payload.get("alerts", []) or []:
        if not isinstance(alert, dict) or alert.get("status", "firing") != "firing":
            continue
        alert_labels = alert.get("labels") or {}
        for name in wanted:
            value = alert_labels.get(name)
            if isinstance(value, str) and value and value not in apps:
                apps.append(value)
                break
    return apps


@dataclass
class Replays:
    """Keys (delivery ids, body digests) seen within ``window`` seconds; bounded in size."""

    window: float = REPLAY_WINDOW
    limit: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _seen: OrderedDict[str, float] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _expire(self, now: float) -> None:
        while self._seen and (
            len(self._seen) > self.limit or next(iter(self._seen.values())) <= now - self.window
        ):
            self._seen.popitem(last=False)

    def seen(self, key: str) -> bool:
        with self._lock:
            self._expire(self.clock())
            return key in self._seen

    def claim(self, *keys: str) -> str | None:
        """Record every key and return None, or return the first one already seen (recording nothing)."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            for key in keys:
                if key in self._seen:
                    return key
            for key in keys:
                self._seen[key] = now
            return None


@dataclass
class Hooks:
    """What the HTTP layer calls into; the wiring provides real ones, tests their own."""

    ready: Callable[[], tuple[bool, dict[str, Any]]]  # must answer from memory, never call out
    metrics: Callable[[], bytes]
    evaluate: Callable[[list[str]], list[str]]  # apps requested -> apps accepted
    github_event: Callable[[str, Mapping[str, Any]], None]
    alert_token: str | None = None
    github_secret: str | None = None
    insecure: bool = False  # accept a webhook whose credential is not configured
    alert_labels: tuple[str, ...] = ("app", "argocd_app", "application")
    replays: Replays = field(default_factory=Replays)


class _TooLarge(Exception):
    pass


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request, limit: int) -> bytes:
    """The body, refused past ``limit`` whether announced by Content-Length or streamed."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


def _digest(kind: str, body: bytes) -> str:
    return f"{kind}:sha256:{hashlib.sha256(body).hexdigest()}"


def app(hooks: Hooks) -> Starlette:
    """The ASGI application; sync hooks run in the thread pool, never on the event loop."""

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        ok, detail = hooks.ready()
        return JSONResponse({"ready": ok, **detail}, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        data = await run_in_threadpool(hooks.metrics)
        return Response(data, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def alertmanager(request: Request) -> Response:
        if hooks.alert_token is None:
            if not hooks.insecure:
                return _error(403, "webhook refused: no alertmanager_token configured (insecure: false)")
        else:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {hooks.alert_token}".encode()):
                log.event("webhook.unauthenticated", logging.WARNING, hook="alertmanager")
                return _error(401, "bad or missing bearer token")
        body = await _body(request, MAX_BODY)
        payload = _object(body)
        if payload is None:
            return _error(400, "body is not a JSON object")
        replay = hooks.replays.claim(_digest("alertmanager", body))
        if replay is not None:
            return JSONResponse({"duplicate": "body"})
        requested = alert_apps(payload, hooks.alert_labels)
        accepted = await run_in_threadpool(hooks.evaluate, requested) if requested else []
        log.event("webhook.alertmanager", apps=",".join(accepted) or None, requested=len(requested))
        return JSONResponse({"evaluating": accepted}, status_code=202)

    async def github(request: Request) -> Response:
        given = request.headers.get("x-hub-signature-256", "")
        delivery = request.headers.get("x-github-delivery", "")
        if hooks.github_secret is None:
            if not hooks.insecure:
                return _error(403, "webhook refused: no github_secret configured (insecure: false)")
        elif not given.startswith("sha256="):
            log.event("webhook.unauthenticated", logging.WARNING, hook="github")
            return _error(401, "missing X-Hub-Signature-256")
        if delivery and hooks.replays.seen(f"delivery:{delivery}"):
            return JSONResponse({"duplicate": delivery})
        body = await _body(request, MAX_BODY)
        if hooks.github_secret is not None and not hmac.compare_digest(
            given, github_signature(hooks.github_secret, body)
        ):
            log.event("webhook.unauthenticated", logging.WARNING, hook="github")
            return _error(401, "bad X-Hub-Signature-256")
        payload = _object(body)
        if payload is None:
            return _error(400, "body is not a JSON object")
        # recorded only once authenticated: a forged request must not burn a real delivery id
        keys = ([f"delivery:{delivery}"] if delivery else []) + [_digest("github", body)]
        replay = hooks.replays.claim(*keys)
        if replay is not None:
            return JSONResponse({"duplicate": delivery if replay.startswith("delivery:") else "body"})
        event = request.headers.get("x-github-event", "")
        await run_in_threadpool(hooks.github_event, event, payload)
        return JSONResponse({"event": event}, status_code=202)

    async def too_large(request: Request, exc: Exception) -> Response:
        return _error(413, f"body larger than {MAX_BODY} bytes")

    async def gone(request: Request, exc: Exception) -> Response:
        return Response(status_code=400)  # the client left; nobody reads this

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, "not found")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, "method not allowed")

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/webhooks/alertmanager", alertmanager, methods=["POST"]),
            Route("/webhooks/github", github, methods=["POST"]),
        ],
        exception_handlers={
            _TooLarge: too_large,
            ClientDisconnect: gone,
            404: not_found,
            405: not_allowed,
        },
    )


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol plus what it lacks: a deadline to receive each request, a connection cap.

    uvicorn arms no timer before a request's headers are complete, so a client that trickles bytes
    (or sends none) would hold its socket forever.
    """

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > MAX_CONNECTIONS:
            transport.close()
            return
        self._arm()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(REQUEST_TIMEOUT, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self._arm()  # a request is coming in: it has REQUEST_TIMEOUT in all
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class HttpService:
    """Start on ``host:port`` (port 0 picks a free one); ``url`` tells where it listens."""

    def __init__(self, hooks: Hooks, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        config = uvicorn.Config(
            app(hooks),
            http=_Protocol,
            lifespan="off",
            log_config=None,
            access_log=False,
            limit_concurrency=MAX_IN_FLIGHT,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=5,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="githeal-http", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> HttpService:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()
