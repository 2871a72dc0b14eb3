"""Scenario files load, point at real places in the demo repo, and bad files fail with file:line:key."""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot import errors, model
from bot.sandbox import behaviour, canary, scenario

NAMES = ("bad-deploy", "bad-config", "load-spike", "drift", "crash-loop", "canary-abort")


def test_all_scenarios_load() -> None:
    loaded = scenario.load_all()
    assert sorted(loaded) == sorted(NAMES)
    for name, s in loaded.items():
        assert s.source.endswith(f"{name}.yaml")
        assert s.limits.total >= s.limits.recover
        assert {a.name for a in s.workload} == {"checkout", "cart", "catalog"}


@pytest.mark.parametrize("name", NAMES)
def test_commit_steps_point_at_existing_values_in_the_demo_repo(
    name: str, demo: Path, locate, tmp_path: Path
) -> None:
    s = scenario.load(scenario.SCENARIO_DIR / f"{name}.yaml")
    if s.canary:  # the World seeds the repo with these apps' Deployments as canary Rollouts
        shutil.copytree(demo, tmp_path / "demo")
        demo = tmp_path / "demo"
        canary.convert(demo, s.canary)
    for step in s.steps:
        if step.commit is None:
            continue
        current = locate(demo / step.commit.file, step.commit.target)
        assert str(current) != str(step.commit.value), "a drill commit must change something"
    if s.expect.touches is not None:
        assert (demo / s.expect.touches).is_file()


def test_scenario_behaviours_fit_the_demo_images() -> None:
    s = scenario.load_all()["bad-deploy"]
    bad = s.steps[1].commit
    assert bad is not None
    assert behaviour.behaviour_for([str(bad.value)], s.behaviours).error_rate == 0.3
    assert behaviour.behaviour_for(["ghcr.io/acme/checkout:1.4.2"], s.behaviours).kind == "healthy"
    crash = scenario.load_all()["crash-loop"]
    assert any(fnmatch.fnmatchcase("ghcr.io/acme/cart:2.2.0", g) for g in crash.behaviours)


def test_step_shapes() -> None:
    loaded = scenario.load_all()
    spike = loaded["load-spike"].steps[0]
    assert spike.kind == "traffic"
    assert spike.traffic == scenario.Traffic("cart", multiplier=4.0, duration=900.0)
    drift = loaded["drift"].steps[1]
    assert drift.drift is not None
    assert dict(drift.drift.change) == {"kind": "Deployment", "workload": "catalog", "replicas": 1}
    later = loaded["bad-deploy"].steps[1]
    assert (later.at, later.after, later.delay) == (None, "healthy", 30.0)
    assert loaded["drift"].expect.action is model.ActionKind.RECONCILE
    assert loaded["drift"].expect.recovered.live_matches_git is True
    assert loaded["load-spike"].expect.recovered.latency_p99_below == 0.5


