"""The emulator's Rollout health is Argo CD's built-in Lua health check, case for case.

Cases: argoproj/argo-cd ``resource_customizations/argoproj.io/Rollout/health_test.yaml`` and its
``testdata/`` at commit 37ee0097cf851bc2dd7665fc081bbce61a7e836e (copied to ``data/rollout-health``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from bot.sandbox.argocd import rollouthealth

DATA = Path(__file__).resolve().parent / "data" / "rollout-health"


def _load(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text())


CASES = _load(DATA / "health_test.yaml")["tests"]


@pytest.mark.parametrize("case", CASES, ids=[c["inputPath"] for c in CASES])
def test_upstream_health_cases(case: dict[str, Any]) -> None:
    obj = _load(DATA / case["inputPath"])
    got = rollouthealth.health(obj)
    want = case["healthStatus"]
    assert (got.status, got.message) == (want["status"], want.get("message", ""))


def test_every_upstream_testdata_file_is_a_case() -> None:
    used = {c["inputPath"] for c in CASES}
    files = {str(p.relative_to(DATA)) for p in (DATA / "testdata").rglob("*.yaml")}
    assert files == used


def _v1(status: dict[str, Any], generation: int = 3) -> dict[str, Any]:
    obj = _load(DATA / "testdata" / "suspended_v1.0_pausedRollout.yaml")
    obj["metadata"]["generation"] = generation
    obj["status"] = status
    return obj


ABORT = (
    "RolloutAborted: Rollout aborted update to revision 2: Step-based analysis phase error/failed: "
    'Metric "success-rate" assessed Failed due to failed (1) > failureLimit (0)'
)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # v1.0+ status.phase/message are surfaced as is (rolloututil.CalculateRolloutPhase wrote them)
        ({"observedGeneration": "3", "phase": "Degraded", "message": ABORT}, ("Degraded", ABORT)),
        (
            {"observedGeneration": "3", "phase": "Paused", "message": "CanaryPauseStep"},
            ("Suspended", "CanaryPauseStep"),
        ),
        ({"observedGeneration": "3", "phase": "Healthy"}, ("Healthy", "")),
        # a spec change not yet seen by the rollouts controller hides even an aborted phase
        (
            {"observedGeneration": "2", "phase": "Degraded", "message": ABORT},
            ("Progressing", "Waiting for rollout spec update to be observed"),
        ),
        # an observedGeneration above the generation is a v0.9 hash that happens to be digits
        ({"observedGeneration": "9", "phase": "Healthy"}, ("Healthy", "")),
        # legacy (no phase): the Progressing condition with reason RolloutAborted carries the message
        (
            {
                "observedGeneration": "3",
                "conditions": [
                    {"type": "Progressing", "reason": "RolloutAborted", "message": "Rollout is aborted"}
                ],
            },
            ("Degraded", "Rollout is aborted"),
        ),
    ],
)
def test_phase_generation_and_abort(status: dict[str, Any], expected: tuple[str, str]) -> None:
    got = rollouthealth.health(_v1(status))
    assert (got.status, got.message) == expected


def test_lua_errors_are_unknown_health() -> None:
    # ipairs(nil): a legacy status without conditions makes the script fail, Argo CD shows Unknown
    obj = _v1({"observedGeneration": "3", "currentPodHash": "abc"})
    got = rollouthealth.health(obj)
    assert got.status == "Unknown" and "ipairs" in got.message
    broken = copy.deepcopy(obj)
    del broken["metadata"]["generation"]
    assert rollouthealth.health(broken).status == "Unknown"


def test_spec_paused_any_lua_truthy_value() -> None:
    obj = _load(DATA / "testdata" / "suspended_userPause.yaml")
    assert rollouthealth.health(obj).status == "Suspended"
    obj["spec"]["paused"] = False
    assert rollouthealth.health(obj).status != "Suspended"
