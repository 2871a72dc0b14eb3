"""The config-loading benchmark runs at tiny sizes and prints one row per size; its timings are not judged."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_config_bench_prints_a_row_per_size_valid_and_broken() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "config", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\S+): (.*)$", done.stdout, re.MULTILINE)
    assert [int(r[0]) for r in rows] == [10, 50]
    # The broken config names the misspelt key of the last app, at its own line.
    for n, _size, _valid, _broken, where, message in rows:
        assert re.fullmatch(rf"bad-{n}\.yaml:\d+", where)
        assert message.startswith(f"apps.app-{int(n) - 1:05d}.container: unknown key 'container'")
