"""Supervising verifications: one background thread per heal, resumed after a restart or a late merge.

A slow rollout must never delay detection for the other apps, so each landed heal is verified on a
small thread pool. Heals that landed while nobody watched (a PR merged by a human, a restart) are
picked up from the ledger's ``History``. ``close`` cuts every sleep short; a cancelled verification
leaves its commit status pending, and the next start resumes it. It decides nothing and records
nothing itself: ``verify.run`` judges and ``record.verdicts`` writes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from bot.act import execute
from bot.decide import past as hist
from bot.record import log, metrics
from bot.verify import run, watcher


class Supervisor:
    def __init__(
        self, registry: metrics.Metrics, sleep: Callable[[float], None], *, workers: int = 4
    ) -> None:
        self.metrics = registry
        self._injected_sleep = sleep
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="githeal-verify")
        self.watching: dict[str, Future[watcher.Outcome | None]] = {}
        self.outcomes: dict[str, watcher.Outcome] = {}
        self.verifier: run.Verifier | None = None  # set by the engine, which builds it with ``sleep``

    def sleep(self, seconds: float) -> None:
        """The verifiers' sleep: the injected one, cut short (as ``watcher.Cancelled``) by ``close``."""
        if self._stopping.is_set():
            raise watcher.Cancelled()
        if self._injected_sleep is time.sleep:
            if self._stopping.wait(seconds):
                raise watcher.Cancelled()
        else:
            self._injected_sleep(seconds)

    def watch(self, result: execute.Result) -> None:
        """Verify one landed heal in the background (once per Heal-Id in this process)."""
        verifier = self.verifier
        heal_id = result.action.heal_id
        if verifier is None or heal_id in self.watching:
            return

        def job() -> watcher.Outcome | None:
            try:
                outcome = verifier.verify(result)
            except watcher.Cancelled:
                # the commit status stays pending: the next service start resumes this verification
                log.event("verify.cancelled", app=result.action.app, heal_id=heal_id)
                return None
            except Exception as exc:  # the app's boundary: its failed verification stays its own
                app = result.action.app
                log.event("verify.crashed", logging.ERROR, app=app, heal_id=heal_id, error=repr(exc)[:300])
                self.metrics.app_errors.labels(app, "verify").inc()
                return None
            self.outcomes[heal_id] = outcome
            return outcome

        self.watching[heal_id] = self._pool.submit(job)

    def resume(self, history: hist.History, now: datetime) -> None:
        """Heals that landed without us watching (a PR merged later, a restart): verify them now, with
        the same record, comment, escalation and circuit as an immediate heal. The horizon counts
        from when the heal landed (a PR's merge), so a PR merged long after it was opened is kept."""
        verifier = self.verifier
        if verifier is None:
            return
        settings = verifier.settings
        horizon = now - timedelta(seconds=settings.verify.timeout)
        for h in history.heals:
            if h.verify in ("success", "failure", "error") or h.heal_id in self.watching:
                continue
            if h.app not in settings.apps or run.landed_at(h, history.proposals) < horizon:
                continue
            self.watch(verifier.resumed(h, history.proposals))

    def wait(self, timeout: float | None = None) -> dict[str, watcher.Outcome]:
        deadline = None if timeout is None else time.monotonic() + timeout
        for fut in list(self.watching.values()):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            fut.result(timeout=left)
        return dict(self.outcomes)

    def pending(self) -> int:
        return sum(1 for f in self.watching.values() if not f.done())

    def close(self, wait: float = 5.0) -> None:
        """Stop watching: running verifications end at their next sleep, queued ones never start."""
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + wait
        for fut in list(self.watching.values()):
            with contextlib.suppress(CancelledError, TimeoutError):
                fut.result(timeout=max(0.0, deadline - time.monotonic()))
