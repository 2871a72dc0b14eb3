"""The lifecycle shared by the sandbox's real servers (Prometheus, Alertmanager): a temp work dir,
a free loopback port, a log file, ``/-/ready`` polling, and a process that is always terminated.

Subclasses say only what differs: the binary, the files to prepare, the command line. A port lost to
a race ("address already in use") is retried on a new one. Never used by the bot itself.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Self

import httpx

from bot import errors

PORT_ATTEMPTS = 3


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """While the sandbox runs, SIGTERM (``kill``, a CI job's timeout) stops it as Ctrl-C does: every
    ``with`` unwinds, servers are terminated, temp directories removed. Python's default for SIGTERM
    ends the process at once and would leave Prometheus running. Main thread only (a no-op elsewhere)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        before = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    name = "server"  # for messages and file names

    def __init__(self, *, ready_timeout: float = 30.0, workdir: Path | None = None) -> None:
        self._ready_timeout = ready_timeout
        self._given_workdir = workdir
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.workdir = Path()
        self.port = 0

    # ------------------------------------------------------------------ what subclasses provide

    def _binary(self) -> str:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write config and data into ``workdir`` before the first launch."""

    def _command(self, binary: str, port: int) -> list[str]:
        raise NotImplementedError

    # ------------------------------------------------------------------ state

    @property
    def url(self) -> str:
        if not self.port:
            raise errors.SandboxError(f"{self.name} is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name.lower()}.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        if self.running:
            raise errors.SandboxError(f"{self.name} is already running")
        binary = self._binary()
        if self._given_workdir is not None:
            self.workdir = self._given_workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"githeal-{self.name.lower()}-")
            self.workdir = Path(self._tmp.name)
        try:
            self._prepare()
            self._launch(binary)
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, binary: str) -> None:
        for _attempt in range(PORT_ATTEMPTS):
            self.port = free_port()
            self._log = self.log_path.open("ab")
            self._proc = subprocess.Popen(
                self._command(binary, self.port), stdout=self._log, stderr=subprocess.STDOUT
            )
            # Should the caller never reach stop() (a crash, a forgotten server), kill it on exit.
            weakref.finalize(self, self._proc.kill)
            if self._wait_ready():
                return
            lost_port = "address already in use" in self.log_tail(40)
            self._terminate()
            if not lost_port:
                break
        raise errors.SandboxError(f"{self.name} did not become ready; log tail:\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self._ready_timeout
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self._proc is None or self._proc.poll() is not None:
                    return False
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{self.url}/-/ready").status_code == 200:
                        return True
                time.sleep(0.05)
        return False

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        self._terminate()
        self.port = 0
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
