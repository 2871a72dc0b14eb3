"""``python -m bench mttr --quick`` (issue 12 §2): one bad-deploy drill per setup with 5 s scrapes, and
the MTTR table with each part for the regression trigger, burn-rate only and GitOps alone."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]


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
