"""``githeal drill``: the scenario plumbing (fast) and two real drills of ``bad-deploy`` (slow).

With the bot, checkout's bad release is rolled back and the drill reports an MTTR; with ``baseline``
(GitOps alone) the bad commit stays and the app is still failing when the (shortened) limit ends.
Time is scaled to about a third (step delays, recovery hold, limits) so each drill stays under 2 min.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import healkit
import pytest

from bot import errors
from bot.act import edit
from bot.sandbox import drill
from bot.sandbox import scenario as scn
from bot.sandbox import world as sandbox

DEMO = Path(__file__).resolve().parents[2] / "bot" / "sandbox" / "demo-repo"
FAST = drill.Tuning(time_scale=0.34)
needs_prometheus = pytest.mark.skipif(
    not (shutil.which("prometheus") and shutil.which("promtool")), reason="prometheus not installed"
)


def test_bad_step_is_the_first_change_nothing_waits_for() -> None:
    got = {name: drill.bad_step(sc) for name, sc in scn.load_all().items()}
    # bad-deploy ships a good release first and waits for it to be healthy; drift breaks at its first step
    assert got == {
        "bad-config": 0,
        "bad-deploy": 1,
        "canary-abort": 0,
        "crash-loop": 0,
        "drift": 0,
        "load-spike": 0,
    }


@pytest.mark.parametrize("name", ["bad-config", "bad-deploy", "crash-loop"])
def test_every_commit_step_edits_the_demo_repo(name: str) -> None:
    sc = scn.load_all()[name]
    for step in sc.steps:
        assert step.commit is not None
        text = (DEMO / step.commit.file).read_text()
        result = edit.apply(text, drill.edit_target(step.commit.target), step.commit.value)
        assert edit.read(result.text, drill.edit_target(step.commit.target)) == step.commit.value
        assert len(result.lines) == 1


def test_unknown_scenario_is_a_config_error() -> None:
    with pytest.raises(errors.ConfigError, match="no such scenario; known: bad-config"):
        drill.resolve("no-such-drill")
    assert drill.resolve(scn.SCENARIO_DIR / "drift.yaml").name == "drift"


def test_world_options_follow_the_scenario() -> None:
    sc = scn.load_all()["drift"]
    opts = drill.world_options(sc, baseline=True, tuning=FAST)
    assert opts.bot is False and opts.workload["catalog"].rps == 40
    assert opts.config_rules == sc.config_rules
    assert opts.policy_overrides["adopt-drift"]["do"] == {"reconcile": {"mode": "enforce"}}


def test_report_table_and_json() -> None:
    runs = [
        drill.Run(
            1, False, recovered=True, detect=10.0, commit=10.5, synced=12.0, mttr=30.0, action="rollback"
        ),
        drill.Run(
            2, False, recovered=True, detect=14.0, commit=14.0, synced=15.0, mttr=40.0, action="rollback"
        ),
        drill.Run(3, False, recovered=False, watched=90.0, error_ratio=0.3, peak_error_ratio=0.31),
    ]
    report = drill.DrillReport("bad-deploy", "checkout", False, runs)
    assert report.median("mttr") == 35.0 and report.median("detect") == 12.0
    data = report.to_json()
    assert data["median"]["recovered"] == 35.0 and data["recovered"] == 2
    json.dumps(data)
    text = drill.table(report)
    assert "median" in text and "not recovered in 90s" in text and "30.0% / 31.0%" in text


# The two real drills: each plays in its own World (Prometheus and emulators on free ports, its own
# temp dir) and mostly waits on real time, so a module fixture plays the selected ones side by side.
DRILLS: dict[str, dict[str, Any]] = {
    "test_bad_deploy_is_healed_by_the_regression_trigger_with_5s_scrapes": {
        "tuning": drill.Tuning(time_scale=0.34)
    },
    "test_baseline_gitops_alone_does_not_recover": {
        "baseline": True,
        "tuning": drill.Tuning(time_scale=0.34, limit=35),
    },
}


def play(kwargs: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = drill.main("bad-deploy", output_format="json", stream=out, **kwargs)
    return code, json.loads(out.getvalue())


@pytest.fixture(scope="module")
def drills(request: pytest.FixtureRequest) -> Iterator[dict[str, Future[tuple[int, dict[str, Any]]]]]:
    wanted = [
        item.originalname
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.module is request.module and item.originalname in DRILLS
    ]
    healkit.warm_lazy_imports()  # each drill builds its runtime in its own thread
    pool = ThreadPoolExecutor(max_workers=max(1, len(wanted)), thread_name_prefix="drill")
    futures = {name: pool.submit(play, DRILLS[name]) for name in wanted}
    try:
        yield futures
    finally:
        pool.shutdown(wait=True)


@pytest.mark.slow
@needs_prometheus
def test_bad_deploy_is_healed_by_the_regression_trigger_with_5s_scrapes(
    drills: dict[str, Future[tuple[int, dict[str, Any]]]],
) -> None:
    """Issue 12 §2: the default drill uses the regression trigger and 5 s scrapes, says so in its JSON,
    and times recovery by the workload's last failed request."""
    code, data = drills["test_bad_deploy_is_healed_by_the_regression_trigger_with_5s_scrapes"].result(
        timeout=280
    )
    (run,) = data["runs"]
    events = "\n".join(f"{t:6.1f} {e}" for t, e in run["events"])
    assert code == 0 and run["recovered"], events
    assert (data["scrape_interval"], data["trigger"]) == ("5s", "regression")
    assert data["regression"] == drill.REGRESSION
    assert [w["long"] for w in data["burn_rate_windows"]] == ["60s", "3m"]
    assert run["action"] == "rollback" and run["exceeded"] == [], events
    assert "rollback-on-regression" in events
    live, detect, commit, synced, mttr = (run[k] for k in ("live", "detect", "commit", "synced", "mttr"))
    assert live <= detect <= commit <= synced, events
    # recovered = the last failed request: the rollback rolled out (synced is seen at the drill's poll)
    assert commit < mttr == run["last_failure"] < synced + 3, events
    assert run["heal_commit"] and run["touched"] == ["apps/checkout/deployment.yaml"]
    assert run["peak_error_ratio"] > 0.2
    assert set(data["median"]) == {"live", "detect", "commit", "synced", "recovered"}
    print(f"\nbad-deploy drill (regression, 5s scrapes): {data['median']}")


