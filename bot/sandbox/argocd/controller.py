"""The emulated application controller: Git polls, comparisons, sync operations, auto-sync, self-heal, health.

It follows Argo CD's rules (argocd-api.md sections 1 and 5): a sync sets ``operation`` and runs later;
history grows only on a successful full non-dry-run sync; auto-sync tries once per revision; self-heal
backs off 0 s, 2 s, 6 s ... 300 s; refusals raise ``state.RequestError`` with the real gRPC code and
message. All time comes from the injected ``clock``; it must not know about HTTP or JSON layout.
"""

from __future__ import annotations

import copy
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.argocd import rendering, rollouthealth, rollouts, sources, state, workload

REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"


@dataclass(frozen=True)
class Settings:
    poll_interval: float = 120.0  # Argo CD's timeout.reconciliation ...
    poll_jitter: float = 60.0  # ... plus up to this much random jitter (v3 default)
    sync_duration: float = 1.0  # how long an operation stays Running
    self_heal_backoff: tuple[float, float, float] = (2.0, 3.0, 300.0)  # initial, factor, cap
    helm_keys: rendering.HelmKeys = field(default_factory=rendering.HelmKeys)
    seed: int = 0


class Controller:
    def __init__(
        self,
        settings: Settings,
        model: workload.WorkloadModel,
        clock: Callable[[], float],
        health_callback: workload.HealthCallback | None = None,
        analysis_callback: workload.AnalysisCallback | None = None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.clock = clock
        self.health_callback = health_callback
        self.analysis_callback = analysis_callback
        self.lock = threading.RLock()
        self.apps: dict[str, state.App] = {}
        self._rng = random.Random(settings.seed)
        self._version = 1000
        self.refreshed = threading.Condition(self.lock)  # notified whenever a requested refresh is done
        self.stalled = False  # a busy controller: requested refreshes wait in its queue

    # ------------------------------------------------------------------ lifecycle

    def add(self, config: state.AppConfig) -> state.App:
        with self.lock:
            now = self.clock()
            app = state.App(
                name=config.name,
                uid=str(uuid.uuid4()),
                created_at=now,
                spec=config.spec(),
                labels=dict(config.labels),
                app_namespace=config.app_namespace,
            )
            self.apps[app.key] = app
            if config.deployed:
                try:
                    desired: rendering.Rendered | None = self._render(app, app.source)
                except rendering.RenderError:
                    desired = None  # the first reconcile reports it as a ComparisonError
                if desired is not None:
                    state.apply(app, desired, now, prune=True, settled=True)
                    first: dict[str, Any] = {"revision": desired.revision}
                    if app.multi:
                        first = {"sources": app.sources, "revisions": list(desired.revisions)}
                    operation = {"sync": first, "initiatedBy": {"username": "admin"}}
                    app.op_state = state.OpState(
                        {**operation, "retry": {}},
                        "Succeeded",
                        "successfully synced (all tasks run)",
                        now,
                        now,
                        state.sync_result(app, desired, []),
                    )
                    item = state.HistoryItem(
                        0,
                        desired.revision,
                        now,
                        now,
                        app.source,
                        {"username": "admin"},
                        list(desired.revisions),
                        app.sources,
                    )
                    app.add_history(item)
                    app.live_revision = desired.revision or ",".join(desired.revisions)
            self._reconcile(app, now, resolve=True)
            return app

    def tick(self) -> None:
        """One controller pass: advance operations, run due polls and comparisons, refresh health."""
        with self.lock:
            now = self.clock()
            for app in list(self.apps.values()):
                if REFRESH_ANNOTATION in app.annotations and not self.stalled:
                    self.process_refresh(app)
                elif now >= app.next_poll:
                    self._reconcile(app, now, resolve=True)
                elif app.compare_at is not None and now >= app.compare_at:
                    self._reconcile(app, now, resolve=False)
                self._advance(app, now)  # after the comparison, so an auto-sync it requested starts now
                self._update_health(app, now)

    def refresh(self, name: str, hard: bool = False) -> state.App:
        """A forced refresh: re-resolve the target revision (no cache) and compare; returns when done."""
        with self.lock:
            app = self.apps[name]
            if hard:
                rendering.tree.cache_clear()
            self._reconcile(app, self.clock(), resolve=True)
            return app

    def request_refresh(self, app: state.App, kind: str) -> None:
        """What ``GET ?refresh=`` does first: annotate the app; the controller's next pass processes it."""
        app.annotations[REFRESH_ANNOTATION] = kind
        self.touch(app)

    def process_refresh(self, app: state.App) -> None:
        """The controller picks up the refresh annotation, reconciles, removes it and wakes the waiters."""
        kind = app.annotations.pop(REFRESH_ANNOTATION, "normal")
        self.refresh(app.key, hard=kind == "hard")
        self.refreshed.notify_all()

    def touch(self, app: state.App, spec_changed: bool = False) -> None:
        self._version += 1
        app.resource_version = self._version
        app.generation += 1 if spec_changed else 0

    # ------------------------------------------------------------------ reconcile

    def _render(
        self,
        app: state.App,
        source: dict[str, Any],
        revision: str | None = None,
        revisions: list[str] | None = None,
    ) -> rendering.Rendered:
        if app.multi:
            return sources.render_all(
                app.sources,
                revisions,
                app=app.name,
                namespace=app.namespace,
                helm_keys=self.settings.helm_keys,
            )
        repo = rendering.repo_path(str(source.get("repoURL", "")))
        sha = rendering.resolve(repo, revision or str(source.get("targetRevision", "")))
        params = {
            str(p.get("name")): str(p.get("value"))
            for p in (source.get("helm") or {}).get("parameters") or []
        }
        return rendering.render(
            repo,
            sha,
            str(source.get("path", "")),
            app=app.name,
            namespace=app.namespace,
            helm_keys=self.settings.helm_keys,
            helm_params=params,
        )

    def _reconcile(self, app: state.App, now: float, *, resolve: bool) -> None:
        app.compare_at = None
        if resolve:
            app.next_poll = (
                now + self.settings.poll_interval + self._rng.uniform(0, self.settings.poll_jitter)
            )
            try:
                app.desired = self._render(app, app.source)
                app.conditions = [c for c in app.conditions if c["type"] != "ComparisonError"]
            except rendering.RenderError as exc:
                app.desired = None
                self._condition(app, now, "ComparisonError", f"Failed to load target state: {exc.message}")
        old_status = app.sync_status
        app.reconciled_at = now
        app.compared_to = {"source": app.source, "destination": dict(app.spec.get("destination") or {})}
        if app.multi:
            app.compared_to["sources"] = app.sources
        if app.desired is None:
            app.sync_status, app.sync_revision, app.sync_revisions = "Unknown", "", []
        else:
            app.sync_status, app.resources = state.compare(app.desired, app.live, app.ignore_differences)
            app.sync_revision, app.sync_revisions = app.desired.revision, list(app.desired.revisions)
        if old_status and old_status != app.sync_status:
            app.event(now, "ResourceUpdated", f"Updated sync status: {old_status} -> {app.sync_status}")
        self._update_health(app, now)
        self._auto_sync(app, now)
        self.touch(app)

    def _condition(self, app: state.App, now: float, kind: str, message: str) -> None:
        app.conditions = [c for c in app.conditions if c["type"] != kind]
        app.conditions.append({"type": kind, "message": message, "lastTransitionTime": now})

    def _auto_sync(self, app: state.App, now: float) -> None:
        auto = app.automated
        if auto is None or app.operation is not None or app.sync_status != "OutOfSync" or app.desired is None:
            return
        if all(s.requires_pruning for s in app.resources if s.status == "OutOfSync") and not auto.get(
            "prune"
        ):
            return  # only extra resources, and pruning is not allowed
        revision, last = app.desired.revision, app.op_state
        revisions = list(app.desired.revisions)
        attempts = 0
        same = last is not None and (
            last.operation.get("sync", {}).get("revisions") == revisions
            if app.multi
            else last.revision == revision
        )
        if last is not None and same and last.finished_at is not None:
            if last.phase != "Succeeded":
                tried = f"[{', '.join(revisions)}]" if app.multi else f"[{revision}]"
                self._condition(app, now, "SyncError", f"Failed last sync attempt to {tried}: {last.message}")
                return
            if not auto.get("selfHeal"):
                return  # most recent sync already to this revision
            attempts = int(last.operation.get("sync", {}).get("autoHealAttemptsCount", 0))
            initial, factor, cap = self.settings.self_heal_backoff
            delay = 0.0 if attempts == 0 else min(initial * factor ** (attempts - 1), cap)
            if now < last.finished_at + delay:
                app.compare_at = last.finished_at + delay
                return
            attempts += 1
        sync: dict[str, Any] = {"revision": revision, "prune": bool(auto.get("prune"))}
        if app.sync_options:
            sync["syncOptions"] = app.sync_options
        if app.multi:  # appcontroller.go autoSync: Source nil, Sources + Revisions (index-aligned)
            sync["sources"], sync["revisions"] = app.sources, revisions
        else:
            sync["source"] = app.source
        if attempts:
            sync["autoHealAttemptsCount"] = attempts
        retry = (app.spec.get("syncPolicy") or {}).get("retry") or {"limit": 5}
        self._start(app, now, {"sync": sync, "initiatedBy": {"automated": True}, "retry": retry})
        app.event(now, "OperationStarted", f"Initiated automated sync to '{revision or revisions}'")

    # ------------------------------------------------------------------ operations

    def _start(self, app: state.App, now: float, operation: dict[str, Any]) -> None:
        app.operation, app.op_state = operation, None
        self.touch(app, spec_changed=True)

    def request_sync(self, app: state.App, body: dict[str, Any], user: str) -> None:
        if app.operation is not None:
            raise state.RequestError(9, "another operation is already in progress")
        now, source = self.clock(), app.source
        target, revision = str(source.get("targetRevision", "")), str(body.get("revision") or "")
        sync: dict[str, Any]
        if app.multi:
            sync = sources.sync_request(app.sources, app.automated is not None, body)
            revision, sha = "", str(sync["revisions"])
        else:
            if revision and app.automated is not None and not body.get("dryRun") and revision != target:
                raise state.RequestError(9, f"Cannot sync to {revision}: auto-sync currently set to {target}")
            try:
                sha = rendering.resolve(
                    rendering.repo_path(str(source.get("repoURL", ""))), revision or target
                )
            except rendering.RenderError as exc:
                raise state.RequestError(2, exc.message) from exc
            sync = {"revision": sha}
        sync.update(prune=bool(body.get("prune")), dryRun=bool(body.get("dryRun")))
        if body.get("strategy"):
            sync["syncStrategy"] = body["strategy"]
        if body.get("resources"):
            sync["resources"] = body["resources"]
        options = (body.get("syncOptions") or {}).get("items") or app.sync_options
        if options:
            sync["syncOptions"] = list(options)
        retry = body.get("retryStrategy") or (app.spec.get("syncPolicy") or {}).get("retry") or {}
        self._start(app, now, {"sync": sync, "initiatedBy": {"username": user}, "retry": retry})
        app.event(now, "OperationStarted", f"{user} initiated sync to {revision or target} ({sha})")

    def request_rollback(
        self, app: state.App, history_id: int, prune: bool, dry_run: bool, user: str
    ) -> None:
        if app.automated is not None:
            raise state.RequestError(9, "rollback cannot be initiated when auto-sync is enabled")
        if app.operation is not None:
            raise state.RequestError(9, "another operation is already in progress")
        entry = next((h for h in app.history if h.id == history_id), None)
        if entry is None:
            raise state.RequestError(
                3, f"application {app.app_namespace}/{app.name} does not have deployment with id {history_id}"
            )
        sync: dict[str, Any] = {"revision": entry.revision, "prune": prune, "dryRun": dry_run}
        sync["syncStrategy"] = {"apply": {}}
        if entry.revisions:  # a multi-source deployment: its own revisions and sources
            sync.update(sources=copy.deepcopy(entry.sources), revisions=list(entry.revisions))
        else:
            sync["source"] = copy.deepcopy(entry.source)
        self._start(app, self.clock(), {"sync": sync, "initiatedBy": {"username": user}, "retry": {}})
        app.event(self.clock(), "OperationStarted", f"{user} initiated rollback to {history_id}")

    def request_terminate(self, app: state.App) -> None:
        if app.operation is None or app.op_state is None or app.op_state.phase != "Running":
            raise state.RequestError(3, "Unable to terminate operation. No operation is in progress")
        app.op_state.phase = "Terminating"
        self.touch(app)

    def _advance(self, app: state.App, now: float) -> None:
        op = app.op_state
        if op is not None and op.phase == "Terminating":
            op.phase, op.message, op.finished_at, app.operation = "Failed", "Operation terminated", now, None
            app.event(
                now, "OperationCompleted", f"Sync operation to {op.revision} failed: Operation terminated"
            )
            self.touch(app, spec_changed=True)
            return
        if app.operation is not None and op is None:
            op = app.op_state = state.OpState(app.operation, "Running", "one or more tasks are running", now)
            self.touch(app)
        if op is not None and op.phase == "Running" and now >= op.started_at + self.settings.sync_duration:
            self._execute(app, op, now)

    def _execute(self, app: state.App, op: state.OpState, now: float) -> None:
        sync = op.operation.get("sync", {})
        source = sync.get("source") or app.source
        try:
            if app.sync_error:
                raise rendering.RenderError(app.sync_error)
            target = self._render(app, source, sync.get("revision"), sync.get("revisions"))
        except rendering.RenderError as exc:
            op.phase, op.message = "Failed", f"one or more objects failed to apply, reason: {exc.message}"
        else:
            selected = {
                (r.get("group", ""), r.get("kind"), r.get("namespace", app.namespace), r.get("name"))
                for r in sync.get("resources") or []
            }
            results = (
                [] if sync.get("dryRun") else state.apply(app, target, now, bool(sync.get("prune")), selected)
            )
            op.phase, op.message = "Succeeded", "successfully synced (all tasks run)"
            app.conditions = [c for c in app.conditions if c["type"] != "SyncError"]
            op.sync_result = state.sync_result(app, target, results, source)
            if not sync.get("dryRun") and not selected:
                item = state.HistoryItem(
                    app.next_history_id(),
                    target.revision,
                    now,
                    op.started_at,
                    {} if app.multi else copy.deepcopy(source),
                    dict(op.operation.get("initiatedBy") or {}),
                    list(target.revisions),
                    app.sources,
                )
                app.add_history(item)
                app.live_revision = target.revision or ",".join(target.revisions)
        op.finished_at, app.operation = now, None
        verdict = "succeeded" if op.phase == "Succeeded" else f"failed: {op.message}"
        app.event(
            now,
            "OperationCompleted",
            f"Sync operation to {op.revision} {verdict}",
            "Normal" if op.phase == "Succeeded" else "Warning",
        )
        self._reconcile(app, now, resolve=False)

    # ------------------------------------------------------------------ health and drift

    def _update_health(self, app: state.App, now: float) -> None:
        override = self.health_callback(app.name) if self.health_callback else None
        for res_state in app.resources:
            live = app.live.get(res_state.resource.key)
            if live is None:
                res_state.health = workload.Health("Missing") if not res_state.requires_pruning else None
            elif live.kind == "Rollout" and live.group == "argoproj.io":
                res_state.health = self._rollout(app, live, now)
            elif (wl := workload.workload_of(live)) is not None:
                since = now - app.changed_at.get(live.key, now)
                health = self.model.health(app.name, wl, since)
                if override and workload.worse(override, health.status) != health.status:
                    health = workload.Health(override, f"reported by the workload simulator: {override}")
                res_state.health = health
            else:
                res_state.health = state.resource_health(live.kind)
        verdict = state.aggregate_health(app.resources, any_live=bool(app.live))
        if verdict.status != app.health:
            if app.health:
                app.event(now, "ResourceUpdated", f"Updated health status: {app.health} -> {verdict.status}")
            app.health, app.health_since = verdict.status, now
            self.touch(app)
        app.health_message = verdict.message

    def _rollout(self, app: state.App, live: rendering.Resource, now: float) -> workload.Health:
        """Argo Rollouts reconciles the live Rollout; Argo CD's Lua health check reads the result."""
        run = rollouts.track(app.rollout_runs.get(live.key), live.manifest, now)
        app.rollout_runs[live.key] = run
        ready = float(getattr(self.model, "rollout_delay", 5.0))
        judge = self.analysis_callback or (lambda _app, _images: None)
        rollouts.reconcile(
            run,
            live.manifest,
            now,
            ready,
            lambda images: judge(app.name, images),
            failing=getattr(self.model, "failing", None),
        )
        return rollouthealth.health(run.served)

    def inject_drift(self, app: state.App, drift: dict[str, Any]) -> None:
        """Change a live object the way ``kubectl edit`` would; the live watch then triggers a comparison."""
        now = self.clock()
        before = dict(app.live)
        key = state.drift_live(app, drift)
        if state.template(before.get(key)) != state.template(app.live[key]):
            app.changed_at[key] = now  # a new pod template means a new rollout
        self._reconcile(app, now, resolve=False)
