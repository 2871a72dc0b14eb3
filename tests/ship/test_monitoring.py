"""Watching the healer: the PrometheusRule passes ``promtool check rules`` and its ``promtool test
rules`` unit tests, and every metric named by the rules and the Grafana dashboard is exported on
/metrics of a running ``githeal run`` (issue 11 §4), which stops cleanly on SIGTERM (§2)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import shipsvc
from ruamel.yaml import YAML
from shipdefs import DEPLOY

RULE = DEPLOY / "base" / "prometheusrule.yaml"
RULE_TESTS = DEPLOY / "monitoring" / "githeal-alerts.test.yaml"
DASHBOARD = DEPLOY / "monitoring" / "githeal-dashboard.json"
HAVE_PROMTOOL = shutil.which("promtool") is not None
METRIC = re.compile(r"\bgitheal_[a-z_]+\b")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
ALERTS = {
    "GithealNotCycling",
    "GithealCyclesSlowerThanInterval",
    "GithealHealsFailingVerification",
    "GithealCircuitOpen",
    "GithealDependencyFailing",
}


def rule_groups() -> list[dict[str, object]]:
    doc = YAML(typ="safe").load(RULE.read_text())
    assert doc["kind"] == "PrometheusRule"
    groups: list[dict[str, object]] = doc["spec"]["groups"]
    return groups


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def rule_exprs() -> list[str]:
    return [str(r["expr"]) for g in rule_groups() for r in g["rules"]]  # type: ignore[attr-defined]


@pytest.mark.skipif(not HAVE_PROMTOOL, reason="promtool not installed (make prometheus)")
def test_rules_check_and_unit_tests_pass(tmp_path: Path) -> None:
    YAML().dump({"groups": rule_groups()}, tmp_path / "githeal-rules.yaml")
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    check = subprocess.run(
        ["promtool", "check", "rules", "githeal-rules.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 5 rules found" in check.stdout
    unit = subprocess.run(
        ["promtool", "test", "rules", RULE_TESTS.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr
    names = {r["alert"] for g in rule_groups() for r in g["rules"]}  # type: ignore[attr-defined]
    assert names == ALERTS
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert tested == ALERTS  # every alert has a unit test


def test_dashboard_covers_the_healer() -> None:
    dash = json.loads(DASHBOARD.read_text())
    titles = {p["title"] for p in dash["panels"] if p["type"] != "row"}
    assert {
        "Time since last cycle",
        "Cycles per minute",
        "Cycle duration",
        "Apps breaching",
        "Heals by action and outcome",
        "Verification results",
        "Open circuits",
        "Errors by system",
    } <= titles
    assert all(
        t["datasource"]["uid"] == "${datasource}" for p in dash["panels"] for t in p.get("targets", [])
    )


def exported_names(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def base_name(name: str, exported: set[str]) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in exported:
            return name[: -len(suffix)]
    return name


@pytest.mark.slow
def test_every_metric_in_rules_and_dashboard_is_served_and_sigterm_stops_the_service(tmp_path: Path) -> None:
    config = shipsvc.write_config(tmp_path)
    proc, url = shipsvc.start([sys.executable, "-c", "from bot.cli import main; main()"], config)
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert time.monotonic() - started < 10
    assert "service.stopping signal=SIGTERM" in out
    exported = exported_names(text)
    named = {m for expr in dashboard_exprs() + rule_exprs() for m in METRIC.findall(expr)}
    missing = {n for n in named if base_name(n, exported) not in exported}
    assert not missing, f"named in deploy/ but not on /metrics: {sorted(missing)}"
    assert len(named) >= 7
