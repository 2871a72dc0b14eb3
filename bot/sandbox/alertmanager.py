"""Launcher of a real Alertmanager (Debian's ``prometheus-alertmanager``) for tests and the demo.

``AlertmanagerServer`` writes a config with one route to one webhook receiver (bearer credentials,
short group timings so an alert is delivered within about a second), serves on a free loopback port
with clustering off, waits for ``/-/ready`` and always terminates the process. Like the Prometheus
launcher it must not be used by the bot itself: production points Alertmanager at githeal, not back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bot import errors
from bot.sandbox import localserver
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


class AlertmanagerServer(localserver.LocalServer):
    """A real Alertmanager on 127.0.0.1 sending every alert to ``webhook_url``; a context manager.

    Give the result's ``url`` to ``PrometheusServer(alertmanager_url=...)``.
    """

    name = "Alertmanager"

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
        super().__init__(ready_timeout=ready_timeout, workdir=workdir)
        self._config = render_config(
            webhook_url,
            bearer_token=bearer_token,
            group_wait=group_wait,
            group_interval=group_interval,
            repeat_interval=repeat_interval,
        )
        self._binary_given = binary

    @property
    def config_path(self) -> Path:
        return self.workdir / "alertmanager.yml"

    def _binary(self) -> str:
        return find_binary(self._binary_given)

    def _prepare(self) -> None:
        (self.workdir / "data").mkdir(exist_ok=True)
        self.config_path.write_text(self._config)

    def _command(self, binary: str, port: int) -> list[str]:
        return [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            # No gossip: a lone instance would otherwise wait for peers before sending anything.
            "--cluster.listen-address=",
        ]

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds (``GET /api/v2/alerts``)."""
        try:
            response = httpx.get(f"{self.url}/api/v2/alerts", timeout=5.0)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise errors.SandboxError(f"cannot list Alertmanager alerts: {exc}") from exc
        data = response.json()
        return [a for a in data if isinstance(a, dict)] if isinstance(data, list) else []
