"""``python -m bench mttr --quick`` (issue 12 §2): one bad-deploy drill per setup with 5 s scrapes, and
the MTTR table with each part for the regression trigger, burn-rate only and GitOps alone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Three drills in a row (about 110 s): the drill itself runs in tests/e2e/test_drill.py on every CI
# run; this smoke of the bench's table runs when asked for, to keep the suite under 15 minutes.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.prometheus,
    pytest.mark.skipif(not os.environ.get("GITHEAL_BENCH_MTTR"), reason="set GITHEAL_BENCH_MTTR=1 to run"),
]


def test_quick_mttr_bench_prints_the_table() -> None:
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        pytest.skip("prometheus/promtool not installed (make prometheus)")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "mttr", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    print(out)
    assert "scrapes every 5s" in out and "regression window 2m against a 1m baseline" in out
    assert re.search(r"setup\s+live\s+detected\s+heal pushed\s+synced\s+recovered ok", out)
    number = r"\s+([\d.]+)"
    reg = re.search(rf"^regression trigger{number * 5}\s+1/1$", out, re.MULTILINE)
    burn = re.search(rf"^burn-rate only{number * 5}\s+1/1$", out, re.MULTILINE)
    assert reg and burn, out
    assert float(reg.group(2)) < float(burn.group(2))  # the regression detects before the burn rate
    assert re.search(r"^GitOps alone \(--baseline\)\s+[\d.]+\s+-\s+-\s+-\s+never\s+0/1$", out, re.MULTILINE)
    assert re.search(r"target: regression MTTR median <= 20s: (met|NOT met) \([\d.]+s\)", out)
