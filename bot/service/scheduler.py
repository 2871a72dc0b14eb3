"""Cycle scheduling with APScheduler 3: an interval with jitter, one cycle at a time, coalescing.

A single worker thread runs every cycle, so a webhook-triggered evaluation queues behind the running
cycle instead of racing it. SIGTERM/SIGINT stop new cycles and wait for the one in flight: a heal is
either pushed or abandoned with its working clone reset, never half-written. A crashed cycle is
logged at error level with its traceback once per distinct cause; repeats of the same cause are counted
at debug level until a cycle succeeds again.
"""

from __future__ import annotations

import logging
import signal
import threading
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.record import log
from bot.record import metrics as metricsmod

Cycle = Callable[[list[str] | None], object]  # apps to evaluate (None = all)


class Scheduler:
    def __init__(
        self,
        cycle: Cycle,
        *,
        interval: float,
        jitter: float = 0.0,
        metrics: metricsmod.Metrics | None = None,
    ) -> None:
        self._cycle = cycle
        self._metrics = metrics
        self._causes: dict[tuple[str, ...], int] = {}  # distinct crash causes since the last good cycle
        self._stop = threading.Event()
        self._sched = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": max(1, int(interval))},
            timezone=UTC,
        )
        self._sched.add_job(
            self._run,
            IntervalTrigger(seconds=interval, jitter=int(jitter) or None, timezone=UTC),
            args=[None],
            id="cycle",
            next_run_time=datetime.now(UTC),
        )

    def _run(self, apps: list[str] | None) -> None:
        if self._stop.is_set():
            return
        try:
            self._cycle(apps)
        except Exception as exc:  # one bad cycle must not kill the service; it is logged and counted
            self.crashed(exc)
            return
        if self._causes:
            log.event("cycle.recovered", crashes=sum(self._causes.values()))
            self._causes.clear()

    def crashed(self, exc: BaseException) -> None:
        """Error level with the traceback the first time a cause is seen, debug for its repeats."""
        if self._metrics is not None:
            self._metrics.crashes.inc()
        key = cause(exc)
        seen = self._causes.get(key, 0)
        self._causes[key] = seen + 1
        if seen:
            log.event("cycle.crashed_again", logging.DEBUG, kind=type(exc).__name__, times=seen + 1)
            return
        trace = "".join(traceback.format_exception(exc)).rstrip()
        log.event("cycle.crashed", logging.ERROR, kind=type(exc).__name__, error=str(exc), traceback=trace)

    def trigger(self, apps: list[str]) -> None:
        """Evaluate these apps as soon as the worker is free (webhooks call this)."""
        if not self._stop.is_set():
            self._sched.add_job(self._run, args=[apps], misfire_grace_time=None)

    def start(self) -> None:
        self._sched.start()

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        if self._sched.running:
            self._sched.shutdown(wait=wait)

    def run_until_signalled(self) -> None:
        """Block until SIGTERM/SIGINT, then shut down gracefully."""

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.event("service.stopping", signal=signal.Signals(signum).name)
            self._stop.set()

        previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        self.start()
        try:
            while not self._stop.wait(0.5):
                pass
        finally:
            self.stop(wait=True)
            for s, h in previous.items():
                signal.signal(s, h)


def cause(exc: BaseException) -> tuple[str, ...]:
    """What makes two crashes the same: the exception class and where it was raised (not its text,
    which often carries a changing detail such as a time or a count)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = [f"{f.filename}:{f.lineno}" for f in frames[-3:]]
    return (type(exc).__module__, type(exc).__qualname__, *where)
