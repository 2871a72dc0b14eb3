"""The long-running service: scheduler + HTTP endpoints around one Engine.

Readiness means the last calls to every dependency succeeded and the last cycle is recent; it is read
from ``health`` (filled by the clients' call observers and each cycle report), never by calling out.
Webhooks only ask for an evaluation or note a PR event. Stopping waits for the cycle in flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from bot.record import log
from bot.service import cycle, health, http, scheduler, shards, wiring


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
        names = ["prometheus", "argocd", *(health.git(r) for r in s.repos)]
        if rt.github is not None:
            names.append("github")
        self.health = health.Health(names, rt.metrics, max_age=3 * s.schedule.interval + 30)
        rt.prometheus.retry.observe(self.health.observe)
        rt.argocd.retry.observe(self.health.observe)
        self.scheduler = scheduler.Scheduler(
            self._cycle, interval=s.schedule.interval, jitter=s.schedule.jitter, metrics=rt.metrics
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
            insecure=s.service.webhooks.insecure,
            alert_labels=(s.prometheus.app_label, "argocd_app", "application"),
        )
        self.http = http.HttpService(hooks, host or s.service.host, s.service.port if port is None else port)

    def _cycle(self, apps: list[str] | None) -> object:
        try:
            report = self.engine.run_once(apps)
        except Exception as exc:
            self.health.crashed(exc)
            raise
        self.health.cycle_done(report.errors, self.rt.settings.repos, github=self.rt.github is not None)
        with self._lock:
            self.last_cycle = time.time()
            self.last_report = report
        return report

    def ready(self) -> tuple[bool, dict[str, Any]]:
        ok, detail = self.health.status()
        with self._lock:
            if self.last_report is not None and self.last_report.app_errors:
                detail["app_errors"] = dict(self.last_report.app_errors)  # failed alone, others went on
        return ok, detail

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
