"""A real authenticated HTTP git remote for the tests: ``git http-backend`` (CGI) behind a loopback server
that checks Basic auth the way a git host does (401 + ``WWW-Authenticate`` until the right user:token).

git-http-backend(1): "By default, only the upload-pack service is enabled ... The receive-pack service
is enabled by default if REMOTE_USER is set" -- so pushes work only for a request we authenticated.
"""

from __future__ import annotations

import base64
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


class GitHttpRemote:
    """Serves every bare repo under ``root`` at ``http://127.0.0.1:PORT/<name>.git``."""

    def __init__(self, root: Path, user: str, token: str, *, receive_delay: float = 0.0) -> None:
        self.root = root
        self.user = user
        self.tokens = {token}  # the accepted tokens; a test rotates them
        self.receive_delay = receive_delay  # keeps git-remote-http alive during fetch/push (ps scans)
        self.seen: list[str] = []  # "METHOD path user-or-anon status"
        remote = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                remote.handle(self)

            def do_POST(self) -> None:
                remote.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _user(self, header: str | None) -> str | None:
        if not header or not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user if user == self.user and password in self.tokens else None

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(req.path)
        user = self._user(req.headers.get("Authorization"))
        if user is None:
            self.seen.append(f"{req.command} {parts.path} anon 401")
            req.send_response(401)
            req.send_header("WWW-Authenticate", 'Basic realm="githeal test"')
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        if req.command == "POST":  # git-upload-pack (fetch) or git-receive-pack (push)
            time.sleep(self.receive_delay)
        env = {
            "PATH": "/usr/bin:/bin",
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": user,
            "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": req.command,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": req.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": req.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": req.headers.get("Git-Protocol", ""),
        }
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.seen.append(f"{req.command} {parts.path} {user} {status}")
        req.send_response(status)
        for name, value in headers:
            req.send_header(name, value)
        req.send_header("Content-Length", str(len(payload)))
        req.end_headers()
        req.wfile.write(payload)

    @contextmanager
    def running(self) -> Iterator[GitHttpRemote]:
        self._thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


class ProcScan:
    """Samples argv and environment of every process below this one while a git command runs (``ps``)."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.texts: list[str] = []
        self.commands: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _children(self) -> list[int]:
        parent: dict[int, int] = {}
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    stat = (proc / "stat").read_text()
                except OSError:
                    continue
                parent[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        out = []
        for pid in parent:
            up = parent.get(pid)
            while up is not None and up != self.root_pid and up > 1:
                up = parent.get(up)
            if up == self.root_pid:
                out.append(pid)
        return out

    def _loop(self) -> None:
        while not self._stop.is_set():
            for pid in self._children():
                try:
                    argv = (
                        Path(f"/proc/{pid}/cmdline")
                        .read_bytes()
                        .replace(b"\0", b" ")
                        .decode(errors="replace")
                    )
                    environ = (
                        Path(f"/proc/{pid}/environ")
                        .read_bytes()
                        .replace(b"\0", b"\n")
                        .decode(errors="replace")
                    )
                except OSError:
                    continue
                self.commands.add(argv.strip())
                self.texts += [argv, environ]
            time.sleep(0.005)

    def __enter__(self) -> ProcScan:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
