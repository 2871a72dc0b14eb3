"""``githeal drill canary-abort`` (issue 12 §3): checkout released by an Argo Rollouts canary whose analysis
fails. The canary aborts in the (emulated) cluster, githeal's ``rollout_aborted`` policy reverts Git to the
stable version, Argo CD syncs it, the Rollout goes Healthy and the heal is verified; the JSON says so."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot import errors
from bot.act import edit
from bot.sandbox import canary, drill
from bot.sandbox import scenario as scn

DEMO = Path(__file__).resolve().parents[2] / "bot" / "sandbox" / "demo-repo"
needs_prometheus = pytest.mark.skipif(
    not (shutil.which("prometheus") and shutil.which("promtool")), reason="prometheus not installed"
)


def test_scenario_releases_checkout_by_a_canary_healed_by_the_rollout_aborted_policy() -> None:
    sc = scn.load_all()["canary-abort"]
    assert list(sc.canary) == ["checkout"] and sc.canary["checkout"][0] == {"setWeight": 20}
    opts = drill.world_options(sc, baseline=False, tuning=drill.Tuning())
    assert opts.regression is None and dict(opts.canaries) == dict(sc.canary)
    assert canary.policy(["checkout"])["when"] == {"rollout_aborted": {}}


def test_convert_makes_the_deployment_a_canary_rollout_the_editor_can_still_pin(tmp_path: Path) -> None:
    shutil.copytree(DEMO, tmp_path / "repo")
    sc = scn.load_all()["canary-abort"]
    canary.convert(tmp_path / "repo", sc.canary)
    path = tmp_path / "repo" / "apps" / "checkout" / "deployment.yaml"
    text = path.read_text()
    doc = YAML(typ="safe").load(text)
    assert (doc["apiVersion"], doc["kind"]) == ("argoproj.io/v1alpha1", "Rollout")
    assert doc["spec"]["strategy"] == {"canary": {"steps": [dict(s) for s in sc.canary["checkout"]]}}
    assert "# checkout: takes the basket" in text  # comments kept: a reviewer still reads the file
    (step,) = sc.steps
    assert step.commit is not None
    result = edit.apply(text, drill.edit_target(step.commit.target), step.commit.value)
    assert len(result.lines) == 1
    edited = YAML(typ="safe").load(result.text)
    assert edited["kind"] == "Rollout"
    assert edited["spec"]["template"]["spec"]["containers"][0]["image"] == step.commit.value


@pytest.mark.parametrize(
    ("canary_yaml", "fragment"),
    [
        ("{checkout: {steps: []}}", "canary.checkout.steps: canary steps must be a non-empty list"),
        ("{checkout: {steps: [{setWeight: 120}]}}", "setWeight must be a whole percentage"),
        ("{checkout: {steps: [{bake: {}}]}}", "unknown canary step 'bake'"),
        ("{checkout: {stepz: []}}", "canary.checkout"),
    ],
)
def test_bad_canary_in_a_scenario_names_the_key(canary_yaml: str, fragment: str) -> None:
    text = (scn.SCENARIO_DIR / "canary-abort.yaml").read_text()
    head, _, rest = text.partition("canary:\n")
    body = rest[rest.index("steps:\n  - at") :]
    with pytest.raises(errors.ConfigError, match="canary") as err:
        scn.parse(f"{head}canary: {canary_yaml}\n{body}", "drill.yaml")
    assert fragment in str(err.value)


@pytest.mark.slow
@needs_prometheus
def test_canary_abort_drill_makes_git_agree_with_the_stable_version() -> None:
    out = io.StringIO()
    code = drill.main("canary-abort", output_format="json", stream=out, tuning=drill.Tuning(time_scale=0.34))
    data = json.loads(out.getvalue())
    (run,) = data["runs"]
    events = "\n".join(f"{t:6.1f} {e}" for t, e in run["events"])
    assert code == 0 and run["recovered"] and run["exceeded"] == [], events
    assert data["trigger"] == "rollout_aborted"
    facts = run["canary"]
    assert facts["message"].startswith("RolloutAborted: Rollout aborted update to revision 2: "), facts
    assert facts["stable_image"] == facts["git_image"] == "ghcr.io/acme/checkout:1.4.2", facts
    assert facts["git_agrees_with_stable"] is True and facts["canary_image"] == [
        "ghcr.io/acme/checkout:1.5.0"
    ]
    assert facts["rollout_health"] == "Healthy" and facts["verified"] == "success", facts
    assert "rollback-on-canary-abort: canary of Rollout checkout revision 2 aborted" in events
    # the canary limited the damage: errors stopped at the abort, before githeal's heal (the drill
    # notices the abort at its own 0.25 s polls, so it may see it just after githeal's cycle did)
    assert run["live"] <= facts["aborted"] <= run["detect"] + 0.5, events
    assert run["detect"] <= run["commit"] <= run["synced"], events
    assert run["last_failure"] <= facts["aborted"] + 1.0 and run["peak_error_ratio"] < 0.1, events
    assert run["action"] == "rollback" and run["touched"] == ["apps/checkout/deployment.yaml"]
    print(f"\ncanary-abort drill: {data['median']} canary={facts}")


def test_verdict_is_the_terminal_verify_status_on_the_heal() -> None:
    statuses = {
        "a" * 40: [{"context": "githeal/verify", "state": "pending", "description": ""}],
        "b" * 40: [
            {"context": "ci", "state": "success", "description": ""},
            {"context": "githeal/verify", "state": "pending", "description": ""},
            {"context": "githeal/verify", "state": "success", "description": "verified"},
        ],
    }
    assert canary.verdict(statuses, lambda sha: sha == "b" * 40) == "success"
    assert canary.verdict(statuses, lambda sha: sha == "a" * 40) is None
    assert canary.verdict(statuses, lambda sha: False) is None


def test_report_names_what_the_canary_drill_must_achieve() -> None:
    watch = canary.Watch(lambda: None, "apps/checkout/deployment.yaml")
    watch.facts.update(stable_image="x:1", git_image="x:2", git_agrees_with_stable=False, verified=None)
    assert watch.problems() == [
        "Git does not name the canary's stable image",
        "heal not verified (githeal/verify: none)",
    ]
    run = drill.Run(1, False, recovered=True, mttr=3.0, canary=dict(watch.facts, aborted=2.5, message="m"))
    text = drill.table(drill.DrillReport("canary-abort", "checkout", False, [run]))
    assert (
        "run 1 canary: aborted 2.5s after the bad change (m); stable x:1, Git now x:2 (agrees: False)" in text
    )


@pytest.mark.slow
@needs_prometheus
def test_gitops_alone_leaves_git_naming_the_aborted_version() -> None:
    """The baseline: Argo Rollouts protects the traffic, but Git still says 1.5.0 and the app stays
    Degraded; nothing makes Git agree with what runs."""
    out = io.StringIO()
    tuning = drill.Tuning(time_scale=0.34, limit=14)
    assert drill.main("canary-abort", baseline=True, output_format="json", stream=out, tuning=tuning) == 0
    (run,) = json.loads(out.getvalue())["runs"]
    facts = run["canary"]
    assert facts["message"].startswith("RolloutAborted: "), run["events"]
    assert facts["git_image"] == "ghcr.io/acme/checkout:1.5.0" and facts["git_agrees_with_stable"] is False
    assert facts["rollout_health"] == "Degraded" and run["commit"] is None and not run["recovered"]
