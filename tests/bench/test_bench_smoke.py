"""The benchmarks run end to end on tiny sizes (``python -m bench --quick``); their figures are not judged.

Only the shape of what they print is checked, plus the facts a benchmark run must show: the same number
of Prometheus queries whatever the number of apps (batching), and every corpus edit measured.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / ".." / "shared" / "corpus" / "manifests" / "targets.json"


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.prometheus
def test_quick_benchmarks_print_figures_and_ratios() -> None:
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        pytest.skip("prometheus/promtool not installed (make prometheus)")
    done = bench("--quick")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    rows = re.findall(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", out, re.MULTILINE)
    assert [int(r[0]) for r in rows] == [5, 20]
    assert {float(r[3]) for r in rows} == {7.0}  # one query per window of the default tiers, for any N
    assert [int(r[4]) for r in rows] == [1, 2]  # every 10th app burns
    assert re.search(r"ratio 20/5 apps: time x[\d.]+ for x4 the apps; queries x1\.00", out)
    if CORPUS.is_file():
        assert "edit: 20 corpus targets" in out and re.search(r"ratio surgical/naive: x[\d.]+", out)
    else:
        assert "edit: skipped" in out
    assert re.search(r"peak Python allocations during the cycle: [\d,]+ KiB", out)


def test_a_run_writes_its_figures_as_json_and_markdown(tmp_path: Path) -> None:
    results, report = tmp_path / "results.json", tmp_path / "performance.md"
    done = bench("config", "--quick", "--results", str(results), "--report", str(report))
    assert done.returncode == 0, done.stderr
    data = json.loads(results.read_text())
    assert [r["apps"] for r in data["benchmarks"]["config"]["figures"]] == [10, 50]
    assert data["benchmarks"]["config"]["command"] == "python -m bench config --quick --results " + (
        f"{results} --report {report}"
    )
    assert data["machine"]["nproc"] >= 1 and data["machine"]["python"]
    text = report.read_text()
    assert "## Machine" in text and "python -m bench config --quick" in text
    assert (
        not (ROOT / "bench" / "results.json").exists()
        or "--quick" not in (ROOT / "bench" / "results.json").read_text()
    )


def test_unknown_benchmark_is_a_usage_error() -> None:
    done = bench("nope")
    assert done.returncode == 2
    assert "unknown benchmark(s) nope" in done.stderr
