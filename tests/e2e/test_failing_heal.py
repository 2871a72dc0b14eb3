"""A heal that does not help: the rollback lands and syncs, but checkout keeps failing (the payment
provider broke at the same moment, so the good image errors too). Verification must fail, exactly one
escalation issue must open, the app's circuit must open from that issue, and no second heal follows.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import healkit
import pytest

from bot import model
from bot.act import execute, message
from bot.record import auditlog as heal_history
from bot.record import log
from bot.sandbox import behaviour as bhv
from bot.sandbox import world as sandbox
from bot.service import cycle, report
from bot.verify import watcher

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]
AFTER = 6  # cycles run after the verification failed


@dataclass
class Failed:
    loop: healkit.Loop
    result: execute.Result
    outcome: watcher.Outcome
    after: list[cycle.CycleReport]
    logs: str = ""
    children: list[str] = field(default_factory=list)  # argv + environment of git/ssh children seen


class ChildSampler(threading.Thread):
    """Samples the command line and environment of every git/ssh process while the story runs
    (fetches, pushes, clones), as ``ps e`` would show them to another user of the host."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.seen: dict[str, str] = {}

    def run(self) -> None:
        while not self.stop.wait(0.02):
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit() or proc.name in self.seen:
                    continue
                try:
                    argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    if "git" not in argv and "ssh" not in argv:
                        continue
                    env = (proc / "environ").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                self.seen[proc.name] = f"{argv}\n{env}"


@pytest.fixture(scope="module")
def failed() -> Iterator[Failed]:
    # JSON logs of the whole story, as a log pipeline would receive them
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log.JsonFormatter())
    log.LOGGER.addHandler(handler)
    level = log.LOGGER.level
    log.LOGGER.setLevel(logging.DEBUG)
    sampler = ChildSampler()
    sampler.start()
    with healkit.running(verify=healkit.SHORT_VERIFY) as loop:
        loop.good_then_bad()
        # the provider outage: every checkout image fails from now on, the rollback cannot fix it
        loop.world.sim.set_behaviour("ghcr.io/acme/checkout:*", bhv.Behaviour("errors", error_rate=0.3))

        def merged() -> bool:
            return any(r.outcome is execute.Outcome.MERGED for r in loop.results())

        assert loop.cycles_until(merged, timeout=60), [r.detail for r in loop.results()]
        result = next(r for r in loop.results() if r.outcome is execute.Outcome.MERGED)
        outcome = loop.engine.wait_verifications(timeout=90)[result.action.heal_id]
        start = len(loop.reports)
        for _ in range(AFTER):
            loop.cycles_until(lambda: False, timeout=0.5, every=0.5)
        sampler.stop.set()
        log.LOGGER.removeHandler(handler)
        log.LOGGER.setLevel(level)
        children = list(sampler.seen.values())
        yield Failed(loop, result, outcome, loop.reports[start:], stream.getvalue(), children)


def test_verification_fails_because_the_slo_still_burns(failed: Failed) -> None:
    assert not failed.outcome.success
    assert failed.outcome.still_burning, failed.outcome.reason
    assert failed.outcome.synced_at is not None and failed.outcome.healthy_at is not None
    heal = failed.result.commit or ""
    statuses = failed.loop.world.github_state()["statuses"][heal]
    assert [s["state"] for s in statuses if s["context"] == "githeal/verify"] == ["pending", "failure"]
    comments = healkit.pulls(failed.loop.world)[0]["comments"]
    assert len(comments) == 1 and "did not work" in comments[0]["body"]


def test_exactly_one_escalation_issue_names_the_app(failed: Failed) -> None:
    issues = healkit.issues(failed.loop.world)
    assert len(issues) == 1, [i["title"] for i in issues]
    issue = issues[0]
    settings = failed.loop.world.settings()
    assert set(settings.guardrails.escalation_labels) <= set(issue["labels"])
    assert issue["state"] == "open"
    data = message.parse_hidden(issue["body"])
    assert data is not None and data["app"] == "checkout"
    assert data["heal_id"] == failed.result.action.heal_id
    assert "did not help" in issue["body"]
    # issue 12 section 5: the evidence bundle, gathered from the real chain (Argo CD emulator, Git)
    bundle = json.loads(issue["body"].split("```json", 1)[1].split("```", 1)[0])
    assert bundle["app"] == "checkout" and bundle["heal"]["heal_id"] == failed.result.action.heal_id
    assert bundle["heal"]["action"] == "rollback" and bundle["commits"]["good_revision"]
    assert bundle["sli"]["values"] and bundle["argocd"]["events"]


def test_the_circuit_opens_from_the_issue(failed: Failed) -> None:
    last = failed.after[-1]
    assert "checkout" in last.history.open_escalations
    number = healkit.issues(failed.loop.world)[0]["number"]
    assert last.history.open_escalations["checkout"] == f"acme/shop-manifests#{number}"
    registry = failed.loop.rt.metrics.registry
    assert registry.get_sample_value("githeal_circuit_open", {"app": "checkout"}) == 1


def test_no_second_heal_follows(failed: Failed) -> None:
    assert all(r.action.app != "checkout" for rep in failed.after for r in rep.results)
    heals = heal_history.read_history(failed.loop.world.bare, rev="main")
    assert [(h.app, h.action) for h in heals] == [("checkout", "rollback")]
    assert len(healkit.pulls(failed.loop.world)) == 1
    # still burning, still held back: the burn is seen, the guardrails say why nothing is done
    last = failed.after[-1]
    assert any(r.page for r in last.snapshot.apps["checkout"].slos)
    held = [s.reason for s in last.plan.skips if s.app == "checkout"]
    assert held and all(("circuit open" in h) or ("never roll back a heal" in h) for h in held), held
    assert model.ActionKind.ROLLBACK not in {a.kind for a in last.plan.actions}


def test_no_secret_in_any_output(failed: Failed) -> None:
    """Issue 9 §6: with known values for every secret the world configures (the Argo CD token and the
    GitHub token), none appears in logs, metrics, reports, commits, PRs, issues, comments, statuses,
    the clones' .git/config, or the argv and environment of the git children sampled during the run."""
    w, rt = failed.loop.world, failed.loop.rt
    secrets = (sandbox.ARGO_TOKEN, sandbox.GITHUB_TOKEN)
    assert failed.logs and len(failed.children) > 3  # the scan saw real output and real git children
    places = {
        "logs": failed.logs,
        "metrics": rt.metrics.render().decode()
        if isinstance(rt.metrics.render(), bytes)
        else str(rt.metrics.render()),
        "reports": "\n".join(report.dumps(report.cycle_json(r)) for r in failed.loop.reports),
        "github": json.dumps(w.github_state()),
        "commits": healkit.bare_git(w, "log", "--all", "--format=%H%n%B"),
        "outcome": f"{failed.outcome.reason} {failed.result.detail}",
        "children": "\n".join(failed.children),
    }
    for clone in rt.clones.values():
        places[f"{clone.path}/.git/config"] = (clone.path / ".git" / "config").read_text()
    leaks = [(where, s) for where, text in places.items() for s in secrets if s in text]
    assert leaks == [], leaks