@pytest.mark.slow
@needs_prometheus
def test_baseline_gitops_alone_does_not_recover(
    drills: dict[str, Future[tuple[int, dict[str, Any]]]],
) -> None:
    code, data = drills["test_baseline_gitops_alone_does_not_recover"].result(timeout=280)
    assert code == 0
    (run,) = data["runs"]
    assert data["mode"] == "baseline" and data["recovered"] == 0
    assert data["trigger"] == "none (GitOps alone)" and "regression" not in data
    assert run["recovered"] is False and run["detect"] is None and run["commit"] is None
    assert run["error_ratio"] == pytest.approx(0.3, abs=0.1)  # the bad release keeps failing
    assert run["watched"] > 10


def test_world_apps_match_the_scenarios() -> None:
    assert {sc.app for sc in scn.load_all().values()} <= set(sandbox.APPS)


def test_drill_defaults_to_the_regression_trigger_and_5s_scrapes() -> None:
    sc = scn.load_all()["bad-deploy"]
    opts = drill.world_options(sc, baseline=False, tuning=drill.Tuning())
    assert opts.scrape_interval == "5s" and opts.regression == drill.REGRESSION
    burn = drill.world_options(sc, baseline=False, tuning=drill.Tuning(trigger="burn-rate"))
    assert burn.regression is None
    assert drill.world_options(sc, baseline=True, tuning=drill.Tuning()).regression is None
    policy = sandbox.regression_policy(drill.REGRESSION)
    assert policy["when"] == {"regression": drill.REGRESSION} and policy["do"] == {
        "rollback": {"strategy": "revert"}
    }
