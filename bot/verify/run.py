"""Verify one landed heal end to end and record the outcome where a reviewer looks for it.

Asks Argo CD to refresh (and to sync when the app has no automated sync), waits with the watcher,
then records: commit status ``githeal/verify`` on the heal commit, a comment on its PR, metrics, and,
when the heal did not help, one escalation issue per incident (which opens the app's circuit).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot import errors, model
from bot.act import execute, message
from bot.clients import argocd, gitrepo, prometheus
from bot.clients import github as githubclient
from bot.observe import collect
from bot.record import log, metrics
from bot.settings import tree
from bot.verify import watcher

CONTEXT = "githeal/verify"


@dataclass
class Verifier:
    settings: tree.Settings
    argocd: argocd.ArgoCDClient
    prometheus: prometheus.PrometheusClient
    clones: dict[str, gitrepo.WorkingClone]
    github: githubclient.GitHubClient | None
    metrics: metrics.Metrics
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    locks: dict[str, threading.Lock] = field(default_factory=dict)
    templates: Path | None = None
    interval: float = 2.0

    def _lock(self, repo: str) -> threading.Lock:
        return self.locks.setdefault(repo, threading.Lock())

    def _contains(self, repo: str, heal: str) -> Callable[[str], bool]:
        clone = self.clones[repo]

        def contains(rev: str) -> bool:
            if not rev:
                return False
            if rev == heal:
                return True
            with self._lock(repo):
                try:
                    return clone.is_ancestor(heal, rev)
                except errors.GitError:
                    clone.fetch()  # Argo CD saw a commit we have not fetched yet
                    return clone.is_ancestor(heal, rev)

        return contains

    def _slos(self, app: str) -> Callable[[datetime], Sequence[model.SLOReport]]:
        slos = self.settings.app_slos(app)
        p = self.settings.prometheus

        def read(now: datetime) -> Sequence[model.SLOReport]:
            at = collect.evaluation_time(now.timestamp(), min(p.step, 5.0), p.offset)
            return collect.collect_slos(self.prometheus, slos, [app], at, timeout=p.timeout).get(app, ())

        return read

    def _status(self, repo: str | None, sha: str, state: str, description: str) -> None:
        if self.github is None or repo is None:
            return
        try:
            self.github.set_status(repo, sha, state, CONTEXT, description=description)
        except errors.GitHubError as exc:
            log.event("verify.status_failed", sha=sha, error=str(exc))

    def verify(self, result: execute.Result) -> watcher.Outcome:
        action, heal = result.action, result.commit or result.landed or ""
        spec = self.settings.apps[action.app]
        repo = self.settings.repos[spec.repo]
        name = spec.argocd_app or action.app
        pushed_at = result.at or self.clock()
        self._status(repo.github, heal, "pending", "waiting for Argo CD to sync and the SLO to recover")
        try:
            status = self.argocd.status(name, refresh="normal")
            if not status.auto_sync and not status.operation_running:
                self.argocd.sync(name, status.project or None)
        except errors.ArgoCDError as exc:
            log.event("verify.kick_failed", app=action.app, error=str(exc))
        w = watcher.Watcher(
            read_app=lambda: self.argocd.status(name),
            read_slos=self._slos(action.app),
            slos=self.settings.app_slos(action.app),
            contains=self._contains(spec.repo, heal),
            clock=self.clock,
            sleep=self.sleep,
            interval=self.interval,
            timeout=self.settings.verify.timeout,
            period=self.settings.verify.period,
            settle=max((w.short for s in self.settings.app_slos(action.app) for w in s.windows), default=0.0),
        )
        outcome = w.wait(heal, pushed_at)
        self._record(result, outcome, repo)
        return outcome

    def _record(self, result: execute.Result, outcome: watcher.Outcome, repo: tree.RepoSettings) -> None:
        action, heal = result.action, result.commit or result.landed or ""
        state = "success" if outcome.success else "failure"
        self._status(repo.github, heal, state, outcome.reason)
        # the heal itself was counted once when executed; the verdict is its own series
        took = (self.clock() - outcome.started_at).total_seconds()
        self.metrics.verified(action.app, action.kind.value, outcome.success, took)
        log.event(
            "verify." + state, app=action.app, heal_id=action.heal_id, reason=outcome.reason, commit=heal
        )
        gh, ctx = self.github, result.context
        if gh is None or repo.github is None or ctx is None:
            return
        try:
            details = [outcome.reason, *milestones(outcome)]
            if result.pr is not None:
                gh.comment(
                    repo.github, result.pr.number, message.verify_comment(ctx, state=state, details=details)
                )
            if not outcome.success:
                self._escalate(result, outcome, repo.github, ctx)
        except errors.GitHubError as exc:
            log.event("verify.record_failed", app=action.app, error=str(exc))

    def _escalate(
        self, result: execute.Result, outcome: watcher.Outcome, repo: str, ctx: message.HealContext
    ) -> None:
        assert self.github is not None
        events: list[str] = []
        try:
            for e in self.argocd.events(
                self.settings.apps[result.action.app].argocd_app or result.action.app
            )[-5:]:
                events.append(f"{e.get('type', '')} {e.get('reason', '')}: {e.get('message', '')}")
        except errors.ArgoCDError:
            pass
        ctx = ctx.__class__(**{**ctx.__dict__, "events": tuple(events), "next_steps": _next_steps(outcome)})
        issue = self.github.open_or_update_issue(
            repo,
            message.issue_title(ctx),
            message.issue_body(
                ctx, problem=f"the heal did not help: {outcome.reason}", templates=self.templates
            ),
            labels=list(self.settings.guardrails.escalation_labels),
            marker=f"heal-id={result.action.heal_id}",
        )
        self.metrics.circuit_open.labels(result.action.app).set(1)
        log.event(
            "verify.escalated", app=result.action.app, issue=issue.number, heal_id=result.action.heal_id
        )


def milestones(o: watcher.Outcome) -> list[str]:
    """When the heal synced, turned healthy and recovered, relative to the start of verification."""
    out = []
    for label, t in (("synced", o.synced_at), ("healthy", o.healthy_at), ("recovered", o.recovered_at)):
        if t is not None:
            out.append(f"{label} after {(t - o.started_at).total_seconds():.0f}s")
    return out


def _next_steps(o: watcher.Outcome) -> tuple[str, ...]:
    steps = ["Check the app's recent Argo CD events and pod logs."]
    if o.still_burning:
        steps.append(
            "The rollback did not stop the burn: suspect a dependency or infrastructure, not this deploy."
        )
    else:
        steps.append("Argo CD did not reach Synced + Healthy at the heal commit in time: check sync errors.")
    steps.append("Close this issue (or remove its label) to let githeal act on this app again.")
    return tuple(steps)
