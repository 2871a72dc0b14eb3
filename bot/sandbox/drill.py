"""``githeal drill``: play a scenario (``bot/sandbox/scenarios``) in a fresh sandbox World, time the heal.

Per run: a World shaped by the scenario, the Engine cycling in a background thread (none of its
policies with ``baseline``: GitOps alone), the scenario's steps played on time, and a watcher that
timestamps detection, the heal commit or PR, Argo CD synced at a revision containing it, and recovery
(the scenario's conditions holding for its ``for``). Times are seconds from the step that breaks things.
It only drives and observes the World; the bot inside decides and acts on its own.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot import errors, model
from bot.act import edit
from bot.sandbox import canary as canaries
from bot.sandbox import mttr
from bot.sandbox import scenario as scn
from bot.sandbox import world as sandbox
from bot.service import cycle

Report = cycle.CycleReport
# the results live in mttr; re-exported for callers of the drill
Run = mttr.Run
DrillReport = mttr.DrillReport
table = mttr.table
CREATED = ("committed", "merged", "synced", "automerge", "proposed")  # execute.Outcome values


TRIGGERS = ("regression", "burn-rate")
# the regression trigger of the drill: a deploy is analysed for 2 minutes against the minute before it
REGRESSION: dict[str, Any] = {"window": "2m", "baseline": "1m", "min_events": 100, "alpha": 0.001}


@dataclass(frozen=True)
class Tuning:
    """``time_scale`` shrinks step offsets and delays, the recovery hold and the limits alike (tests use
    ~0.3); ``limit`` overrides the total limit in seconds after scaling. ``trigger``: ``regression`` adds
    the regression rollback policy in front of the burn-rate ones; ``burn-rate`` leaves them alone."""

    time_scale: float = 1.0
    limit: float | None = None
    interval: float = 1.0  # the bot's cycle
    poll: float = 0.25
    error_window: str = "15s"
    scrape_interval: str = "5s"  # Prometheus's (issue 12 §2: the MTTR target holds at 5 s scrapes)
    trigger: str = "regression"


def resolve(name_or_path: str | Path) -> scn.Scenario:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return scn.load(path)
    known = scn.load_all()
    if str(name_or_path) not in known:
        problem = errors.Problem(str(name_or_path), None, "", f"no such scenario; known: {', '.join(known)}")
        raise errors.ConfigError([problem])
    return known[str(name_or_path)]


def world_options(sc: scn.Scenario, baseline: bool, tuning: Tuning) -> sandbox.Options:
    opts = sandbox.Options(bot=not baseline, interval=tuning.interval, scrape_interval=tuning.scrape_interval)
    if not baseline and tuning.trigger == "regression":
        opts.regression = REGRESSION
    if sc.workload:
        opts.workload = {w.name: w for w in sc.workload}
    opts.behaviours = dict(sc.behaviours)
    opts.canaries = dict(sc.canary)
    if sc.canary:
        opts.regression = None  # the canary's own analysis is the trigger: githeal heals Git on its abort
    opts.config_rules = sc.config_rules
    overrides: dict[str, Any] = {}
    if sc.expect.action is model.ActionKind.RECONCILE:
        # A drift drill expects Git to win (sync back), not the demo's proposal to adopt live state.
        overrides["adopt-drift"] = {
            "do": {"reconcile": {"mode": "enforce"}},
            "mode": "auto",
            "merge": "direct",
        }
    if cart := next((w for w in sc.workload if w.name == "cart"), None):
        # The World's scale trigger suits the demo's light cart traffic; relative to the scenario's capacity,
        # only an overload scales (any bot commit would also make Argo CD re-sync every drifted app).
        overrides["scale-on-load"] = {
            "when": {"load": {"per_replica_above": 0.8 * cart.capacity, "cycles": 2}}
        }
    opts.policy_overrides = overrides
    return opts


def windows(w: sandbox.World, baseline: bool, tuning: Tuning) -> dict[str, Any]:
    """What the run used, read back from the World's config: scrape interval, trigger and windows."""
    cfg = w.config()
    prom = cfg["prometheus"]
    used: dict[str, Any] = {
        "scrape_interval": prom["scrape_interval"],
        "step": prom["step"],
        "cycle": f"{tuning.interval:g}s",
        "argocd_poll": f"{w.options.argo_poll:g}s",
        "trigger": "none (GitOps alone)" if baseline else tuning.trigger,
        "burn_rate_windows": [
            {k: v[k] for k in ("severity", "long", "short", "factor")} for v in cfg["slos"][0]["windows"]
        ],
    }
    if any("rollout_aborted" in p["when"] for p in cfg["policies"]):
        used["trigger"] = "rollout_aborted"
    reg = next((p for p in cfg["policies"] if "regression" in p["when"]), None)
    if reg is not None:
        used["regression"] = dict(reg["when"]["regression"])
    return used


