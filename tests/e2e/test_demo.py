"""``githeal demo``: the whole story runs to exit 0 and tells every step; Ctrl-C and a missing
Prometheus end it cleanly with their exit codes, leaving no process or sandbox directory behind.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import healkit
import pytest

from bot.sandbox import demo

SANDBOX = re.compile(r"sandbox in (\S+):")


def _left_running(path: str) -> list[str]:
    """Processes whose command line still mentions the sandbox directory (Prometheus would)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if path in cmd:
            found.append(cmd)
    return found


# The whole story (every heal verified, every step told) runs once in the suite, from the installed
# wheel: tests/ship/test_wheel.py.


@pytest.mark.prometheus
def test_ctrl_c_stops_everything_with_130() -> None:
    healkit.require_prometheus()
    out = io.StringIO()
    timer = threading.Timer(4.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    before = {t.ident for t in threading.enumerate()}
    timer.start()
    try:
        code = demo.main(output=out)
    finally:
        timer.cancel()
    text = out.getvalue()
    assert code == 130, text
    assert "interrupted" in text
    match = SANDBOX.search(text)
    assert match is not None, text
    assert _left_running(match.group(1)) == []
    assert not Path(match.group(1)).exists()
    leftover = [
        t.name for t in threading.enumerate() if t.ident not in before and t is not timer and t.is_alive()
    ]
    assert leftover == []


def test_without_prometheus_a_one_line_hint_and_exit_2(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git = shutil.which("git")
    assert git is not None
    (bin_dir / "git").symlink_to(git)
    out = io.StringIO()
    with mock.patch.dict(os.environ, {"PATH": str(bin_dir)}):
        code = demo.main(output=out)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert code == 2
    assert "prometheus not found on PATH" in lines[-1] and "apt-get install" in lines[-1]


@pytest.mark.prometheus
def test_sigterm_stops_everything_as_ctrl_c_does(tmp_path: Path) -> None:
    """``kill`` (a CI timeout, systemd) used to end the process at once, Prometheus left running."""
    healkit.require_prometheus()
    githeal = Path(sys.executable).with_name("githeal")
    log = tmp_path / "demo.out"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(githeal), "demo"], stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not SANDBOX.search(log.read_text(errors="replace")) and time.monotonic() < deadline:
                time.sleep(0.1)
            match = SANDBOX.search(log.read_text(errors="replace"))
            assert match is not None, log.read_text()
            while not _left_running(match.group(1)) and time.monotonic() < deadline:
                time.sleep(0.1)  # Prometheus has started: the moment a kill used to orphan it
            assert _left_running(match.group(1)), "the sandbox never started a server"
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 130, log.read_text()
    assert "interrupted" in log.read_text()
    assert _left_running(match.group(1)) == []
    assert not Path(match.group(1)).exists()
