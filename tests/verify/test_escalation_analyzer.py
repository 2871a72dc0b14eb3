"""Escalation evidence and the analyzer seam (issue 12 section 5), on the GitHub emulator over HTTP.

An escalation issue carries the evidence bundle (SLI trend, Argo CD events and resource health, commits
since the last good revision, the heal tried). The configured analyzer is a real command fed the
bundle as JSON on stdin; its markdown lands under its own heading. The issue is opened before the
analyzer runs, so a failing analyzer only adds a note and a slow one is killed at its time limit.
"""

from __future__ import annotations

import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot import cli, settings
from bot.clients import github as ghclient
from bot.record import analyzer, evidence, metrics, verdicts
from bot.sandbox.github import server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "github"))
from ghkit import BOT, REPO, TOKEN, Workspace, make_github

BUNDLE = evidence.bundle(
    app="checkout",
    problem="the heal did not help: SLO still burning after 5m",
    heal={"heal_id": "h-123", "action": "rollback", "policy": "rollback-on-burn", "reason": "burn 31x"},
    sli_name="availability",
    sli_window="1h",
    sli=[0.001, 0.002, 0.31, float("nan"), 0.30],
    events=["Normal OperationCompleted: Sync operation to abc1234 succeeded"],
    resources=evidence.unhealthy(
        [
            {"kind": "Deployment", "name": "checkout", "health": {"status": "Healthy"}},
            {
                "kind": "Pod",
                "name": "checkout-7d9",
                "health": {"status": "Degraded", "message": "CrashLoopBackOff: back-off 5m0s"},
            },
        ]
    ),
    good_revision="aaaaaaa1111111",
    bad_revision="bbbbbbb2222222",
    commits=[{"sha": "bbbbbbb2222222", "subject": "checkout: bump to 2.0.0", "author": "dev"}],
)

GOOD = """
import json, sys
b = json.load(sys.stdin)
print("Likely cause: `" + b["commits"]["since_good"][0]["subject"] + "`")
print("Pod says: " + b["argocd"]["resources"][0]["message"])
print("Heal tried: " + b["heal"]["action"] + ", last SLI " + str(b["sli"]["values"][-1]))
"""
FAILING = "import sys; sys.stdin.read(); print('model quota exceeded', file=sys.stderr); sys.exit(3)"
SLOW = "import sys, time; sys.stdin.read(); time.sleep(30); print('too late')"


def script(tmp_path: Path, name: str, code: str) -> tuple[str, ...]:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(code))
    return (sys.executable, str(path))


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[server.GitHubEmulator]:
    ws = Workspace(tmp_path)
    with server.GitHubEmulator({REPO: ws.bare}, tokens={TOKEN: BOT}) as e:
        yield e


def recorder(emu: server.GitHubEmulator, tool: analyzer.Analyzer | None) -> verdicts.Recorder:
    client = ghclient.GitHubClient(make_github(emu.api_url))
    return verdicts.Recorder(client, metrics.Metrics(), ("githeal",), analyzer=tool)


def escalate(rec: verdicts.Recorder) -> Any:
    return rec.escalate(
        REPO,
        title="githeal: checkout heal h-123 did not help",
        body="githeal stopped automatic heals and needs a human.",
        marker="heal-id=h-123",
        app="checkout",
        evidence=BUNDLE,
    )


def issues(emu: server.GitHubEmulator) -> list[dict[str, Any]]:
    return list(emu.state(REPO)["issues"])


def test_the_analyzer_output_is_added_under_its_own_heading(
    emu: server.GitHubEmulator, tmp_path: Path
) -> None:
    issue = escalate(recorder(emu, analyzer.Analyzer(script(tmp_path, "good", GOOD), 10.0)))
    assert issue is not None
    [opened] = issues(emu)
    body = opened["body"]
    assert opened["labels"] == ["githeal"] and opened["state"] == "open"
    # the evidence, readable and in full
    assert evidence.HEADING in body
    assert "CrashLoopBackOff: back-off 5m0s" in body and "checkout: bump to 2.0.0" in body
    assert "rollback `h-123`" in body and '"values": [' in body and "null" in body  # NaN -> null
    # the analysis, after the evidence, under its own heading, computed from the bundle on stdin
    analysis = body.split(evidence.ANALYSIS_HEADING, 1)[1]
    assert body.index(evidence.HEADING) < body.index(evidence.ANALYSIS_HEADING)
    assert "Likely cause: `checkout: bump to 2.0.0`" in analysis
    assert "Pod says: CrashLoopBackOff: back-off 5m0s" in analysis
    assert "Heal tried: rollback, last SLI 0.3" in analysis
    assert body.count(ghclient.marker_tag("heal-id=h-123")) == 1  # still found as the same incident


