"""One pipeline cycle: observe -> decide -> act -> verify -> record, over a wired Runtime.

``Engine`` runs one cycle at a time and wires the parts that each have one job: ``ledger`` reads the
past back from Git and GitHub, ``observe.fleet`` discovers apps, ``supervise`` runs verifications in
background threads, ``record.verdicts`` records outcomes and escalations. Process memory is a cache
(the decide Memory, the heals being watched); everything that decides is re-read each cycle.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType

from bot import errors, model, process
from bot.act import execute, message
from bot.decide import memory as mem
from bot.decide import past as hist
from bot.decide import planner
from bot.observe import fleet, snapshot, trend
from bot.record import log, metrics
from bot.service import ledger, shards, supervise, wiring
from bot.settings import policy as pol
from bot.settings import tree
from bot.verify import run, watcher


@dataclass
class CycleReport:
    at: datetime
    snapshot: model.Snapshot
    plan: model.Plan
    results: list[execute.Result]
    history: hist.History
    seconds: float
    errors: list[str] = field(default_factory=list)
    app_errors: dict[str, str] = field(default_factory=dict)  # app -> "stage: message" (its boundary)
    discovered: fleet.Discovered | None = None  # None: no fleet template configured


def target(name: str, spec: tree.AppSpec, repos: Mapping[str, tree.RepoSettings]) -> snapshot.Target:
    repo = repos.get(spec.repo)
    return snapshot.Target(
        app=name,
        argocd_app=(spec.argocd_app or (None if spec.selector else name)),
        selector=spec.selector,
        slos=spec.slos,
        repo_url=repo.url if repo is not None else "",
        paths=spec.paths,
        metric_name=spec.metric_name,
    )


def targets(rt: wiring.Runtime) -> list[snapshot.Target]:
    return [target(name, spec, rt.settings.repos) for name, spec in rt.settings.apps.items()]


quiet_gc = process.quiet_gc  # a cycle (and its report) runs without cyclic collection


class Engine:
    def __init__(
        self, rt: wiring.Runtime, *, verify_workers: int = 4, shard: shards.Shard | None = None
    ) -> None:
        self.rt = rt
        s = rt.settings
        self.configured = s  # the settings as loaded; each cycle adds the apps discovered from Argo CD
        self._fleet_slos = frozenset(name for spec in s.fleets.values() for name in spec.slos)
        self.shard = shard
        self.discovered = fleet.Discovered({})
        self.derived: dict[str, tree.RepoSettings] = {}  # repos given by credential templates, kept
        self._new_repos = False  # a derived repo was first cloned this cycle: its past is read again
        self.memory = mem.Memory()
        self.ledger = ledger.Ledger(
            s, rt.clones, rt.github, bot_logins=frozenset({"githeal", "githeal[bot]"})
        )
        self.targets = targets(rt)
        regressions = pol.regression_triggers(s.policies)  # deploy evidence is read only when asked for
        self.sources = snapshot.Sources(
            argocd=rt.argocd,
            prometheus=rt.prometheus,
            slos=tuple(s.slos.values()),
            projects=s.argocd.projects,
            app_label=s.prometheus.app_label,
            step=s.prometheus.step,
            offset=s.prometheus.offset,
            timeout=s.prometheus.timeout,
            load_query=s.prometheus.load_query,
            replicas_query=s.prometheus.replicas_query,
            instants=mem.steps_needed(s.policies),
            deploy_window=max((t.window for t in regressions), default=0.0),
            deploy_baseline=max((t.baseline for t in regressions), default=0.0),
            rollouts=bool(pol.rollout_triggers(s.policies)),
        )
        self.tools = execute.Tools(s, rt.clones, rt.argocd, rt.github, rt.clock, sli=self._sli)
        self.supervisor = supervise.Supervisor(rt.metrics, rt.sleep, workers=verify_workers)
        self.verifier = run.Verifier(
            s,
            rt.argocd,
            rt.prometheus,
            dict(rt.clones),
            rt.github,
            rt.metrics,
            rt.clock,
            self.supervisor.sleep,
        )
        self.supervisor.verifier = self.verifier
        self._cycle_lock = threading.Lock()
        self._notified: set[str] = set()
        self._escalated: set[str] = set()

    # ------------------------------------------------------------------ evidence

    def _sli(self, app: str) -> execute.Sli:
        """The error ratio of the app's first ratio SLO over its longest page window, for the sparkline
        (display only: no reader or no data gives an empty series, never a failed heal)."""
        slo = next((x for x in self.rt.settings.app_slos(app) if x.kind == "ratio"), None)
        if slo is None or not slo.windows or self.rt.ranges is None:
            return execute.Sli()
        pages = [w for w in slo.windows if w.severity is model.Severity.PAGE] or list(slo.windows)
        span = max(w.long for w in pages)
        end = self.rt.clock().timestamp() - self.rt.settings.prometheus.offset
        values = trend.error_ratio(self.rt.ranges, slo, app, end, span)
        return execute.Sli(f"{slo.name} error ratio", model.format_duration(span), values)

    def _read_git(
        self, now: datetime, names: Sequence[str]
    ) -> tuple[list[tuple[str, str]], hist.History | None]:
        """Sync the clones ``names`` then read the ledger from them: the problems met, and the History
        (None when unreadable: without the past, guardrails cannot be checked, nothing is decided)."""
        found: list[tuple[str, str]] = []
        for name in names:
            try:
                with self.verifier._lock(name):
                    self.rt.clones[name].sync()
            except errors.GitError as exc:
                found.append(("git", f"{name}: {exc}"))
        try:
            return found, self.ledger.read(now, repos=names)
        except errors.BotError as exc:
            found.append((metrics.system_of(exc, default="ledger"), str(exc)))
            return found, None

    # ------------------------------------------------------------------ fleet

    def _discover(self, statuses: Sequence[model.AppStatus]) -> list[snapshot.Target]:
        """This cycle's discovered apps (level-triggered: recomputed from Argo CD every cycle)."""
        s = self.configured
        found = self._clone_derived(fleet.discover_in(s, statuses))
        self.discovered = found
        for skip in found.skipped:
            log.event(
                "fleet.skipped", application=skip.application, template=skip.template, reason=skip.reason
            )
        self._use_apps({**s.apps, **found.apps})
        repos = self.rt.settings.repos
        return [target(name, spec, repos) for name, spec in found.apps.items()]

    def _clone_derived(self, found: fleet.Discovered) -> fleet.Discovered:
        """Clone (once, lazily) each repo a credential template gave to an app of this shard; a repo that
        cannot be cloned skips its Applications with the reason, and is tried again next cycle."""
        failed: dict[str, str] = {}
        needed = {spec.repo for app, spec in found.apps.items() if self.owns(app)}
        for name, repo in found.repos.items():
            if name in self.derived or name not in needed:
                continue  # cloned already (it keeps its first URL), or only other shards' apps use it
            clone = wiring.working_clone(repo, self.rt.sleep)
            try:
                with self.verifier._lock(name):
                    clone.sync()
            except errors.GitError as exc:
                failed[name] = f"cloning {clone.redact(repo.url)} with its credential template failed: {exc}"
                continue
            log.event("fleet.repo_derived", repo=name, url=clone.redact(repo.url))
            self.derived[name] = repo
            self.rt.clones[name] = clone  # the ledger and the heal path read this same mapping
            self.verifier.clones[name] = clone
            self._new_repos = True
        if not failed:
            return found
        gone = {n: spec for n, spec in found.apps.items() if spec.repo in failed}
        skipped = tuple(
            fleet.Skipped(f"{spec.app_namespace or '-'}/{n}", spec.template, failed[spec.repo])
            for n, spec in gone.items()
        )
        return replace(
            found,
            apps={n: spec for n, spec in found.apps.items() if n not in gone},
            skipped=found.skipped + skipped,
            repos={n: r for n, r in found.repos.items() if n not in failed},
        )

    def _use_apps(self, apps: Mapping[str, tree.AppSpec]) -> None:
        """Every stage of this cycle (and the verifications it starts) sees the same app and repo set."""
        repos = {**self.derived, **self.configured.repos}
        settings = replace(self.configured, apps=MappingProxyType(dict(apps)), repos=MappingProxyType(repos))
        self.rt.settings = settings
        self.tools.settings = settings
        self.verifier.settings = settings
        self.ledger.settings = settings

    def owns(self, app: str) -> bool:
        return self.shard is None or self.shard.owns(app)

    # ------------------------------------------------------------------ verification (supervise.py)

    @property
    def outcomes(self) -> dict[str, watcher.Outcome]:
        return self.supervisor.outcomes

    @property
    def _watching(self) -> dict[str, Future[watcher.Outcome | None]]:
        return self.supervisor.watching

    def _verify(self, result: execute.Result) -> None:
        self.supervisor.watch(result)

    def _resume(self, history: hist.History, now: datetime) -> None:
        self.supervisor.resume(history, now)

    def wait_verifications(self, timeout: float | None = None) -> dict[str, watcher.Outcome]:
        return self.supervisor.wait(timeout)

    def pending(self) -> int:
        return self.supervisor.pending()

    # ------------------------------------------------------------------ escalations

    def _escalate(self, text: str) -> bool:
        """Open (or update) the escalation issue; False when GitHub failed, so the next cycle retries."""
        log.event("plan.escalation", detail=text)
        repos = [r for r in self.rt.settings.repos.values() if r.github]
        if self.rt.github is None or not repos:
            return True
        head = text.split(":", 1)[0]
        app = head if head in self.rt.settings.apps else None
        # per-app escalations carry the app, so the ledger opens that app's circuit while it is open
        hidden = message.hidden_block({"app": head, "escalation": text}) if app else ""
        issue = self.verifier.recorder.escalate(
            repos[0].github or "",
            title=f"githeal: {text[:90]}",
            body=f"githeal stopped automatic heals and needs a human.\n\n{text}\n\n{hidden}\n",
            marker="escalation=" + hashlib.sha256(head.encode()).hexdigest()[:12],
            app=app,
        )
        return issue is not None

    # ------------------------------------------------------------------ the cycle

    def _sent(self, action: model.Action) -> bool:
        return action.kind is model.ActionKind.NOTIFY and action.heal_id in self._notified

    def run_once(self, apps: list[str] | None = None, *, dry_run: bool = False) -> CycleReport:
        with self._cycle_lock, quiet_gc():
            return self._cycle(apps, dry_run)

    def _cycle(self, apps: list[str] | None, dry_run: bool) -> CycleReport:
        rt, s = self.rt, self.rt.settings
        started = time.monotonic()
        now = rt.clock()
        problems: list[str] = []
        by_app: dict[str, str] = {}

        def failed(system: str, message: str) -> None:
            problems.append(f"{system}: {message}")
            rt.metrics.error(system)

        def app_failed(app: str, stage: str, message: str) -> None:
            """One app's failure: reported with its name, counted, and the other apps go on."""
            problems.append(f"{app}: {stage}: {message}")
            by_app.setdefault(app, f"{stage}: {message}")
            rt.metrics.app_errors.labels(app, stage).inc()

        # Git (sync, then the ledger) runs beside the observation's HTTP requests (issue 10 P1): the
        # two share nothing (observe never reads a clone), and the clones are the ones known now; a
        # repo first cloned by this cycle's discovery is read after it, as before.
        git_side = process.beside("githeal-cycle-git", self._read_git, now, list(rt.clones))
        snap = snapshot.observe(
            self.sources,
            self.targets,
            now,
            only=apps,
            on_error=failed,
            fleet=self._discover if self.configured.fleets else None,
            fleet_slos=self._fleet_slos,
            owns=self.owns if self.shard is not None else None,
        )
        s = self.rt.settings  # with this cycle's discovered apps
        git_problems, history = git_side.result()
        problems[:0] = [f"{system}: {text}" for system, text in git_problems]  # in the order they ran
        for system, _ in git_problems:
            rt.metrics.error(system)
        if self._new_repos and history is not None:
            # a repo first cloned during discovery: read its heals too before deciding anything for it
            self._new_repos = False
            try:
                history = self.ledger.read(now)
            except errors.BotError as exc:
                failed(metrics.system_of(exc, default="ledger"), str(exc))
                history = None
        self.memory = mem.remember(self.memory, snap, s.policies, apps=s.apps)
        if history is None:
            plan = model.Plan(at=snap.at, escalations=("history unreadable: no heals this cycle",))
        else:
            plan = planner.plan(snap, s.policies, s.guardrails, history, self.memory, now=now, apps=s.apps)
        for skip in plan.skips:
            rt.metrics.decisions.labels(skip.app, skip.policy, "held").inc()
        for action in plan.actions:
            rt.metrics.decisions.labels(action.app, action.policy, "planned").inc()
        todo = plan
        if not dry_run:
            # notify actions are re-planned every cycle under the same heal id (Git records nothing
            # for them): one issue per incident, not one update per cycle
            fresh = tuple(a for a in plan.actions if not self._sent(a))
            todo = replace(plan, actions=fresh)
        results = execute.execute(todo, snap, self.tools, dry_run=dry_run) if todo.actions else []
        for r in results:
            a = r.action
            rt.metrics.heal(a.app, a.policy, a.kind.value, a.mode.value, r.outcome.value)
            if r.outcome is execute.Outcome.FAILED:
                app_failed(a.app, "act", r.detail)
            elif r.outcome is execute.Outcome.NOTIFIED:
                self._notified.add(a.heal_id)
        if not dry_run:
            for r in execute.landed(results):
                self._verify(r)  # first: verification asks Argo CD to refresh at once (issue 12 §2)
            for text in plan.escalations:
                if text not in self._escalated and self._escalate(text):
                    self._escalated.add(text)
            if apps is None:
                # forget what is no longer planned: if it comes back (a human closed the issue), say it again
                self._escalated &= set(plan.escalations)
                self._notified &= {a.heal_id for a in plan.actions}
            if history is not None:
                self._resume(history, now)
        if history is not None:
            rt.metrics.set_circuits(history.open_escalations, s.apps)
        rt.metrics.observed.set(len(snap.apps))
        if rt.github is not None and rt.github.rate_remaining is not None:
            rt.metrics.github_rate_remaining.set(rt.github.rate_remaining)
        rt.metrics.breaching.set(sum(1 for o in snap.apps.values() if any(r.breaching for r in o.slos)))
        seconds = time.monotonic() - started
        rt.metrics.cycle_seconds.observe(seconds)
        rt.metrics.last_cycle.set(time.time())
        log.event("cycle.done", seconds=round(seconds, 3), actions=len(plan.actions), skips=len(plan.skips))
        found = self.discovered if self.configured.fleets else None
        return CycleReport(
            now, snap, plan, results, history or hist.History(), seconds, problems, by_app, found
        )

    def close(self, wait: float = 5.0) -> None:
        """Stop watching: running verifications end at their next sleep, queued ones never start."""
        self.supervisor.close(wait)
