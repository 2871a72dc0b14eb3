"""A small fault-injecting HTTP proxy in front of a real Prometheus (test helper).

It forwards every request, counts them, and on demand answers with the error shapes Prometheus
produces (503 timeout, 422 execution, 400 bad_data), adds ``warnings`` to a real answer, or delays.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx


@dataclass(frozen=True)
class Fault:
    status: int = 0  # answer with this status and ``body`` instead of forwarding (0: forward)
    body: Any = None  # dict -> JSON, str -> text/plain
    warnings: tuple[str, ...] = ()  # forwarded answers get these added
    delay: float = 0.0  # seconds to wait before answering


TIMEOUT = Fault(
    503, {"status": "error", "errorType": "timeout", "error": "query timed out in query execution"}
)
TOO_MANY_SAMPLES = Fault(
    422,
    {
        "status": "error",
        "errorType": "execution",
        "error": "query processing would load too many samples into memory in query execution",
    },
)
BAD_DATA = Fault(
    400, {"status": "error", "errorType": "bad_data", "error": 'invalid parameter "query": parse error'}
)
WARNINGS = Fault(warnings=("partial response: store 10.0.0.7:10901 unavailable",))
NOT_JSON = Fault(502, "<html>bad gateway</html>")


class FaultProxy:
    """``with FaultProxy(upstream) as proxy``: point the client at ``proxy.url``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.fault: Fault | None = None
        self.applies: Callable[[str], bool] = lambda query: True  # which queries get the fault
        self.queries: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._http = httpx.Client(timeout=30.0)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def reset(self) -> None:
        with self._lock:
            self.queries.clear()
        self.fault = None
        self.applies = lambda query: True

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._http.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._serve(b"")

            def do_POST(self) -> None:
                self._serve(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def _serve(self, body: bytes) -> None:
                query = parse_qs(body.decode()).get("query", [""])[0]
                if self.path.startswith("/api/v1/query"):
                    with proxy._lock:
                        proxy.queries.append(query)
                fault = proxy.fault if proxy.fault and proxy.applies(query) else None
                if fault and fault.delay:
                    proxy._stop.wait(fault.delay)
                if fault and fault.status:
                    payload = fault.body if isinstance(fault.body, str) else json.dumps(fault.body)
                    self._reply(fault.status, payload.encode(), "application/json")
                    return
                headers = {"Content-Type": self.headers.get("Content-Type", "")} if body else {}
                upstream = proxy._http.request(
                    self.command, proxy.upstream + self.path, content=body, headers=headers
                )
                content = upstream.content
                if fault and fault.warnings:
                    answer = upstream.json()
                    answer["warnings"] = list(fault.warnings)
                    content = json.dumps(answer).encode()
                self._reply(upstream.status_code, content, upstream.headers.get("Content-Type", "text/plain"))

            def _reply(self, status: int, content: bytes, content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a client-side timeout test)

        return Handler
