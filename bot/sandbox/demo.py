"""``githeal demo``: the whole heal loop told as a story on a sandbox World, with a live timeline.

The bot runs in process exactly as the service does (Engine driven by the real Scheduler); the story
steps (deploys, a load spike, live drift) are driven from the main thread, and every event line is
derived from what the emulators' admin APIs and the Engine report. Nothing is faked or shortcut: the
windows are short because the World's options are. Every thread and process started here is stopped
at the end, on failure and on Ctrl-C alike.
"""

from __future__ import annotations

import gc
import queue
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot import errors
from bot.act import edit, execute
from bot.sandbox import timeline, world
from bot.service import audit, cycle, report, scheduler
from bot.verify import run

CHECKOUT_IMAGE = edit.Target.image("checkout")
GOOD, BAD = "ghcr.io/acme/checkout:1.4.3", "ghcr.io/acme/checkout:1.5.0"
SPIKE = (3.0, 12.0)  # cart traffic multiplier, seconds
LOAD_TRIGGER = 20.0  # the World's scale-on-load policy: per_replica_above
LOAD_APPS = ("cart",)  # the apps that policy scales
DRIFT_REPLICAS = 5  # someone runs `kubectl scale deploy/catalog --replicas=5`
STEP_TIMEOUT = 100.0
STEPS = ("bad", "spike", "drift")  # the incidents whose recovery is measured


def options() -> world.Options:
    """The demo's world: the default short windows and a 2 s cycle; catalog syncs by hand, so the live
    drift of step 4 stays until a human decides (Argo CD would otherwise sync it away on the next commit)."""
    return world.Options(interval=2.0, manual_sync=frozenset({"catalog"}))