GOOD = """\
name: t
app: checkout
description: x
steps:
  - at: 5s
    traffic: {multiplier: 2}
expect:
  action: scale
  recovered: {error_ratio_below: 0.01}
limits: {detect: 1m, heal: 1m, recover: 1m, total: 5m}
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "message"),
    [
        ("app: checkout\n", "app: checkout\ncolour: red\n", 1, "", "unknown keys ['colour']"),
        ("  - at: 5s\n", "  - after: lunch\n", 5, "steps[0].after", "unknown event"),
        ("  - at: 5s\n", "  - at: soon\n", 5, "steps[0].at", "not a duration"),
        (
            "    traffic: {multiplier: 2}\n",
            "    traffic: {}\n",
            6,
            "steps[0].traffic",
            "multiplier or an rps",
        ),
        ("  action: scale\n", "  action: pray\n", 8, "expect.action", "must be one of"),
        ("{error_ratio_below: 0.01}", "{health: Fine}", 9, "expect.recovered.health", "must be one of"),
        ("{error_ratio_below: 0.01}", "{for: 1m}", 9, "expect.recovered", "at least one condition"),
        ("total: 5m", "total: 30s", 10, "limits.total", "at least as long"),
        (
            "    traffic: {multiplier: 2}\n",
            "    traffic: {multiplier: 2}\n    drift: {workload: x, replicas: 1}\n",
            5,
            "steps[0]",
            "exactly one of",
        ),
        (
            "    traffic: {multiplier: 2}\n",
            "    commit: {file: f, target: {path: 'a..b'}, value: 1, message: m}\n",
            6,
            "steps[0].commit.target.path",
            "bad path",
        ),
        (
            "    traffic: {multiplier: 2}\n",
            "    drift: {replicas: 1}\n",
            6,
            "steps[0].drift",
            "needs workload",
        ),
        (
            "description: x\n",
            "description: x\nbehaviours: {'*': {kind: errors}}\n",
            4,
            "behaviours.*",
            "error_rate",
        ),
    ],
)
def test_bad_scenarios_name_file_line_and_key(old: str, new: str, line: int, key: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(errors.ConfigError) as caught:
        scenario.parse(GOOD.replace(old, new, 1), "t.yaml")
    problem = caught.value.problems[0]
    assert (problem.file, problem.line, problem.key) == ("t.yaml", line, key)
    assert message in problem.message


def test_good_minimal_scenario_defaults() -> None:
    s = scenario.parse(GOOD)
    assert s.workload == ()
    assert s.steps[0].traffic == scenario.Traffic("checkout", multiplier=2.0)
    assert s.expect.touches is None


def test_not_yaml_and_missing_file() -> None:
    with pytest.raises(errors.ConfigError, match="not YAML"):
        scenario.parse("a: [1,\n", "x.yaml")
    with pytest.raises(errors.ConfigError, match="cannot read"):
        scenario.load(Path("/nonexistent/scenario.yaml"))


@pytest.mark.parametrize(
    ("path", "parsed"),
    [
        ("spec.replicas", (("spec", None), ("replicas", None))),
        ("images[name=ghcr.io/acme/cart].newTag", (("images", "name=ghcr.io/acme/cart"), ("newTag", None))),
        ("spec.containers[0].image", (("spec", None), ("containers", "0"), ("image", None))),
    ],
)
def test_split_path(path: str, parsed: tuple[tuple[str, str | None], ...]) -> None:
    assert scenario.split_path(path) == parsed


def test_demo_repo_yaml_parses_and_labels_are_consistent(demo: Path, locate) -> None:
    files = [p for p in demo.rglob("*.yaml") if "templates" not in p.parts]
    assert len(files) >= 9
    for path in files:
        docs = [d for d in YAML(typ="safe").load_all(path.read_text()) if d is not None]
        assert docs, path
        for doc in docs:
            if doc.get("kind") == "Deployment":
                app = path.parent.name
                labels = doc["spec"]["template"]["metadata"]["labels"]
                assert labels["app"] == app
                assert doc["spec"]["selector"]["matchLabels"] == {"app": app}
    checkout = locate(
        demo / "apps/checkout/deployment.yaml", scenario.Target("spec.replicas", kind="Deployment")
    )
    assert checkout == 2
    image = scenario.Target("image", kind="Deployment", name="checkout", container="checkout")
    assert locate(demo / "apps/checkout/deployment.yaml", image) == "ghcr.io/acme/checkout:1.4.2"
    kustomization = demo / "apps/cart/kustomization.yaml"
    assert locate(kustomization, scenario.Target("images[name=ghcr.io/acme/cart].newTag")) == "2.1.0"
    assert locate(kustomization, scenario.Target("replicas[name=cart].count")) == 2
    values = demo / "apps/catalog/values.yaml"
    assert locate(values, scenario.Target("image.tag")) == "3.0.1"
    assert locate(values, scenario.Target("replicaCount")) == 3
    assert locate(values, scenario.Target("config.SEARCH_BACKEND")) == "opensearch"
    assert (demo / "README.md").read_text().startswith("# acme-shop")
