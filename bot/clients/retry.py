"""Retries at the client call boundary, by tenacity: the error contract of ``errors.py`` made real.

A ``TemporaryError`` (timeout, 5xx, 429, a rate limit with ``Retry-After``) is retried with exponential
backoff and full jitter, a ``PermanentError`` never: only the class is read. A ``Retry-After`` longer
than ``max_wait`` is not slept on inside a cycle; the error goes up and the next cycle tries again.
Writes that may have reached the server (a timeout, a 502) are not repeated. Once a call has failed
after all its attempts, later calls get one attempt each for ``cooldown`` seconds (or until one
succeeds), so a hanging dependency costs one timeout per call, not ``attempts`` of them. Sleep and
clock are injected; observers hear every call's final outcome (the service's readiness listens).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import TypeVar

import httpx
import tenacity

from bot import errors

T = TypeVar("T")
Observer = Callable[[str, BaseException | None], None]  # (system, None on success or the final error)
# answers that prove the server did not act on the request, so even a write may be sent again
_NOT_PROCESSED = frozenset({429, 503})


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or an HTTP date), None if absent."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now_ts = time.time() if now is None else now
    return max(0.0, when.timestamp() - now_ts)


def note_retry_after(exc: errors.BotError, headers: Mapping[str, str]) -> errors.BotError:
    """Copy a response's ``Retry-After`` onto the error (``delay``), so the retry waits that long."""
    seconds = retry_after(headers)
    if seconds is not None:
        exc.delay = seconds
        exc.retry_after = seconds  # type: ignore[attr-defined]
    return exc


def _asked(exc: BaseException) -> float | None:
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None


def not_processed(exc: BaseException) -> bool:
    """True when the server surely did not act: refused connection, 429 or 503."""
    if isinstance(exc.__cause__, httpx.ConnectError):
        return True
    return getattr(exc, "status", None) in _NOT_PROCESSED


@dataclass
class Retry:
    """How a client retries; ``attempts=1`` turns retrying off."""

    attempts: int = 3
    base: float = 0.5  # first backoff; doubles each attempt, full jitter
    cap: float = 8.0  # longest backoff between two attempts
    max_wait: float = 30.0  # longest Retry-After honoured inside one call
    cooldown: float = 30.0  # after a call failed for good, one attempt per call for this long
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    observers: list[Observer] = field(default_factory=list)
    _failing_until: float = 0.0

    def observe(self, observer: Observer) -> None:
        self.observers.append(observer)

    def _retryable(self, exc: BaseException, idempotent: bool) -> bool:
        if not isinstance(exc, errors.TemporaryError):
            return False
        asked = _asked(exc)
        if asked is not None and asked > self.max_wait:
            return False
        return idempotent or not_processed(exc)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        backoff = tenacity.wait_random_exponential(multiplier=self.base, max=self.cap)(state)
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = _asked(exc) if exc is not None else None
        return max(backoff, asked or 0.0)

    def call(self, system: str, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        """``fn()`` with retries; observers hear the final outcome once."""
        failing = self.clock() < self._failing_until
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(1 if failing else max(1, self.attempts)),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda e: self._retryable(e, idempotent)),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            result = retrying(fn)
        except errors.BotError as exc:
            if isinstance(exc, errors.TemporaryError):
                self._failing_until = self.clock() + self.cooldown
            self._tell(system, exc)
            raise
        self._failing_until = 0.0
        self._tell(system, None)
        return result

    def _tell(self, system: str, exc: BaseException | None) -> None:
        for observer in list(self.observers):
            observer(system, exc)
