"""Verify one landed heal end to end and have its verdict recorded once, where a reviewer looks.

Asks Argo CD to refresh (and to sync when the app has no automated sync), waits with the watcher,
then hands the outcome to ``record.verdicts``: commit status ``githeal/verify`` on the heal commit
(the first verdict recorded owns it, across replicas), a comment on its PR, metrics and, when the heal
did not help, one escalation issue per incident (which opens the app's circuit). Heals that landed
while nobody watched (a PR merged later, a restart) get the same path through ``resumed``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from bot import errors, model
from bot.act import execute, message
from bot.clients import argocd, gitrepo, prometheus
from bot.clients import github as githubclient
from bot.decide import past as hist
from bot.record import analyzer, evidence, log, metrics, trailers, verdicts
from bot.settings import tree
from bot.verify import postheal, verdict, watcher

CONTEXT = verdicts.CONTEXT


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

    def __post_init__(self) -> None:
        if self.templates is None:
            self.templates = self.settings.templates  # the config's override directory, if any
        found = self.settings.analyzer
        self.recorder = verdicts.Recorder(
            self.github,
            self.metrics,
            tuple(self.settings.guardrails.escalation_labels),
            analyzer=analyzer.Analyzer(found.command, found.timeout) if found is not None else None,
        )

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

    def _since(self, app: str) -> watcher.ReadSince:
        slos = self.settings.app_slos(app)
        p = self.settings.prometheus
        metric = self.settings.apps[app].metric_name or app  # the Prometheus app label value

        def read(since: datetime, now: datetime) -> Mapping[str, model.Sample]:
            at = postheal.instant(now, p.offset)
            return postheal.read(self.prometheus, slos, metric, since, at, timeout=p.timeout)

        return read

    def verify(self, result: execute.Result) -> watcher.Outcome:
        action, heal = result.action, result.commit or result.landed or ""
        spec = self.settings.apps[action.app]
        repo = self.settings.repos[spec.repo]
        name = result.argocd_app or spec.argocd_app or action.app
        # Argo CD first, before any GitHub call: its Git poll takes minutes, the refresh makes it read
        # the heal now (time to recovery, issue 12 §2); a replica that already judged it changes nothing
        self.kick(name, action.app)
        recorded = self.recorder.recorded(repo.github, heal)
        if recorded is not None:
            # another replica (or an earlier run) already judged this heal: its verdict stands, and
            # claiming it again puts it back on top should a pending status have landed after it
            recorded = self.recorder.claim(repo.github, heal, recorded.state, recorded.description)
            return _adopted(watcher.Outcome(False, verdict.Phase.FAILED, "", self.clock()), recorded)
        pushed_at = result.at or self.clock()
        self.recorder.pending(repo.github, heal, "waiting for Argo CD to sync and the SLO to recover")
        w = watcher.Watcher(
            read_app=lambda: self.argocd.status(name),
            read_since=self._since(action.app),
            slos=self.settings.app_slos(action.app),
            contains=self._contains(spec.repo, heal),
            clock=self.clock,
            sleep=self.sleep,
            interval=self.interval,
            timeout=self.settings.verify.timeout,
            period=self.settings.verify.period,
            lag=self.settings.prometheus.offset,
        )
        outcome = w.wait(heal, pushed_at)
        return self._record(result, outcome, repo)

    def kick(self, name: str, app: str) -> None:
        """Ask Argo CD to refresh the app (and to sync it when it has no automated sync)."""
        try:
            status = self.argocd.refresh(name)  # a refresh that times out still lets the sync below run
            if not status.auto_sync and not status.operation_running:
                self.argocd.sync(name, status.project or None)
        except errors.ArgoCDError as exc:
            log.event("verify.kick_failed", app=app, error=str(exc))

    def _record(
        self, result: execute.Result, outcome: watcher.Outcome, repo: tree.RepoSettings
    ) -> watcher.Outcome:
        action, heal = result.action, result.commit or result.landed or ""
        state = "success" if outcome.success else "failure"
        owned = self.recorder.claim(repo.github, heal, state, outcome.reason)
        if not owned.owned:
            log.event(
                "verify.adopted", app=action.app, heal_id=action.heal_id, state=owned.state, commit=heal
            )
            return _adopted(outcome, owned)
        # the heal itself was counted once when executed; the verdict is its own series
        took = (self.clock() - outcome.started_at).total_seconds()
        self.metrics.verified(action.app, action.kind.value, outcome.success, took)
        log.event(
            "verify." + state, app=action.app, heal_id=action.heal_id, reason=outcome.reason, commit=heal
        )
        ctx = result.context
        if repo.github is None or ctx is None:
            return outcome
        if result.pr is not None:
            details = [outcome.reason, *milestones(outcome)]
            body = message.verify_comment(ctx, state=state, details=details)
            self.recorder.comment(repo.github, result.pr.number, body)
        if not outcome.success:
            self._escalate(result, outcome, repo.github, ctx)
        return outcome

    def _escalate(
        self, result: execute.Result, outcome: watcher.Outcome, repo: str, ctx: message.HealContext
    ) -> None:
        events: list[str] = []
        name = self.settings.apps[result.action.app].argocd_app or result.action.app
        try:
            for e in self.argocd.events(name)[-5:]:
                events.append(f"{e.get('type', '')} {e.get('reason', '')}: {e.get('message', '')}")
        except errors.ArgoCDError:
            pass
        resources: list[dict[str, str]] = []
        try:
            resources = evidence.unhealthy(self.argocd.resource_tree(name).get("nodes", []))
        except errors.ArgoCDError as exc:
            resources = [{"resource": "(resource tree)", "status": "Unknown", "message": str(exc)}]
        ctx = replace(ctx, events=tuple(events), next_steps=outcome.advice())
        problem = f"the heal did not help: {outcome.reason}"
        bundle = evidence.bundle(
            app=result.action.app,
            problem=problem,
            heal={
                "heal_id": result.action.heal_id,
                "action": result.action.kind.value,
                "policy": result.action.policy,
                "reason": result.action.reason,
                "commit": result.commit or "",
                "verdict": "failure",
            },
            sli_name=ctx.sli_name,
            sli_window=ctx.sli_window,
            sli=ctx.sli,
            events=events,
            resources=resources,
            good_revision=ctx.good_revision,
            bad_revision=ctx.bad_revision,
            commits=[{"sha": c.sha, "subject": c.subject, "author": c.author} for c in ctx.commits],
        )
        self.recorder.escalate(
            repo,
            title=message.issue_title(ctx),
            body=message.issue_body(ctx, problem=problem, templates=self.templates),
            marker=f"heal-id={result.action.heal_id}",
            app=result.action.app,
            evidence=bundle,
        )

    def resumed(self, heal: model.HealRecord, proposals: Sequence[hist.Proposal]) -> execute.Result:
        """A heal that landed without a watcher, with the context an immediate heal has: its PR (when
        merged through one) and its message context read back from the commit's trailers. Its
        ``at`` is when it landed on the branch: a PR's merge time, not when the bot opened it."""
        kinds = {k.value: k for k in model.ActionKind}
        modes = {m.value: m for m in model.Mode}
        t = {k.lower(): v for k, v in heal.trailers.items()}
        mode = modes.get(t.get(trailers.HEAL_MODE.lower(), ""), model.Mode.AUTO)
        action = model.Action(
            app=heal.app,
            kind=kinds.get(heal.action, model.ActionKind.NOTIFY),
            policy=heal.policy,
            mode=mode,
            reason=heal.subject,
            heal_id=heal.heal_id,
        )
        prop = landed_through(heal, proposals)
        repo = self.settings.repos[self.settings.apps[heal.app].repo].github
        pr: githubclient.PrRef | None = None
        if prop is not None and self.github is not None and repo is not None:
            try:
                pr = self.github.pr_state(repo, prop.number)
            except errors.GitHubError as exc:
                log.event("verify.pr_unreadable", app=heal.app, pr=prop.number, error=str(exc))
        observed = t.get(trailers.HEAL_OBSERVED.lower(), "")
        ctx = message.HealContext(
            app=heal.app,
            action=heal.action,
            policy=heal.policy,
            mode=mode.value,
            reason=heal.subject,
            heal_id=heal.heal_id,
            strategy=t.get(trailers.HEAL_STRATEGY.lower(), ""),
            signal=t.get(trailers.HEAL_SIGNAL.lower(), ""),
            observed=tuple(x.strip() for x in observed.split(";") if x.strip()),
            good_revision=t.get(trailers.HEAL_GOOD.lower(), ""),
            bad_revision=t.get(trailers.HEAL_BAD.lower(), ""),
            pr_url=pr.html_url if pr is not None else "",
        )
        outcome = execute.Outcome.MERGED if prop is not None else execute.Outcome.COMMITTED
        return execute.Result(
            action,
            outcome,
            "resumed",
            heal.commit,
            heal.landed or heal.commit,
            pr=pr,
            context=ctx,
            at=landed_at(heal, proposals),
        )