class Story:
    """Watches the World and the Engine and turns what changed into timeline events."""

    def __init__(self, w: world.World, engine: cycle.Engine, tl: timeline.Timeline) -> None:
        self.w, self.engine, self.tl = w, engine, tl
        self.reports: queue.Queue[cycle.CycleReport] = queue.Queue()
        self.problems: list[str] = []
        self.landed: dict[str, execute.Result] = {}  # heal id -> result
        self.prs: dict[str, execute.Result] = {}  # heal id -> proposed (open) PR
        self._argo: dict[str, tuple[str, str, str]] = {}
        self._expected: list[tuple[str, str, str]] = []
        self.synced: dict[str, timeline.Event] = {}  # sha -> its synced event
        self._burning: set[str] = set()
        self._loaded: set[str] = set()
        self._reported: set[str] = set()
        self.last: cycle.CycleReport | None = None

    def run_cycle(self, apps: list[str] | None) -> cycle.CycleReport:
        rep = self.engine.run_once(apps)
        self.reports.put(rep)
        return rep

    # ------------------------------------------------------------------ turning state into events

    def pump(self) -> None:
        self._argo_events()
        while True:
            try:
                rep = self.reports.get_nowait()
            except queue.Empty:
                break
            self.last = rep
            self._report_events(rep)
        for heal_id, outcome in list(self.engine.outcomes.items()):
            if heal_id in self._reported:
                continue
            self._reported.add(heal_id)
            r = self.landed.get(heal_id)
            app = r.action.app if r else "?"
            what = f"{r.action.kind} {(r.landed or '')[:7]}" if r else heal_id
            steps = ", ".join(run.milestones(outcome))
            if outcome.success:
                self.tl.add(
                    app, "verified", f"{what} verified: {outcome.reason} ({steps}); githeal/verify=success"
                )
            else:
                self.tl.add(app, "failed", f"{what} NOT verified: {outcome.reason}")
                self.problems.append(f"{app}: heal {heal_id} did not verify: {outcome.reason}")

    def expect_sync(self, app: str, sha: str, label: str) -> None:
        """Say (once) when Argo CD runs ``app`` Synced + Healthy at a commit including ``sha``."""
        self._expected.append((app, sha, label))

    def _argo_events(self) -> None:
        for app in world.APPS:
            a = self.w.argo_app(app)
            now = (str(a["revision"] or ""), str(a["sync"]), str(a["health"]))
            before = self._argo.get(app)
            self._argo[app] = now
            # OutOfSync at an unchanged revision is live drift; at a new one it is just a push
            if before is not None and now[1] == "OutOfSync" != before[1] and now[0] == before[0]:
                self.tl.add(app, "drift", f"Argo CD: OutOfSync at {now[0][:7]} (live state differs from Git)")
        for item in list(self._expected):
            app, sha, label = item
            if self.healthy_at(app, sha):
                self._expected.remove(item)
                self.synced[sha] = self.tl.add(app, "synced", f"Argo CD synced {label}: Synced + Healthy")

    def _report_events(self, rep: cycle.CycleReport) -> None:
        for app, obs in sorted(rep.snapshot.apps.items()):
            paging = [r for r in obs.slos if r.page]
            if paging and app not in self._burning:
                self._burning.add(app)
                v = next((v for v in paging[0].verdicts if v.firing), None)
                ratio = f": {v.long.value:.1%} errors over {v.window.name}" if v and v.long.value else ""
                self.tl.add(app, "burn", f"SLO {paging[0].slo} burning, page tier{ratio}")
            elif not paging and app in self._burning and all(r.state == "OK" for r in obs.slos):
                self._burning.discard(app)
                self.tl.add(app, "recovered", "SLO page tier cleared")
            load = obs.load_per_replica if app in LOAD_APPS else None
            if load is not None and load > LOAD_TRIGGER and app not in self._loaded:
                self._loaded.add(app)
                self.tl.add(app, "load", f"load {load:.0f} req/s per replica on {obs.replicas} replicas")
            elif load is not None and load <= LOAD_TRIGGER and app in self._loaded:
                self._loaded.discard(app)
                self.tl.add(app, "recovered", f"load back to {load:.0f} req/s per replica on {obs.replicas}")
        for r in rep.results:
            self._result_event(r)
        for text in rep.plan.escalations:
            if f"escalation: {text}" not in self.problems:  # planned again every cycle it holds
                self.tl.add("", "failed", f"escalation: {text}")
                self.problems.append(f"escalation: {text}")

    def _result_event(self, r: execute.Result) -> None:
        a, out = r.action, execute.Outcome
        pr = f"PR #{r.pr.number}" if r.pr else ""
        what = f"{a.kind} ({a.policy}: {_short(a.reason.rsplit(': ', 1)[-1], 60)})"
        if r.outcome is out.MERGED:
            self.landed[a.heal_id] = r
            self.tl.add(a.app, "pr", f"{pr} opened: {what}")
            self.tl.add(a.app, "merged", f"{pr} auto-merged (trusted policy) as {(r.landed or '')[:7]}")
            self.expect_sync(a.app, r.landed or "", f"the {a.kind} {(r.landed or '')[:7]}")
        elif r.outcome in (out.COMMITTED, out.SYNCED):
            self.landed[a.heal_id] = r
            self.tl.add(a.app, "heal", f"committed to main as {(r.landed or '')[:7]}: {what}")
            self.expect_sync(a.app, r.landed or "", f"the {a.kind} {(r.landed or '')[:7]}")
        elif r.outcome in (out.PROPOSED, out.AUTOMERGE):
            self.prs[a.heal_id] = r
            mode = a.params.get("mode", "")
            kind = f"{mode} {a.kind}" if mode else str(a.kind)
            who = ", ".join(map(str, a.params.get("pr_reviewers") or ())) or "a human"
            url = r.pr.html_url if r.pr else ""
            self.tl.add(a.app, "pr", f"{pr} opened for review by {who}: {kind} ({a.policy}) {url}")
        elif r.outcome in (out.FAILED, out.REFUSED):
            self.tl.add(a.app, "failed", f"{a.kind} {r.outcome}: {r.detail}")
            self.problems.append(f"{a.app}: {a.kind} {r.outcome}: {r.detail}")

    # ------------------------------------------------------------------ waiting

    def until(self, what: str, done: Callable[[], bool], timeout: float = STEP_TIMEOUT) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            if done():
                return True
            if time.monotonic() > deadline:
                self.tl.add("", "failed", f"gave up after {timeout:.0f}s waiting for: {what}")
                self.problems.append(f"did not happen: {what}")
                return False
            time.sleep(0.25)

    def healthy_at(self, app: str, sha: str) -> bool:
        rev, sync, health = self._argo.get(app, ("", "", ""))
        return sync == "Synced" and health == "Healthy" and bool(rev) and self.w.contains(rev, sha)

    def slo_ok(self, apps: tuple[str, ...]) -> bool:
        rep = self.last
        return rep is not None and all(
            (o := rep.snapshot.apps.get(a)) is not None and o.slos and all(s.state == "OK" for s in o.slos)
            for a in apps
        )

    def verified(self, heal: execute.Result | None) -> bool:
        return heal is not None and heal.action.heal_id in self._reported

    def all_verified(self) -> bool:
        return all((o := self.engine.outcomes.get(h)) is not None and o.success for h in self.landed)

    def last_load(self, app: str) -> bool | None:
        """Whether the app's load per replica was above the scale trigger in the last cycle."""
        obs = self.last.snapshot.apps.get(app) if self.last else None
        if obs is None or obs.load_per_replica is None:
            return None
        return obs.load_per_replica > LOAD_TRIGGER

    def heal_of(self, app: str, kind: str, after: int = 0) -> execute.Result | None:
        found = [r for r in self.landed.values() if r.action.app == app and r.action.kind == kind]
        return found[after] if len(found) > after else None


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------- the story


