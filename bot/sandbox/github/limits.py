"""Rate limiting of the GitHub emulator: primary per-user budgets and injectable secondary limits.

Every answer carries ``X-RateLimit-*`` headers computed here; tests and demos inject a secondary
limit (403 or 429 with ``Retry-After``) or exhaust a budget through the admin API. This module
must not know about routes or the store beyond the acting login.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
WINDOW_S = 3600
ANONYMOUS = "anonymous"  # unauthenticated GETs share GitHub's 60 requests/hour budget
ANONYMOUS_LIMIT = 60


@dataclass(frozen=True)
class Verdict:
    headers: dict[str, str]
    status: int = 0  # non-zero: refuse the request with this status
    message: str = ""


class RateLimits:
    def __init__(self, clock: Callable[[], datetime], limit: int = 5000) -> None:
        self.clock = clock
        self.limit = limit
        self._lock = threading.Lock()
        self._used: dict[str, int] = {}
        self._window_start = clock().timestamp()
        self._secondary = 0
        self._secondary_status = 403
        self._retry_after = 60

    def inject_secondary(self, count: int = 1, retry_after: int = 60, status: int = 403) -> None:
        """The next ``count`` API requests are refused as a secondary rate limit."""
        with self._lock:
            self._secondary, self._retry_after, self._secondary_status = count, retry_after, status

    def set_remaining(self, login: str, remaining: int) -> None:
        with self._lock:
            self._used[login.lower()] = max(self._limit(login) - remaining, 0)

    def _limit(self, login: str) -> int:
        return ANONYMOUS_LIMIT if login == ANONYMOUS else self.limit

    def snapshot(self, login: str) -> tuple[int, int, int]:
        """(limit, used, reset epoch) for ``GET /rate_limit``, which does not count itself."""
        with self._lock:
            self._roll()
            return self._limit(login), self._used.get(login.lower(), 0), int(self._window_start) + WINDOW_S

    def _roll(self) -> None:
        now = self.clock().timestamp()
        if now >= self._window_start + WINDOW_S:
            self._window_start, self._used = now, {}

    def peek(self, login: str, resource: str = "core") -> dict[str, str]:
        """The headers for ``login`` without counting a request (answers refused before counting)."""
        limit, used, reset = self.snapshot(login)
        return self._headers(limit, used, reset, resource)

    def charge(self, login: str, resource: str = "core") -> Verdict:
        """Count one request for ``login``; the verdict says whether to refuse it and with which headers."""
        with self._lock:
            self._roll()
            key = login.lower()
            used = self._used.get(key, 0)
            reset = int(self._window_start) + WINDOW_S
            limit = self._limit(login)
            if self._secondary > 0:
                self._secondary -= 1
                headers = self._headers(limit, used, reset, resource)
                if self._retry_after > 0:  # 0: GitHub's secondary answers without Retry-After
                    headers["Retry-After"] = str(self._retry_after)
                return Verdict(headers, self._secondary_status, SECONDARY_MESSAGE)
            if used >= limit:
                message = f"API rate limit exceeded for user {login}."
                return Verdict(self._headers(limit, used, reset, resource), 403, message)
            self._used[key] = used + 1
            return Verdict(self._headers(limit, used + 1, reset, resource))

    def refund(self, login: str) -> None:
        """Undo one charge: an authorized conditional request answered 304 is free on GitHub."""
        with self._lock:
            key = login.lower()
            self._used[key] = max(self._used.get(key, 0) - 1, 0)

    def _headers(self, limit: int, used: int, reset: int, resource: str) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(limit - used, 0)),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Resource": resource,
        }
