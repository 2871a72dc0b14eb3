"""A fault-injecting HTTP proxy for any upstream (test helper): the real Prometheus, the Argo CD emulator.

Forwards every request unless a fault is set: ``down()`` stops listening (connections refused) until
``up()``; a ``Fault`` answers with a status and headers (5xx, 401/403, 429 + Retry-After), waits before
forwarding (slow), or forwards a cut answer: ``truncated`` announces the full Content-Length and closes
half-way, ``partial`` sends the first half as a complete (and so malformed) body.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass(frozen=True)
class Fault:
    status: int = 0  # answer this instead of forwarding (0: forward)
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before forwarding or answering
    truncated: bool = False
    partial: bool = False


class FaultProxy:
    """``with FaultProxy(upstream) as proxy``: point the client at ``proxy.url``; set ``proxy.fault``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.fault: Fault | None = None
        self.requests = 0
        self._open: set[socket.socket] = set()  # client connections, cut by down()
        self._stop = threading.Event()
        self._http = httpx.Client(timeout=30.0)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self._listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _listen(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop listening: new connections are refused, as with a crashed server."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for conn in list(self._open):  # kept-alive connections die with the server too
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._open.clear()

    def up(self) -> None:
        if self._server is None:
            self._listen()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.down()
        self._http.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                proxy._open.add(self.connection)

            def finish(self) -> None:
                proxy._open.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def do_PATCH(self) -> None:
                self._serve()

            def do_DELETE(self) -> None:
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.requests += 1
                fault = proxy.fault
                if fault and fault.delay:
                    proxy._stop.wait(fault.delay)
                if fault and fault.status:
                    self._reply(fault.status, fault.body.encode(), fault.headers)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                answer = proxy._http.request(
                    self.command, proxy.upstream + self.path, content=body, headers=headers
                )
                out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP}
                content = answer.content
                if fault and (fault.truncated or fault.partial):
                    half = content[: len(content) // 2]
                    declared = len(content) if fault.truncated else len(half)
                    self._reply(answer.status_code, half, out, declared=declared)
                    self.close_connection = True
                    return
                self._reply(answer.status_code, content, out)

            def _reply(
                self, status: int, content: bytes, headers: dict[str, str], declared: int | None = None
            ) -> None:
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    if "content-type" not in {k.lower() for k in headers}:
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(content) if declared is None else declared))
                    if declared is not None:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(content)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the slow fault)

        return Handler
