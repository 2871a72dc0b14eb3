"""Launcher of a real Alertmanager (Debian's ``prometheus-alertmanager``) for tests and the demo.

``AlertmanagerServer`` writes a config with one route to one webhook receiver (bearer credentials,
short group timings so an alert is delivered within about a second), serves on a free loopback port
with clustering off, waits for ``/-/ready`` and always terminates the process. Like the Prometheus
launcher it must not be used by the bot itself: production points Alertmanager at githeal, not back.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import httpx

from bot import errors
from bot.sandbox import prometheus as promserver

BINARIES = ("prometheus-alertmanager", "alertmanager")
INSTALL_HINT = "install it: apt-get install -y prometheus-alertmanager (Debian/Ubuntu)"


def find_binary(explicit: str | None = None) -> str:
    """Debian names the binary ``prometheus-alertmanager``, upstream ``alertmanager``."""
    for name in (explicit,) if explicit else BINARIES:
        try:
            return promserver.find_binary(name or "")
        except errors.SandboxError:
            continue
    raise errors.SandboxError(f"Alertmanager not found on PATH ({' or '.join(BINARIES)}); {INSTALL_HINT}")


def render_config(
    webhook_url: str,
    *,
    bearer_token: str | None = None,
    group_by: Sequence[str] = ("alertname", "app"),
    group_wait: str = "0s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
    send_resolved: bool = False,
) -> str:
    """alertmanager.yml as text; JSON is valid YAML, so no YAML library is needed."""
    webhook: dict[str, Any] = {"url": webhook_url, "send_resolved": send_resolved}
    if bearer_token is not None:
        webhook["http_config"] = {"authorization": {"type": "Bearer", "credentials": bearer_token}}
    config = {
        "route": {
            "receiver": "githeal",
            "group_by": list(group_by),
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [{"name": "githeal", "webhook_configs": [webhook]}],
    }
    return json.dumps(config, indent=2) + "\n"


class AlertmanagerServer:
    """A real Alertmanager on 127.0.0.1 sending every alert to ``webhook_url``; a context manager.

    Give the result's ``url`` to ``PrometheusServer(alertmanager_url=...)``.
    """

    def __init__(
        self,
        webhook_url: str,
        *,
        bearer_token: str | None = None,
        group_wait: str = "0s",
        group_interval: str = "1s",
        repeat_interval: str = "1h",
        ready_timeout: float = 30.0,
        workdir: Path | None = None,
        binary: str | None = None,
    ) -> None:
        self._config = render_config(
            webhook_url,
            bearer_token=bearer_token,
            group_wait=group_wait,
            group_interval=group_interval,
            repeat_interval=repeat_interval,
        )
        self._ready_timeout = ready_timeout
        self._given_workdir = workdir
        self._binary = binary
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.workdir = Path()
        self.port = 0

    @property
    def url(self) -> str:
        if not self.port:
            raise errors.SandboxError("Alertmanager is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "alertmanager.yml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "alertmanager.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self) -> Self:
        if self.running:
            raise errors.SandboxError("Alertmanager is already running")
        binary = find_binary(self._binary)
        if self._given_workdir is not None:
            self.workdir = self._given_workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="githeal-alertmanager-")
            self.workdir = Path(self._tmp.name)
        try:
            (self.workdir / "data").mkdir(exist_ok=True)
            self.config_path.write_text(self._config)
            self._launch(binary)
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, binary: str) -> None:
        for _attempt in range(promserver.PORT_ATTEMPTS):
            self.port = promserver.free_port()
            self._log = self.log_path.open("ab")
            cmd = [
                binary,
                f"--config.file={self.config_path}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                # No gossip: a lone instance would otherwise wait for peers before sending anything.
                "--cluster.listen-address=",
            ]
            self._proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
            weakref.finalize(self, self._proc.kill)
            if self._wait_ready():
                return
            lost_port = "address already in use" in self.log_tail(40)
            self._terminate()
            if not lost_port:
                break
        raise errors.SandboxError(f"Alertmanager did not become ready; log tail:\n{self.log_tail()}")

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

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds (``GET /api/v2/alerts``)."""
        try:
            response = httpx.get(f"{self.url}/api/v2/alerts", timeout=5.0)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise errors.SandboxError(f"cannot list Alertmanager alerts: {exc}") from exc
        data = response.json()
        return [a for a in data if isinstance(a, dict)] if isinstance(data, list) else []

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
