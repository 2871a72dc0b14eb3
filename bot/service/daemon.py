"""The long-running service: scheduler + HTTP endpoints around one Engine.

Readiness means the dependencies answer and the last cycle is recent; webhooks only ask for an
evaluation or note a PR event. Stopping waits for the cycle in flight and lets verifications end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from bot import errors
from bot.record import log
from bot.service import cycle, http, scheduler, shards, wiring


class Service:
    def __init__(
        self,
        rt: wiring.Runtime,
        *,
        host: str | None = None,
        port: int | None = None,
        shard: shards.Shard | None = None,
    ) -> None:
        s = rt.settings
        self.rt = rt
        self.engine = cycle.Engine(rt, shard=shard)
        self.last_cycle: float | None = None
        self.last_report: cycle.CycleReport | None = None
        self._lock = threading.Lock()
        self.scheduler = scheduler.Scheduler(
            self._cycle, interval=s.schedule.interval, jitter=s.schedule.jitter
        )
        hooks = http.Hooks(
            ready=self.ready,
            metrics=rt.metrics.render,
            evaluate=self.evaluate,
            github_event=self.github_event,
            alert_token=s.service.webhooks.alertmanager_token.value
            if s.service.webhooks.alertmanager_token
            else None,
            github_secret=s.service.webhooks.github_secret.value
            if s.service.webhooks.github_secret
            else None,
            alert_labels=(s.prometheus.app_label, "argocd_app", "application"),
        )
        self.http = http.HttpService(hooks, host or s.service.host, s.service.port if port is None else port)

    def _cycle(self, apps: list[str] | None) -> object:
        report = self.engine.run_once(apps)
        with self._lock:
            self.last_cycle = time.time()
            self.last_report = report
        return report

    def ready(self) -> tuple[bool, dict[str, Any]]:
        detail: dict[str, Any] = {"prometheus": self.rt.prometheus.ready()}
        try:
            self.rt.argocd.list_apps(fields=["metadata.name"])
            detail["argocd"] = True
        except errors.ArgoCDError as exc:
            detail["argocd"] = False
            detail["argocd_error"] = str(exc)
        with self._lock:
            age = None if self.last_cycle is None else time.time() - self.last_cycle
            if self.last_report is not None and self.last_report.app_errors:
                detail["app_errors"] = dict(self.last_report.app_errors)  # failed alone, others went on
        fresh = age is not None and age < 3 * self.rt.settings.schedule.interval + 30
        detail["last_cycle_age_seconds"] = None if age is None else round(age, 1)
        return bool(detail["prometheus"] and detail["argocd"] and fresh), detail

    def evaluate(self, apps: list[str]) -> list[str]:
        known = [a for a in apps if a in self.rt.settings.apps]
        if known:
            self.scheduler.trigger(known)
        return known

    def github_event(self, event: str, payload: Mapping[str, Any]) -> None:
        pr = payload.get("pull_request") or {}
        head = str((pr.get("head") or {}).get("ref", ""))
        if event != "pull_request" or not head.startswith("githeal/"):
            return
        app = head.split("/")[1] if head.count("/") >= 2 else ""
        merged = bool(pr.get("merged"))
        log.event("webhook.github", action=payload.get("action"), pr=pr.get("number"), app=app, merged=merged)
        # A merged heal PR lands on the branch: the next cycle reads it back and verifies it.
        # A closed one is recorded by GitHub itself and blocks that heal id for good.
        if app in self.rt.settings.apps:
            self.scheduler.trigger([app])

    def start(self) -> Service:
        self.http.start()
        log.event("service.listening", url=self.http.url)
        return self

    def run_forever(self) -> None:
        self.start()
        try:
            self.scheduler.run_until_signalled()
        finally:
            self.stop()

    def stop(self) -> None:
        self.scheduler.stop(wait=True)
        self.http.stop()
        self.engine.close()
