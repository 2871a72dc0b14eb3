"""The verification supervisor on its own: its sleep is the injected one until close, then every sleep
ends at once (a running verification stops at its next wait; its commit status stays pending and the
next start resumes it). Watching, resuming and outcomes run end to end in tests/verify/test_late_heal.py
and tests/e2e/test_full_loop.py with real verifiers."""

from __future__ import annotations

import threading
import time

import pytest

from bot.record import metrics
from bot.service import supervise
from bot.verify import watcher


def test_sleep_uses_the_injected_sleep_until_closed() -> None:
    slept: list[float] = []
    sup = supervise.Supervisor(metrics.Metrics(), slept.append)
    sup.sleep(3.0)
    assert slept == [3.0]
    sup.close(wait=0)
    with pytest.raises(watcher.Cancelled):
        sup.sleep(1.0)
    assert slept == [3.0]  # after close, no sleep reaches the injected one


def test_close_cuts_a_real_sleep_short() -> None:
    sup = supervise.Supervisor(metrics.Metrics(), time.sleep)
    ended: list[str] = []

    def verifying() -> None:
        try:
            sup.sleep(60.0)
        except watcher.Cancelled:
            ended.append("cancelled")

    worker = threading.Thread(target=verifying)
    started = time.monotonic()
    worker.start()
    time.sleep(0.2)
    sup.close(wait=1.0)
    worker.join(timeout=5)
    assert ended == ["cancelled"] and time.monotonic() - started < 5


def test_nothing_watched_without_a_verifier() -> None:
    sup = supervise.Supervisor(metrics.Metrics(), time.sleep)
    assert sup.pending() == 0 and sup.wait(timeout=0.1) == {}
    sup.close(wait=0)
