"""Readiness state: what the last calls and the last cycle said about each dependency.

Prometheus and Argo CD are heard at their clients' call boundary (the retry observers); GitHub and
each git remote from the cycle report. ``/readyz`` reads this state and nothing else, so it answers
in microseconds even while a dependency hangs. It must never call a dependency itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot import errors
from bot.record import metrics as metricsmod

ERROR_LIMIT = 300  # characters of an error kept for /readyz


def git(repo: str) -> str:
    """The dependency name of one git remote."""
    return f"git:{repo}"


def counts_as_down(exc: BaseException) -> bool:
    """A failure that says the dependency is unusable (unreachable, 5xx, 429, 401/403), as opposed to
    an answer about our request (404 for an app, a 400 for a query, a conflict): the server is up.
    A 200 that could not be read (cut short, not JSON) is a broken dependency too."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):  # below 400: an answer we could not read (cut, not JSON)
        return status < 400 or status >= 500 or status in (401, 403, 407, 408, 429)
    return isinstance(exc, errors.TemporaryError | errors.ArgoCDUnauthenticated)


@dataclass
class Dependency:
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None

    @property
    def up(self) -> bool:
        if self.last_success is None:
            return False
        return self.last_error_at is None or self.last_success >= self.last_error_at

    def view(self) -> dict[str, Any]:
        return {
            "up": self.up,
            "last_success": _iso(self.last_success),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
        }


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


class Health:
    """Thread-safe: client observers run in the cycle and verification threads, /readyz on the loop."""

    def __init__(
        self,
        names: Iterable[str],
        metrics: metricsmod.Metrics | None = None,
        *,
        max_age: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.deps = {name: Dependency() for name in names}
        self.metrics = metrics
        self.max_age = max_age  # a last cycle older than this is not ready
        self.clock = clock
        self.last_cycle: float | None = None
        self.last_crash: str | None = None
        self._lock = threading.Lock()

    def success(self, name: str) -> None:
        self._set(name, None)

    def failure(self, name: str, error: BaseException | str) -> None:
        self._set(name, str(error)[:ERROR_LIMIT] or type(error).__name__)

    def _set(self, name: str, error: str | None) -> None:
        with self._lock:
            dep = self.deps.setdefault(name, Dependency())
            now = self.clock()
            if error is None:
                dep.last_success = now
            else:
                dep.last_error, dep.last_error_at = error, now
            up = dep.up
        if self.metrics is not None:
            self.metrics.dependency(name, up)

    def observe(self, system: str, exc: BaseException | None) -> None:
        """A client's retry observer: the final outcome of one call."""
        if exc is None or not counts_as_down(exc):
            self.success(system)
        else:
            self.failure(system, exc)

    def cycle_done(self, problems: Iterable[str], repos: Iterable[str], github: bool) -> None:
        """Read a cycle report's ``system: message`` problems for GitHub and each git remote."""
        found = list(problems)
        for repo in repos:
            prefix = f"git: {repo}: "
            failed = next((p[len(prefix) :] for p in found if p.startswith(prefix)), None)
            self._set(git(repo), failed)
        if github:
            gh = next((p[len("github: ") :] for p in found if p.startswith("github: ")), None)
            self._set("github", gh)
        with self._lock:
            self.last_cycle = self.clock()
            self.last_crash = None

    def crashed(self, exc: BaseException) -> None:
        with self._lock:
            self.last_crash = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]

    def status(self) -> tuple[bool, dict[str, Any]]:
        """(ready, detail) from memory only."""
        with self._lock:
            now = self.clock()
            age = None if self.last_cycle is None else now - self.last_cycle
            deps = {name: dep.view() for name, dep in sorted(self.deps.items())}
            crash = self.last_crash
        fresh = age is not None and age <= self.max_age
        down = [name for name, d in deps.items() if not d["up"]]
        detail: dict[str, Any] = {
            "last_cycle_age_seconds": None if age is None else round(age, 1),
            "dependencies": deps,
            "down": down,
        }
        if crash is not None:
            detail["last_cycle_crash"] = crash
        return fresh and not down and crash is None, detail
