"""The ``rollout_aborted`` trigger's config (issue 12 §3): ``when: {rollout_aborted: {}}`` becomes a frozen
trigger value that turns on reading Argo Rollouts; bad input is one line naming file, line and key."""

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


@pytest.mark.parametrize(
    ("when", "cycles"), [("{rollout_aborted: {}}", 1), ("{rollout_aborted: {cycles: 2}}", 2)]
)
def test_rollout_aborted_trigger(workdir: Path, base_config: str, when: str, cycles: int) -> None:
    (workdir / "cfg.yaml").write_text(_with(base_config, when))
    loaded = settings.load(workdir / "cfg.yaml", env={"T_ARGO": "argo", "T_GH": "gh"})
    (p,) = loaded.policies
    assert p.trigger == policy.RolloutAbortedTrigger(cycles=cycles)
    assert policy.rollout_triggers(loaded.policies) == (p.trigger,)
    assert policy.regression_triggers(loaded.policies) == ()


@pytest.mark.parametrize(
    ("when", "key", "fragment"),
    [
        (
            "{rollout_aborted: {cycles: 0}}",
            "policies[0].when.rollout_aborted.cycles",
            "greater than or equal to 1",
        ),
        ("{rollout_aborted: {for: 5m}}", "policies[0].when.rollout_aborted.for", "unknown key 'for'"),
        ("{rollout_aborted: {}, health: {}}", "policies[0].when", "use only one of"),
    ],
)
def test_bad_rollout_aborted_config_is_one_line_naming_the_key(
    invoke: Any, workdir: Path, base_config: str, line_of: Any, when: str, key: str, fragment: str
) -> None:
    text = _with(base_config, when)
    (workdir / "cfg.yaml").write_text(text)
    result = invoke(["validate", "cfg.yaml"])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"cfg.yaml:{line_of(text, 'when:')}: {key}: "), line
    assert fragment in line, line