def bad_step(sc: scn.Scenario) -> int:
    """Steps that a later step waits for (``after: synced|healthy``) set the stage; the first step after
    the last of them breaks things."""
    waited = [i - 1 for i, s in enumerate(sc.steps) if i and s.after in ("synced", "healthy")]
    return max(waited, default=-1) + 1


class _Drill:
    def __init__(self, sc: scn.Scenario, w: sandbox.World, run: Run, tuning: Tuning) -> None:
        self.sc, self.w, self.run, self.tuning = sc, w, run, tuning
        self.rt = w.runtime()
        self.t0 = time.monotonic()
        self.engine = cycle.Engine(self.rt)
        self.reports: list[tuple[float, Report]] = []  # each cycle's report, with its completion time
        self.halt = threading.Event()
        self.cycler = threading.Thread(target=self._cycles, name="githeal-drill-cycles", daemon=True)
        self.bad = bad_step(sc)
        self.t_bad: float | None = None
        self.seen = 0
        self.broken = False  # the recovery conditions failed at least once since the bad step
        self.holding: float | None = None
        self.events: dict[str, float] = {"start": 0.0}
        self.canary: canaries.Watch | None = None
        if sc.canary:
            self.canary = canaries.Watch(lambda: w.rollout(sc.app), f"apps/{sc.app}/deployment.yaml")

    def now(self) -> float:
        return time.monotonic() - self.t0

    def note(self, text: str, *, once: bool = False) -> None:
        if not once or all(text != e for _, e in self.run.events):
            self.run.events.append((round(self.now(), 2), text))

    def git(self, *args: str) -> str:
        return sandbox.git(self.w.dir, "--git-dir", str(self.w.bare), *args)

    def _cycles(self) -> None:
        while not self.halt.is_set():
            started = time.monotonic()
            try:
                self.reports.append((self.now(), self.engine.run_once()))
            except Exception as exc:  # a crashed cycle is part of what the drill reports
                self.note(f"cycle failed: {type(exc).__name__}: {exc}")
            self.halt.wait(max(0.0, self.tuning.interval - (time.monotonic() - started)))

    def play(self) -> None:
        s, limits = self.tuning.time_scale, self.sc.limits
        total = self.tuning.limit if self.tuning.limit is not None else limits.total * s
        self._settle()
        self.cycler.start()
        try:
            done, ref = 0, self.w.head()
            while self.now() < total:
                t = self.now()
                self._events(ref)
                if done < len(self.sc.steps) and self._due(self.sc.steps[done], t):
                    ref = self._apply(self.sc.steps[done]) or ref
                    self.t_bad = t if done == self.bad else self.t_bad
                    self.events = {k: v for k, v in self.events.items() if k not in ("synced", "healthy")}
                    done += 1
                if self.t_bad is not None:
                    self._watch(t)
                    if self.run.recovered and self._settled():
                        break
                time.sleep(self.tuning.poll)
        finally:
            self.halt.set()
            self.cycler.join(timeout=30)
            self.engine.close()
            self.rt.close()
        if self.canary is not None:
            self.canary.finish(lambda spec: self.git("show", spec), self._verdict())
            self.run.canary = self.canary.facts
            self.run.exceeded += [] if self.run.baseline else self.canary.problems()
        self.run.seconds = round(self.now(), 2)
        if self.t_bad is not None:
            self.run.watched = round(self.now() - self.t_bad, 2)
        for name, limit in (("detect", limits.detect), ("commit", limits.heal), ("mttr", limits.recover)):
            value = getattr(self.run, name)
            if not self.run.baseline and (value is None or value > limit * s):
                self.run.exceeded.append(f"{name} > {limit * s:.0f}s")
        expected = self.sc.expect
        if self.run.action not in (None, expected.action.value):
            self.run.exceeded.append(f"action {self.run.action}, expected {expected.action.value}")
        if expected.touches and self.run.heal_commit and expected.touches not in self.run.touched:
            self.run.exceeded.append(f"heal did not change {expected.touches}")

    def _settle(self) -> None:
        """Give every app a finished sync, as in a cluster Argo CD has run for a while: automated sync
        without selfHeal then leaves live drift alone (an app that never synced would be re-synced)."""
        for app in sandbox.APPS:
            self.rt.argocd.sync(app)
        done = self.w.wait(
            lambda: all(self.w.argo_app(a)["operation"] == "Succeeded" for a in sandbox.APPS), timeout=30
        )
        if not done:
            raise errors.SandboxError("drill: the initial Argo CD syncs did not finish")
        self.t0 = time.monotonic()

    def _due(self, step: scn.Step, t: float) -> bool:
        s = self.tuning.time_scale
        if step.at is not None:
            return t >= step.at * s
        seen = self.events.get(step.after or "")
        return seen is not None and t >= seen + step.delay * s

    def _apply(self, step: scn.Step) -> str | None:
        if (c := step.commit) is not None:
            sha = self.w.commit(c.file, edit_target(c.target), c.value, c.message)
            self.note(f"commit {sha[:7]} {c.message}")
            return sha
        text = ""
        if (tr := step.traffic) is not None:
            self.w.sim.set_traffic(tr.app, rps=tr.rps, multiplier=tr.multiplier, duration=tr.duration)
            text = f"{tr.app} x{tr.multiplier or 1} rps={tr.rps or '-'} for {tr.duration or '-'}s"
        elif (d := step.drift) is not None:
            self.w.drift(d.app, d.change)
            text = f"{d.app} {dict(d.change)}"
        elif step.behaviours is not None:
            self.w.sim.set_behaviours(step.behaviours)
            text = str(dict(step.behaviours))
        self.note(f"{step.kind}: {text}")
        return None

    def _events(self, ref: str) -> None:
        if "synced" in self.events and "healthy" in self.events:
            return
        a = self.w.argo_app(self.sc.app)
        if a["sync"] == "Synced" and a["revision"] == ref and a.get("liveRevision", ref) == ref:
            self.events.setdefault("synced", self.now())
            if a["health"] == "Healthy":
                self.events.setdefault("healthy", self.now())

    def _watch(self, t: float) -> None:
        r, app, t_bad = self.run, self.sc.app, self.t_bad or 0.0
        if r.live is None and "synced" in self.events and self.events["synced"] >= t_bad:
            r.live = round(self.events["synced"] - t_bad, 2)
            self.note("bad change live (Argo CD synced it)")
        for at, rep in self.reports[self.seen :]:
            self.seen += 1
            if at < t_bad:
                continue
            mine = [a for a in rep.plan.actions if a.app == app]
            if r.detect is None and (mine or any(app in e for e in rep.plan.escalations)):
                r.detect = round(at - t_bad, 2)
                r.action = mine[0].kind.value if mine else "escalation"
                self.note(f"detected: {mine[0].reason if mine else rep.plan.escalations[0]}")
            for text in rep.plan.escalations:
                self.note(f"escalation: {text}", once=True)
            for res in rep.results:
                if res.action.app == app and res.outcome.value in ("refused", "failed", "rejected"):
                    self.note(f"heal {res.outcome.value}: {res.detail}", once=True)
                if res.action.app == app and res.outcome.value in CREATED and r.commit is None:
                    r.commit, r.heal_id = round(at - t_bad, 2), res.action.heal_id
                    r.pr = res.pr.number if res.pr else None
                    self.note(f"heal {res.outcome.value}: {res.detail}")
        if r.heal_id and r.heal_commit is None:
            r.heal_commit = (
                self.git("log", "main", "-n1", "--format=%H", f"--grep=^Heal-Id: {r.heal_id}") or None
            )
            if r.heal_commit:  # against the first parent, so a merge commit lists what it brought in
                r.touched = self.git("diff", "--name-only", f"{r.heal_commit}^", r.heal_commit).split()
        if r.heal_commit and r.synced is None:
            a = self.w.argo_app(app)
            if a["sync"] == "Synced" and self._contains(a["revision"], r.heal_commit):
                r.synced = round(t - t_bad, 2)
                self.note(f"synced at {a['revision'][:7]} (contains heal {r.heal_commit[:7]})")
        if self.canary is not None:
            self.canary.poll(t - t_bad, self.note)
        ratio = self._error_ratio()
        if ratio is not None:
            r.error_ratio = round(ratio, 4)
            r.peak_error_ratio = max(r.peak_error_ratio or 0.0, r.error_ratio)
        ago = self.w.sim.since_last_failure(app)
        failed_at = None if ago is None else t - ago
        if failed_at is not None and failed_at >= t_bad:
            r.last_failure = round(failed_at - t_bad, 2)
        if not self._conditions(ratio, ago):
            self.broken, self.holding = True, None
        elif self.broken and self.holding is None:
            self.holding = t
        hold = self.sc.expect.recovered.hold * self.tuning.time_scale
        if self.holding is not None and t - self.holding >= hold and not r.recovered:
            # recovered when the workload stopped failing: its last failed request (the other
            # conditions, e.g. Argo CD Synced, confirm it for the hold), not a rate window draining
            end = failed_at if failed_at is not None and failed_at >= t_bad else self.holding
            r.recovered, r.mttr = True, round(end - t_bad, 2)
            self.note("recovered")

    def _verdict(self) -> str | None:
        """The heal's githeal/verify verdict (success/failure/error), None while pending or absent."""
        heal = self.run.heal_commit
        if not heal:
            return None
        statuses = self.w.github_state().get("statuses", {})
        return canaries.verdict(statuses, lambda sha: self._contains(sha, heal))

    def _settled(self) -> bool:
        """Canary drills also wait for the heal's verification (Synced+Healthy at the heal, SLO fine)."""
        return self.canary is None or self.run.baseline or self._verdict() is not None

    def _contains(self, revision: str, commit: str) -> bool:
        try:
            self.git("merge-base", "--is-ancestor", commit, revision)
        except errors.SandboxError:
            return False
        return True

    def _query(self, expr: str) -> float | None:
        try:
            values = self.rt.prometheus.query(expr, time.time()).series
        except errors.PrometheusError:
            return None
        return values[0].value if values and values[0].value == values[0].value else None  # NaN: no data

    def _error_ratio(self) -> float | None:
        sel, w = f'app="{self.sc.app}"', self.tuning.error_window
        fails = f'sum(rate(http_requests_total{{{sel},code=~"5.."}}[{w}]))'
        return self._query(f"{fails} / sum(rate(http_requests_total{{{sel}}}[{w}]))")

    def _conditions(self, ratio: float | None, since_failure: float | None) -> bool:
        rec, app = self.sc.expect.recovered, self.sc.app
        a = self.w.argo_app(app)
        live = self.w.live(app)
        workloads = live.get("workloads") or []
        # errors: the workload itself says whether it still fails (no request failed for two polls)
        fresh = 2 * self.tuning.poll
        checks = [
            rec.error_ratio_below is None or since_failure is None or since_failure > fresh,
            rec.health is None or a["health"] == rec.health,
            rec.sync is None or a["sync"] == rec.sync,
            not rec.live_matches_git or a["sync"] == "Synced",
            rec.image is None or any(rec.image in w["images"].values() for w in workloads),
            rec.replicas_at_least is None or any(w["replicas"] >= rec.replicas_at_least for w in workloads),
            all(
                live.get("configmaps", {}).get(cm, {}).get(k) == v
                for cm, kv in rec.config.items()
                for k, v in kv.items()
            ),
        ]
        if rec.latency_p99_below is not None:
            w = self.tuning.error_window
            p99 = self._query(
                "histogram_quantile(0.99, sum by (le) "
                f'(rate(http_request_duration_seconds_bucket{{app="{app}"}}[{w}])))'
            )
            checks.append(p99 is not None and p99 < rec.latency_p99_below)
        return all(checks)