def _good_deploy(w: world.World, story: Story, tl: timeline.Timeline) -> bool:
    tl.step("1. a good deploy rolls out")
    sha = w.commit("apps/checkout/deployment.yaml", CHECKOUT_IMAGE, GOOD, "checkout: release 1.4.3")
    tl.add("checkout", "deploy", f"developer pushes {sha[:7]}: image {GOOD}")
    story.expect_sync("checkout", sha, f"release 1.4.3 {sha[:7]}")
    return story.until("checkout 1.4.3 Synced + Healthy", lambda: sha in story.synced) and story.until(
        "SLO data for every app (Prometheus scraping)", lambda: story.slo_ok(world.APPS), timeout=30
    )


def _bad_deploy(w: world.World, story: Story, tl: timeline.Timeline) -> timeline.Event:
    tl.step("2. a bad deploy of checkout")
    sha = w.commit("apps/checkout/deployment.yaml", CHECKOUT_IMAGE, BAD, "checkout: release 1.5.0")
    start = tl.add("checkout", "deploy", f"developer pushes {sha[:7]}: image {BAD} (30% of requests fail)")
    story.expect_sync("checkout", sha, f"release 1.5.0 {sha[:7]}")
    if story.until("checkout rollback merged", lambda: story.heal_of("checkout", "rollback") is not None):
        story.until(
            "checkout rollback verified", lambda: story.verified(story.heal_of("checkout", "rollback"))
        )
    return start


def _spike(w: world.World, story: Story, tl: timeline.Timeline) -> timeline.Event:
    tl.step("3. a load spike on cart")
    factor, seconds = SPIKE
    w.sim.spike("cart", factor, seconds)
    start = tl.add("cart", "load", f"traffic x{factor:g} for {seconds:.0f}s")
    if story.until("cart scale-up committed", lambda: story.heal_of("cart", "scale") is not None):
        story.until("cart load back under target", lambda: story.last_load("cart") is False, timeout=40)
        if story.until(
            "cart scaled back down to its baseline",
            lambda: story.heal_of("cart", "scale", after=1) is not None,
        ):
            down = story.heal_of("cart", "scale", after=1)
            # a later commit would make Argo CD auto-sync catalog over the drift of step 4
            story.until(
                "cart scale-down synced", lambda: down is not None and (down.landed or "") in story.synced
            )
    return start


def _drift(w: world.World, story: Story, tl: timeline.Timeline) -> timeline.Event:
    tl.step("4. live drift on catalog")
    w.drift("catalog", {"workload": "catalog", "replicas": DRIFT_REPLICAS})
    start = tl.add(
        "catalog", "drift", f"someone runs kubectl scale deploy/catalog --replicas={DRIFT_REPLICAS}"
    )
    story.until(
        "adopt PR opened for a human", lambda: any(r.action.app == "catalog" for r in story.prs.values())
    )
    return start