def landed_through(heal: model.HealRecord, proposals: Sequence[hist.Proposal]) -> hist.Proposal | None:
    return next((p for p in proposals if p.heal_id == heal.heal_id and p.state == "merged"), None)


def landed_at(heal: model.HealRecord, proposals: Sequence[hist.Proposal]) -> datetime:
    """When the heal reached the target branch: its PR's merge time, else its commit time."""
    prop = landed_through(heal, proposals)
    if prop is not None and prop.at != datetime.min and prop.at > heal.at:
        return prop.at
    return heal.at


def _adopted(outcome: watcher.Outcome, recorded: verdicts.Verdict) -> watcher.Outcome:
    ok = recorded.state == "success"
    return replace(
        outcome,
        success=ok,
        phase=verdict.Phase.VERIFIED if ok else verdict.Phase.FAILED,
        reason=f"verdict already recorded: {recorded.description}",
    )


def milestones(o: watcher.Outcome) -> list[str]:
    """When the heal synced, turned healthy and recovered, relative to the start of verification."""
    out = []
    for label, t in (("synced", o.synced_at), ("healthy", o.healthy_at), ("recovered", o.recovered_at)):
        if t is not None:
            out.append(f"{label} after {(t - o.started_at).total_seconds():.0f}s")
    return out
