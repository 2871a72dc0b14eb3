"""Launcher of a real Prometheus for tests, the demo and drills (``PrometheusServer``).

It backfills OpenMetrics history with ``promtool tsdb create-blocks-from openmetrics`` into a temp
data dir, writes a config (scrape targets, rule files, an Alertmanager), serves on a free loopback
port and waits for ``/-/ready``. The process is always terminated on exit, also on exceptions.
It must not be used by the bot itself: production talks to an existing Prometheus.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bot import errors
from bot.sandbox import localserver

INSTALL_HINT = "install it: apt-get install -y prometheus (Debian/Ubuntu; provides promtool too)"
PORT_ATTEMPTS = localserver.PORT_ATTEMPTS


def find_binary(name: str, explicit: str | None = None) -> str:
    """Path of ``prometheus``/``promtool``; ``SandboxError`` with an install hint when missing."""
    found = explicit or shutil.which(name)
    if not found or not os.access(found, os.X_OK):
        raise errors.SandboxError(f"{name} not found on PATH; {INSTALL_HINT}")
    return found


def backfill(openmetrics: Path, data_dir: Path, *, promtool: str | None = None) -> str:
    """Write TSDB blocks from one OpenMetrics file (explicit timestamps, ending ``# EOF``)."""
    cmd = [find_binary("promtool", promtool), "tsdb", "create-blocks-from", "openmetrics"]
    proc = subprocess.run(
        [*cmd, str(openmetrics), str(data_dir)], capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode != 0:
        detail = errors.truncate(proc.stderr or proc.stdout, 600)
        raise errors.SandboxError(f"promtool could not backfill {openmetrics}: {detail}")
    return proc.stdout


free_port = localserver.free_port


def _target(url: str, default_path: str = "/metrics") -> tuple[str, str, str]:
    """``http://host:port/path`` or ``host:port`` -> (scheme, host:port, path)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return parts.scheme, parts.netloc, parts.path or default_path


def render_config(
    *,
    scrape_targets: Sequence[str] = (),
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    rule_files: Sequence[Path] = (),
    alertmanager_url: str | None = None,
) -> str:
    """prometheus.yml as text (JSON-style flow values are valid YAML, so no YAML library is needed)."""
    lines = [
        "global:",
        f"  scrape_interval: {scrape_interval}",
        f"  evaluation_interval: {evaluation_interval}",
        f"  scrape_timeout: {scrape_interval}",
    ]
    if rule_files:
        lines.append("rule_files:")
        lines += [f'  - "{Path(p).resolve()}"' for p in rule_files]
    if alertmanager_url:
        scheme, host, prefix = _target(alertmanager_url, "/")
        lines += [
            "alerting:",
            "  alertmanagers:",
            f'    - scheme: {scheme}\n      path_prefix: "{prefix}"',
            f'      static_configs: [{{targets: ["{host}"]}}]',
        ]
    if scrape_targets:
        lines.append("scrape_configs:")
        for i, url in enumerate(scrape_targets):
            scheme, host, path = _target(url)
            lines += [
                f'  - job_name: "sandbox-{i}"',
                f"    scheme: {scheme}",
                f'    metrics_path: "{path}"',
                "    honor_labels: true",
                f'    static_configs: [{{targets: ["{host}"]}}]',
            ]
    return "\n".join(lines) + "\n"


class PrometheusServer(localserver.LocalServer):
    """A real ``prometheus`` process on 127.0.0.1; use as a context manager.

    ``backfill``: OpenMetrics files loaded before start; ``openmetrics``: the same as text.
    ``scrape_targets``: URLs (``http://127.0.0.1:PORT/metrics``) scraped every ``scrape_interval``.
    ``rule_files`` / ``alertmanager_url``: alerting and recording rules, and where alerts go.
    """

    name = "Prometheus"

    def __init__(
        self,
        *,
        backfill: Sequence[Path | str] = (),
        openmetrics: Sequence[str] = (),
        scrape_targets: Sequence[str] = (),
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        rule_files: Sequence[Path | str] = (),
        alertmanager_url: str | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 30.0,
        workdir: Path | None = None,
        prometheus_binary: str | None = None,
        promtool_binary: str | None = None,
    ) -> None:
        super().__init__(ready_timeout=ready_timeout, workdir=workdir)
        self._backfill = [Path(p) for p in backfill]
        self._openmetrics = list(openmetrics)
        self._config = render_config(
            scrape_targets=scrape_targets,
            scrape_interval=scrape_interval,
            evaluation_interval=evaluation_interval,
            rule_files=[Path(p) for p in rule_files],
            alertmanager_url=alertmanager_url,
        )
        self._extra_args = list(extra_args)
        self._prometheus = prometheus_binary
        self._promtool = promtool_binary

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def config_path(self) -> Path:
        return self.workdir / "prometheus.yml"

    def _binary(self) -> str:
        return find_binary("prometheus", self._prometheus)

    def _prepare(self) -> None:
        self.data_dir.mkdir(exist_ok=True)
        texts = []
        for i, text in enumerate(self._openmetrics):
            path = self.workdir / f"history-{i}.om"
            path.write_text(text if text.rstrip().endswith("# EOF") else text.rstrip() + "\n# EOF\n")
            texts.append(path)
        for path in [*self._backfill, *texts]:
            backfill(path, self.data_dir, promtool=self._promtool)
        self.config_path.write_text(self._config)

    def _command(self, binary: str, port: int) -> list[str]:
        return [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            # Without a long retention, Prometheus deletes old backfilled blocks on start.
            "--storage.tsdb.retention.time=10y",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
            *self._extra_args,
        ]

    def reload(self) -> None:
        """Re-read the config and rule files (``POST /-/reload``), e.g. after editing a rule file."""
        try:
            response = httpx.post(f"{self.url}/-/reload", timeout=10.0)
        except httpx.HTTPError as exc:
            raise errors.SandboxError(f"reload failed: {exc}") from exc
        if response.status_code != 200:
            raise errors.SandboxError(f"reload failed (HTTP {response.status_code}): {response.text.strip()}")
