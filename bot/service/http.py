"""The service's HTTP face: /healthz, /readyz, /metrics and the two webhooks.

Webhooks never act: an Alertmanager alert asks for an immediate evaluation of the apps it names, and a
GitHub event updates what the bot knows about its heal PRs. Both are authenticated (bearer token,
X-Hub-Signature-256 HMAC) and GitHub deliveries are de-duplicated by X-GitHub-Delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.record import log

MAX_BODY = 5 * 1024 * 1024


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
class Hooks:
    """What the HTTP layer calls into; the wiring provides real ones, tests their own."""

    ready: Callable[[], tuple[bool, dict[str, Any]]]
    metrics: Callable[[], bytes]
    evaluate: Callable[[list[str]], list[str]]  # apps requested -> apps accepted
    github_event: Callable[[str, Mapping[str, Any]], None]
    alert_token: str | None = None
    github_secret: str | None = None
    alert_labels: tuple[str, ...] = ("app", "argocd_app", "application")
    _deliveries: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def seen_delivery(self, delivery: str) -> bool:
        with self._lock:
            if delivery in self._deliveries:
                return True
            self._deliveries[delivery] = None
            while len(self._deliveries) > 1000:
                self._deliveries.popitem(last=False)
            return False


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: events are logged explicitly
        pass

    def _send(self, status: int, body: bytes | dict[str, Any], ctype: str = "application/json") -> None:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        hooks = self.server.hooks
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(200, b"ok\n", "text/plain")
        elif path == "/readyz":
            ok, detail = hooks.ready()
            self._send(200 if ok else 503, {"ready": ok, **detail})
        elif path == "/metrics":
            self._send(200, hooks.metrics(), "text/plain; version=0.0.4; charset=utf-8")
        else:
            self._send(404, {"error": "not found"})

    def _body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, {"error": "body too large"})
            return None
        return self.rfile.read(length) if length else b""

    def _json(self, body: bytes) -> dict[str, Any] | None:
        """The body as a JSON object, or None after answering 400."""
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self._send(400, {"error": "body is not a JSON object"})
            return None
        return payload

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._body()
        if body is None:
            return
        if path == "/webhooks/alertmanager":
            self._alertmanager(body)
        elif path == "/webhooks/github":
            self._github(body)
        else:
            self._send(404, {"error": "not found"})

    def _alertmanager(self, body: bytes) -> None:
        hooks = self.server.hooks
        if hooks.alert_token is not None:
            given = self.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {hooks.alert_token}".encode()):
                self._send(401, {"error": "bad or missing bearer token"})
                return
        payload = self._json(body)
        if payload is None:
            return
        requested = alert_apps(payload, hooks.alert_labels)
        accepted = hooks.evaluate(requested) if requested else []
        log.event("webhook.alertmanager", apps=",".join(accepted) or None, requested=len(requested))
        self._send(HTTPStatus.ACCEPTED, {"evaluating": accepted})

    def _github(self, body: bytes) -> None:
        hooks = self.server.hooks
        if hooks.github_secret is not None:
            given = self.headers.get("X-Hub-Signature-256", "")
            if not hmac.compare_digest(given, github_signature(hooks.github_secret, body)):
                self._send(401, {"error": "bad or missing X-Hub-Signature-256"})
                return
        delivery = self.headers.get("X-GitHub-Delivery", "")
        if delivery and hooks.seen_delivery(delivery):
            self._send(200, {"duplicate": delivery})
            return
        payload = self._json(body)
        if payload is None:
            return
        event = self.headers.get("X-GitHub-Event", "")
        hooks.github_event(event, payload)
        self._send(HTTPStatus.ACCEPTED, {"event": event})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], hooks: Hooks) -> None:
        super().__init__(address, _Handler)
        self.hooks = hooks


class HttpService:
    """Start on ``host:port`` (port 0 picks a free one); ``url`` tells where it listens."""

    def __init__(self, hooks: Hooks, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), hooks)
        self._thread = threading.Thread(target=self._server.serve_forever, name="githeal-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HttpService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
