"""`githeal run` as a real process in a sandbox World: it serves its probes, runs cycles, logs JSON
lines, and SIGTERM stops it cleanly (exit 0) after the cycle in flight."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import healkit
import httpx
import pytest
from ruamel.yaml import YAML

from bot.sandbox import world as sandbox

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_serves_probes_and_stops_on_sigterm(tmp_path: Path) -> None:
    healkit.require_prometheus()
    with sandbox.World() as w:
        port = free_port()
        cfg = w.config()
        cfg["service"] = {"listen": f"127.0.0.1:{port}"}
        cfg["log"] = {"format": "json", "level": "info"}
        path = tmp_path / "githeal.yaml"
        with path.open("w") as fh:
            YAML().dump(cfg, fh)
        githeal = Path(sys.executable).parent / "githeal"
        log = tmp_path / "githeal.log"
        with log.open("w") as sink:
            proc = subprocess.Popen(
                [str(githeal), "run", "--config", str(path)],
                stdout=subprocess.DEVNULL,
                stderr=sink,  # a file, not a pipe: a chatty service must never block on a full pipe
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            ready = None
            while time.monotonic() < deadline:
                try:
                    ready = httpx.get(f"{url}/readyz", timeout=2)
                    if ready.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.3)
            assert ready is not None and ready.status_code == 200, ready and ready.text
            assert httpx.get(f"{url}/healthz").status_code == 200
            assert "githeal_last_cycle_timestamp_seconds" in httpx.get(f"{url}/metrics").text
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err = log.read_text()
        assert code == 0, err[-2000:]
        events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        names = [e["event"] for e in events]
        assert "service.listening" in names and "cycle.done" in names and "service.stopping" in names
        assert all("ts" in e and "level" in e for e in events)
        assert "Traceback" not in err
