"""The regression trigger's config (issue 12 §1): defaults, frozen values, and one-line errors naming
file, line and key (exit 2, never a traceback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot import settings
from bot.settings import policy

WHEN = "    when: {slo: {tier: page}}"


def _with(base: str, when: str) -> str:
    assert WHEN in base
    return base.replace(WHEN, f"    when: {when}", 1)


def test_regression_trigger_defaults_and_values(workdir: Path, base_config: str) -> None:
    text = _with(base_config, "{regression: {slos: [avail], window: 10m, baseline: 1h, alpha: 0.0001}}")
    text = text.replace("  timeout: 20s\n", "  timeout: 20s\n  step: 15s\n", 1)
    (workdir / "cfg.yaml").write_text(text)
    loaded = settings.load(workdir / "cfg.yaml", env={"T_ARGO": "argo", "T_GH": "gh"})
    (p,) = loaded.policies
    assert p.trigger == policy.RegressionTrigger(
        window=600.0, baseline=3600.0, alpha=0.0001, slos=("avail",), step=15.0
    )
    assert p.trigger.looks == 40  # 10m / 15s: the bound is split over every look at one deploy
    assert policy.regression_triggers(loaded.policies) == (p.trigger,)


def test_regression_trigger_defaults(workdir: Path, base_config: str) -> None:
    (workdir / "cfg.yaml").write_text(_with(base_config, "{regression: {}}"))
    (p,) = settings.load(workdir / "cfg.yaml", env={"T_ARGO": "argo", "T_GH": "gh"}).policies
    t = p.trigger
    assert isinstance(t, policy.RegressionTrigger)
    assert (t.window, t.baseline, t.alpha, t.min_ratio, t.min_increase, t.min_events) == (
        900.0,
        1800.0,
        0.001,
        2.0,
        0.0,
        100.0,
    )


@pytest.mark.parametrize(
    ("when", "key", "fragment"),
    [
        ("{regression: {slos: [nope]}}", "policies[0].when.regression.slos[0]", "unknown SLO 'nope'"),
        ("{regression: {alpha: 0}}", "policies[0].when.regression.alpha", "greater than 0"),
        ("{regression: {alpha: 1.5}}", "policies[0].when.regression.alpha", "less than 1"),
        ("{regression: {window: 0s}}", "policies[0].when.regression.window", ""),
        (
            "{regression: {window: 1s}}",
            "policies[0].when.regression.window",
            "shorter than the evaluation step",
        ),
        (
            "{regression: {min_ratio: 0.5}}",
            "policies[0].when.regression.min_ratio",
            "greater than or equal to 1",
        ),
        ("{regression: {windw: 5m}}", "policies[0].when.regression.windw", "unknown key 'windw'"),
        ("{regression: {}, slo: {}}", "policies[0].when", "use only one of"),
    ],
)
def test_bad_regression_config_is_one_line_naming_the_key(
    invoke: Any, workdir: Path, base_config: str, line_of: Any, when: str, key: str, fragment: str
) -> None:
    text = _with(base_config, when)
    (workdir / "cfg.yaml").write_text(text)
    result = invoke(["validate", "cfg.yaml"])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # never a traceback
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"cfg.yaml:{line_of(text, 'when:')}: {key}: "), line
    assert fragment in line, line
