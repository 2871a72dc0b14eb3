"""One pipeline cycle: observe -> decide -> act -> verify -> record, over a wired Runtime.

``Engine`` keeps what must survive between cycles in process (the decide Memory, which heals are being
verified); everything else is read back from Git and GitHub each cycle. One cycle runs at a time.
Verification runs in background threads so a slow rollout never delays detection for other apps.
"""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import errors, model
from bot.act import execute
from bot.decide import history as hist
from bot.decide import memory as mem
from bot.decide import planner
from bot.observe import snapshot
from bot.record import log
from bot.service import ledger, wiring
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


def targets(rt: wiring.Runtime) -> list[snapshot.Target]:
    return [
        snapshot.Target(
            app=name,
            argocd_app=(spec.argocd_app or (None if spec.selector else name)),
            selector=spec.selector,
            slos=spec.slos,
        )
        for name, spec in rt.settings.apps.items()
    ]


class Engine:
    def __init__(self, rt: wiring.Runtime, *, verify_workers: int = 4) -> None:
        self.rt = rt
        s = rt.settings
        self.memory = mem.Memory()
        self.ledger = ledger.Ledger(
            s, rt.clones, rt.github, bot_logins=frozenset({"githeal", "githeal[bot]"})
        )
        self.targets = targets(rt)
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
        )
        self.tools = execute.Tools(s, rt.clones, rt.argocd, rt.github, rt.clock)
        self.verifier = run.Verifier(
            s, rt.argocd, rt.prometheus, dict(rt.clones), rt.github, rt.metrics, rt.clock, rt.sleep
        )
        self._pool = ThreadPoolExecutor(max_workers=verify_workers, thread_name_prefix="githeal-verify")
        self._watching: dict[str, Future[watcher.Outcome]] = {}
        self._cycle_lock = threading.Lock()
        self.outcomes: dict[str, watcher.Outcome] = {}

    # ------------------------------------------------------------------ verification

    def _verify(self, result: execute.Result) -> None:
        heal_id = result.action.heal_id
        if heal_id in self._watching:
            return

        def job() -> watcher.Outcome:
            outcome = self.verifier.verify(result)
            self.outcomes[heal_id] = outcome
            return outcome

        self._watching[heal_id] = self._pool.submit(job)

    def _resume(self, history: hist.History, now: datetime) -> None:
        """Heals that landed without us watching (a PR merged later, a restart): verify them now."""
        horizon = now - timedelta(seconds=self.rt.settings.verify.timeout)
        for h in history.heals:
            if h.verify in ("success", "failure", "error") or h.at < horizon or h.heal_id in self._watching:
                continue
            if h.app not in self.rt.settings.apps:
                continue
            kinds = {k.value: k for k in model.ActionKind}
            modes = {m.value: m for m in model.Mode}
            action = model.Action(
                app=h.app,
                kind=kinds.get(h.action, model.ActionKind.NOTIFY),
                policy=h.policy,
                mode=modes.get(h.trailers.get("Heal-Mode", ""), model.Mode.AUTO),
                reason=h.subject,
                heal_id=h.heal_id,
            )
            self._verify(
                execute.Result(action, execute.Outcome.COMMITTED, "resumed", h.commit, h.commit, at=h.at)
            )

    def wait_verifications(self, timeout: float | None = None) -> dict[str, watcher.Outcome]:
        deadline = None if timeout is None else time.monotonic() + timeout
        for fut in list(self._watching.values()):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            fut.result(timeout=left)
        return dict(self.outcomes)

    def pending(self) -> int:
        return sum(1 for f in self._watching.values() if not f.done())

    # ------------------------------------------------------------------ escalations

    def _escalate(self, text: str) -> None:
        log.event("plan.escalation", detail=text)
        gh = self.rt.github
        repos = [r for r in self.rt.settings.repos.values() if r.github]
        if gh is None or not repos:
            return
        marker = "escalation=" + hashlib.sha256(text.split(":", 1)[0].encode()).hexdigest()[:12]
        try:
            gh.open_or_update_issue(
                repos[0].github or "",
                f"githeal: {text[:90]}",
                f"githeal stopped automatic heals and needs a human.\n\n{text}\n",
                labels=list(self.rt.settings.guardrails.escalation_labels),
                marker=marker,
            )
        except errors.GitHubError as exc:
            log.event("plan.escalation_failed", error=str(exc))

    # ------------------------------------------------------------------ the cycle

    def run_once(self, apps: list[str] | None = None, *, dry_run: bool = False) -> CycleReport:
        with self._cycle_lock:
            return self._cycle(apps, dry_run)

    def _cycle(self, apps: list[str] | None, dry_run: bool) -> CycleReport:
        rt, s = self.rt, self.rt.settings
        started = time.monotonic()
        now = rt.clock()
        problems: list[str] = []

        def failed(system: str, message: str) -> None:
            problems.append(f"{system}: {message}")
            rt.metrics.errors.labels(system).inc()

        for name, clone in rt.clones.items():
            try:
                with self.verifier._lock(name):
                    clone.sync()
            except errors.GitError as exc:
                failed("git", f"{name}: {exc}")
        try:
            history = self.ledger.read(now)
        except errors.BotError as exc:
            # Without the past, guardrails cannot be checked: decide nothing this cycle.
            failed(exc.__class__.__name__, str(exc))
            history = None
        snap = snapshot.observe(self.sources, self.targets, now, only=apps, on_error=failed)
        self.memory = mem.remember(self.memory, snap, s.policies)
        if history is None:
            plan = model.Plan(at=snap.at, escalations=("history unreadable: no heals this cycle",))
        else:
            plan = planner.plan(snap, s.policies, s.guardrails, history, self.memory, now=now)
        for skip in plan.skips:
            rt.metrics.decisions.labels(skip.app, skip.policy, "held").inc()
        for action in plan.actions:
            rt.metrics.decisions.labels(action.app, action.policy, "planned").inc()
        results = execute.execute(plan, snap, self.tools, dry_run=dry_run) if plan.actions else []
        for r in results:
            a = r.action
            rt.metrics.heals.labels(a.app, a.policy, a.kind.value, a.mode.value, r.outcome.value).inc()
            if r.outcome is execute.Outcome.FAILED:
                failed("act", r.detail)
        if not dry_run:
            for text in plan.escalations:
                self._escalate(text)
            for r in execute.landed(results):
                self._verify(r)
            if history is not None:
                self._resume(history, now)
        rt.metrics.breaching.set(sum(1 for o in snap.apps.values() if any(r.breaching for r in o.slos)))
        seconds = time.monotonic() - started
        rt.metrics.cycle_seconds.observe(seconds)
        rt.metrics.last_cycle.set(time.time())
        log.event("cycle.done", seconds=round(seconds, 3), actions=len(plan.actions), skips=len(plan.skips))
        return CycleReport(now, snap, plan, results, history or hist.History(), seconds, problems)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