def _recoveries(
    story: Story, tl: timeline.Timeline, starts: dict[str, timeline.Event]
) -> list[timeline.Recovery]:
    def synced_of(app: str, kind: str, n: int = 0) -> timeline.Event | None:
        heal = story.heal_of(app, kind, after=n)
        return story.synced.get(heal.landed or "") if heal else None

    bad = starts["bad"]
    spike = starts["spike"]
    return [
        timeline.Recovery(
            "bad deploy (checkout)", bad, tl.first("verified", "checkout", bad.at), "bad commit -> verified"
        ),
        timeline.Recovery("load spike (cart)", spike, synced_of("cart", "scale"), "spike -> scale-up synced"),
        timeline.Recovery(
            "load spike (cart)", spike, tl.first("recovered", "cart", spike.at), "spike -> load under target"
        ),
        timeline.Recovery(
            "load spike (cart)", spike, synced_of("cart", "scale", 1), "spike -> back to baseline"
        ),
        timeline.Recovery(
            "drift (catalog)", starts["drift"], tl.first("pr", "catalog"), "drift -> adopt PR opened"
        ),
    ]


def _history(w: world.World, output: TextIO) -> str:
    records = audit.history(repo=None, config=w.settings(), app=None, since=None)
    text = report.history_table(records)
    output.write("\n" + text)
    return text


def _tell(w: world.World, tl: timeline.Timeline, output: TextIO) -> int:
    rt = w.runtime()
    engine = cycle.Engine(rt)
    story = Story(w, engine, tl)
    sched = scheduler.Scheduler(story.run_cycle, interval=w.options.interval)
    starts: dict[str, timeline.Event] = {}
    try:
        tl.add(
            "",
            "info",
            f"sandbox in {w.dir}: Argo CD {w.argo.url}, GitHub {w.github.url}, Prometheus {w.prometheus.url}",
        )
        sched.start()
        if _good_deploy(w, story, tl):
            starts["bad"] = _bad_deploy(w, story, tl)
            starts["spike"] = _spike(w, story, tl)
            starts["drift"] = _drift(w, story, tl)
            story.until("every landed heal verified", story.all_verified, timeout=60)
    finally:
        sched.stop(wait=True)
        story.pump()
        engine.close()
        rt.close()
    tl.console.print()
    if len(starts) == len(STEPS):
        tl.console.print(timeline.recovery_table(_recoveries(story, tl, starts)))
    _history(w, output)
    for r in story.prs.values():
        if r.pr is not None:
            tl.console.print(
                f"left open for a human: {r.action.app} {r.action.kind} PR #{r.pr.number} {r.pr.html_url}"
            )
    ok = len(starts) == len(STEPS) and not story.problems and story.all_verified()
    for p in story.problems:
        tl.console.print(f"[red]problem: {p}[/red]")
    tl.console.print(
        f"[bold]demo {'complete' if ok else 'FAILED'}[/bold]: {len(story.landed)} heal(s) landed, "
        f"{sum(1 for o in engine.outcomes.values() if o.success)} verified, "
        f"{len(story.prs)} PR(s) left for a human, "
        f"{tl.elapsed():.0f}s"
    )
    return 0 if ok else 1


def _collect_interrupted_sockets() -> None:
    """Ctrl-C can land inside an HTTP read, leaving that connection's socket to the garbage collector;
    collect it now, quietly, rather than have it warn at some later, unrelated point."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def main(*, keep: bool = False, output: TextIO = sys.stdout) -> int:
    """Run the demo story; 0 when every step happened and every landed heal verified.

    ``keep`` leaves the sandbox directory (bare repo, clones, Prometheus data) for inspection.
    Exit codes: 1 a step failed, 2 the sandbox cannot start (e.g. no prometheus), 130 Ctrl-C."""
    tl = timeline.Timeline(output)
    workdir = Path(tempfile.mkdtemp(prefix="githeal-demo-")) if keep else None
    tl.console.print(
        "[bold]githeal demo[/bold]: a bad deploy, a load spike and live drift, healed through Git"
    )
    try:
        with world.World(options(), workdir=workdir) as w:
            code = _tell(w, tl, output)
    except KeyboardInterrupt:
        _collect_interrupted_sockets()
        tl.console.print("[yellow]interrupted: the sandbox was stopped[/yellow]")
        return 130
    except errors.SandboxError as exc:
        tl.console.print(f"githeal demo: {exc}", markup=False)
        return 2
    if workdir is not None:
        tl.console.print(f"sandbox kept in {workdir}", markup=False)
    return code
