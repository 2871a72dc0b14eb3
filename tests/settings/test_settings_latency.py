"""A latency SLI from a classic histogram (issue 12 §1: the regression trigger compares latency "with
the same discipline"): ``latency: {histogram, le}`` is a ratio SLI of slow requests, so burn rates,
verification and the regression test all read it like an error ratio. Bad input is one line naming
file, line and key (exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot import settings

RATIO = """\
    ratio:
      errors: http_requests_total{code=~"5.."}
      total: http_requests_total
"""


def _latency(base: str, body: str, objective: str = "99") -> str:
    assert RATIO in base
    return base.replace(RATIO, body, 1).replace("objective: 99.9", f"objective: {objective}", 1)


def _load(workdir: Path, text: str) -> settings.Settings:
    (workdir / "cfg.yaml").write_text(text)
    return settings.load(workdir / "cfg.yaml", env={"T_ARGO": "argo", "T_GH": "gh"})


def test_latency_sli_is_the_share_of_requests_slower_than_the_bucket(workdir: Path, base_config: str) -> None:
    body = "    latency:\n      histogram: http_request_duration_seconds{job='api'}\n      le: 0.3\n"
    slo = _load(workdir, _latency(base_config, body)).slos["avail"]
    assert slo.kind == "ratio"
    assert slo.budget == pytest.approx(0.01)
    total = "sum by (app) (rate(http_request_duration_seconds_count{job='api'}[{window}]))"
    good = "sum by (app) (rate(http_request_duration_seconds_bucket{job='api', le=~\"0\\\\.3\"}[{window}]))"
    assert slo.total_query == total
    assert slo.error_query == f"clamp_min({total} - {good}, 0)"


def test_an_integral_bound_matches_every_spelling_of_it(workdir: Path, base_config: str) -> None:
    # Prometheus 3 normalises classic-histogram `le` values on ingestion ("1" is stored as "1.0");
    # client libraries print "1". The selector matches both, so an upgrade does not blind the SLO.
    body = "    latency: {histogram: rpc_latency_seconds, le: 1}\n"
    slo = _load(workdir, _latency(base_config, body)).slos["avail"]
    assert 'rpc_latency_seconds_bucket{le=~"1|1\\\\.0"}' in slo.error_query


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        (
            "    latency: {histogram: http_request_duration_seconds_bucket, le: 0.3}\n",
            "slos[0].latency.histogram",
            "without _bucket, _count or _sum",
        ),
        ("    latency: {histogram: 'rate(x[5m])', le: 0.3}\n", "slos[0].latency.histogram", "histogram name"),
        ("    latency: {histogram: h, le: fast}\n", "slos[0].latency.le", "bucket bound in seconds"),
        ("    latency: {histogram: h, le: 0}\n", "slos[0].latency.le", "finite bound above 0"),
        ("    latency: {histogram: h}\n", "slos[0].latency.le", "required"),
        ("    latency: {histogram: h, le: 0.3, quantile: 0.99}\n", "slos[0].latency.quantile", "unknown key"),
    ],
)
def test_bad_latency_sli_is_one_line_naming_the_key(
    invoke: Any, workdir: Path, base_config: str, line_of: Any, body: str, key: str, fragment: str
) -> None:
    text = _latency(base_config, body)
    (workdir / "cfg.yaml").write_text(text)
    result = invoke(["validate", "cfg.yaml"])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # never a traceback
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"cfg.yaml:{line_of(text, 'latency:')}: {key}: "), line
    assert fragment in line, line


def test_latency_and_ratio_together_is_refused(invoke: Any, workdir: Path, base_config: str) -> None:
    text = base_config.replace(RATIO, RATIO + "    latency: {histogram: h, le: 0.3}\n", 1)
    (workdir / "cfg.yaml").write_text(text)
    result = invoke(["validate", "cfg.yaml"])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert "slos[0]: use only one of ratio, latency, threshold" in line, line


def test_latency_without_objective_is_refused(invoke: Any, workdir: Path, base_config: str) -> None:
    text = _latency(base_config, "    latency: {histogram: h, le: 0.3}\n")
    text = text.replace("    objective: 99\n", "", 1)
    (workdir / "cfg.yaml").write_text(text)
    result = invoke(["validate", "cfg.yaml"])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert "a latency SLO needs an objective" in line, line
