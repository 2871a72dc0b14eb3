"""``python -m bench heal --quick`` runs end to end on a tiny fast-imported repo; no timing is judged."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_heal_benchmark_prints_percentiles_and_ratios() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "heal", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "decision -> heal commit pushed (direct mode), 50 files, 100 commits, 3 heals" in out
    for name in ("githeal", "raw git"):
        assert re.search(rf"^\s+{name}\s+p50\s+[\d.]+ ms\s+p95\s+[\d.]+ ms$", out, re.MULTILINE), out
    assert len(re.findall(r"ratio githeal/raw: p50 x[\d.]+\s+p95 x[\d.]+", out)) == 2, out
    assert "heal branch pushed and PR opened (PR mode, GitHub emulator)" in out