def test_a_failing_analyzer_leaves_the_issue_with_a_note(emu: server.GitHubEmulator, tmp_path: Path) -> None:
    issue = escalate(recorder(emu, analyzer.Analyzer(script(tmp_path, "failing", FAILING), 10.0)))
    assert issue is not None
    [opened] = issues(emu)
    assert evidence.HEADING in opened["body"] and "CrashLoopBackOff" in opened["body"]
    assert "failed: exited with status 3: model quota exceeded" in opened["body"]


def test_a_missing_analyzer_command_is_a_note_too(emu: server.GitHubEmulator, tmp_path: Path) -> None:
    issue = escalate(recorder(emu, analyzer.Analyzer((str(tmp_path / "no-such-analyzer"),), 10.0)))
    assert issue is not None
    [opened] = issues(emu)
    assert "could not start" in opened["body"] and evidence.HEADING in opened["body"]


def test_a_slow_analyzer_is_killed_at_its_limit_and_the_issue_is_open_before(
    emu: server.GitHubEmulator, tmp_path: Path
) -> None:
    rec = recorder(emu, analyzer.Analyzer(script(tmp_path, "slow", SLOW), 2.0))
    done: list[Any] = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: done.append(escalate(rec)))
    worker.start()
    # while the analyzer is still running, the escalation is already on GitHub with its evidence
    deadline = time.monotonic() + 5.0
    while not issues(emu) and time.monotonic() < deadline:
        time.sleep(0.05)
    [early] = issues(emu)
    assert worker.is_alive() and evidence.HEADING in early["body"]
    assert evidence.ANALYSIS_HEADING not in early["body"]
    worker.join(timeout=10.0)
    took = time.monotonic() - started
    assert not worker.is_alive() and done and done[0] is not None
    assert 2.0 <= took < 6.0  # the limit, plus GitHub calls; never the analyzer's 30 s
    [final] = issues(emu)
    assert "failed: timed out after 2s" in final["body"] and "too late" not in final["body"]


def test_without_an_analyzer_the_issue_carries_the_evidence_only(emu: server.GitHubEmulator) -> None:
    assert escalate(recorder(emu, None)) is not None
    [opened] = issues(emu)
    assert evidence.HEADING in opened["body"] and evidence.ANALYSIS_HEADING not in opened["body"]


def test_the_analyzer_setting(tmp_path: Path) -> None:
    base = tmp_path / "githeal.yaml"
    (tmp_path / "t").write_text("t")
    common = f"""
        version: 1
        prometheus: {{url: "http://127.0.0.1:9"}}
        argocd: {{url: "http://127.0.0.1:9", token: {{file: "{tmp_path / "t"}"}}}}
        repos: {{m: {{url: "{tmp_path / "r.git"}", branch: main, workdir: "{tmp_path / "w"}"}}}}
        apps: {{a: {{paths: ["a/**"]}}}}
    """
    base.write_text(textwrap.dedent(common) + "analyzer: {command: 'triage --format md', timeout: 10s}\n")
    loaded = settings.load(base)
    assert loaded.analyzer is not None
    assert (loaded.analyzer.command, loaded.analyzer.timeout) == (("triage", "--format", "md"), 10.0)
    base.write_text(textwrap.dedent(common) + "analyzer: {command: [triage]}\n")
    assert settings.load(base).analyzer == settings.tree.AnalyzerSettings(("triage",), 30.0)
    base.write_text(textwrap.dedent(common) + "analyzer: {command: '  '}\n")
    res = CliRunner().invoke(cli.main, ["validate", str(base)])
    assert res.exit_code == 2 and "analyzer.command" in res.output and "Traceback" not in res.output
