"""A small authenticating reverse proxy in front of a real Prometheus, as an ingress would be.

It demands one credential (``Bearer <token>`` or HTTP basic ``user:password``) and a tenant header,
answers 401 without them, like nginx ``auth_basic`` or oauth2-proxy, and forwards everything else
to the upstream server unchanged. ``seen`` records (path, authorised) per request.
"""

from __future__ import annotations

import base64
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

TENANT_HEADER = "X-Scope-OrgID"


class AuthProxy:
    def __init__(
        self, upstream: str, *, bearer: str | None = None, basic: tuple[str, str] | None = None, tenant: str
    ) -> None:
        self.upstream = upstream.rstrip("/")
        expected = set()
        if bearer:
            expected.add(f"Bearer {bearer}")
        if basic:
            expected.add("Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode())
        self.expected = expected
        self.tenant = tenant
        self.seen: list[tuple[str, bool]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                ok = (
                    self.headers.get("Authorization") in proxy.expected
                    and self.headers.get(TENANT_HEADER) == proxy.tenant
                )
                proxy.seen.append((self.path.split("?")[0], ok))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if not ok:
                    data = b"401 Authorization Required\n"
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="prometheus"')
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                req = urllib.request.Request(proxy.upstream + self.path, data=body, method=self.command)
                if self.headers.get("Content-Type"):
                    req.add_header("Content-Type", self.headers["Content-Type"])
                try:
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        status, data, ctype = resp.status, resp.read(), resp.headers.get("Content-Type")
                except urllib.error.HTTPError as exc:
                    status, data, ctype = exc.code, exc.read(), exc.headers.get("Content-Type")
                self.send_response(status)
                self.send_header("Content-Type", ctype or "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _forward  # noqa: N815 (http.server's method names)
            do_POST = _forward  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
