"""The committed OpenMetrics history is exactly what fixtures/prometheus/generate.py writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from slodefs import END, FIXTURES


def test_committed_history_is_reproducible(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(FIXTURES / "generate.py"), str(tmp_path)], check=True, capture_output=True
    )
    names = sorted(p.name for p in tmp_path.glob("*.om"))
    assert names == ["batch.om", "latency.om", "scenarios.om"]
    total = 0
    for name in names:
        text = (tmp_path / name).read_bytes()
        assert text == (FIXTURES / name).read_bytes(), f"{name} is stale: rerun generate.py"
        assert text.endswith(b"# EOF\n")
        total += len(text)
    assert total < 500_000  # small enough to commit


def test_history_ends_at_the_pinned_time() -> None:
    last = (FIXTURES / "scenarios.om").read_text().splitlines()[-2]
    assert last.startswith('http_requests_total{app="stale",code="500"}')
    assert int(last.rsplit(" ", 1)[1]) == END - 180  # the stale target's last sample
    assert any(line.endswith(f" {END}") for line in (FIXTURES / "batch.om").read_text().splitlines())