def edit_target(t: scn.Target) -> edit.Target:
    """A scenario's target (kind/name pick the document) as the editor's target."""
    where: dict[str, object] = {"resource": t.kind, "resource_name": t.name}
    segments = t.segments()
    if t.container is not None and t.path == "image":
        return edit.Target.image(t.container, **where)
    head, sel = segments[0]
    if len(segments) == 2 and head == "images" and sel and "=" in sel:
        return edit.Target.kustomize_image(sel.split("=", 1)[1], segments[1][0], **where)
    if t.kind == "ConfigMap" and len(segments) == 2 and head == "data" and sel is None:
        return edit.Target.configmap(segments[1][0], **where)
    if any(sel is not None and not sel.isdigit() for _, sel in segments):
        raise errors.ManifestError(f"drill: cannot address {t.path!r} with the editor", file=None)
    path: list[str | int] = []
    for key, sel in segments:
        path += [key] if sel is None else [key, int(sel)]
    return edit.Target("path", path=tuple(path), resource=t.kind, resource_name=t.name)


def run(
    scenario_name_or_path: str | Path,
    *,
    repeat: int = 1,
    baseline: bool = False,
    output: Callable[[str], object] | None = None,
    tuning: Tuning | None = None,
) -> mttr.DrillReport:
    """Play the scenario ``repeat`` times, each in a fresh World; ``output`` receives progress lines."""
    sc, tuning = resolve(scenario_name_or_path), tuning or Tuning()
    report = mttr.DrillReport(sc.name, sc.app, baseline, [])
    for number in range(1, repeat + 1):
        r = mttr.Run(number, baseline)
        with sandbox.World(world_options(sc, baseline, tuning)) as w:
            report.used = windows(w, baseline, tuning)
            _Drill(sc, w, r, tuning).play()
        report.runs.append(r)
        if output is not None:
            state = f"recovered, MTTR {r.mttr:.1f}s" if r.recovered else "NOT recovered"
            output(f"{sc.name} run {number}/{repeat} ({'baseline' if baseline else 'bot'}): {state}\n")
    return report


def main(
    scenario: str,
    repeat: int = 1,
    baseline: bool = False,
    output_format: str = "table",
    stream: TextIO | None = None,
    tuning: Tuning | None = None,
) -> int:
    """The ``githeal drill`` command: 0 when every bot run recovered within its limits (baseline: always)."""
    out = stream or sys.stdout
    progress = sys.stderr.write if output_format == "table" else None
    report = run(scenario, repeat=repeat, baseline=baseline, tuning=tuning, output=progress)
    out.write(
        json.dumps(report.to_json(), indent=2) + "\n" if output_format == "json" else mttr.table(report)
    )
    ok = all(r.recovered and not r.exceeded for r in report.runs)
    return 0 if baseline or ok else 1
