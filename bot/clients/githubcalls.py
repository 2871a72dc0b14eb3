"""How githeal talks to GitHub at all: error translation, rate-limit back-off, conditional reads.

Every GitHub call of ``clients.github`` runs inside ``Calls.call``, which translates PyGithub and
requests failures into the ``errors.GitHubError`` subtree, refuses locally while GitHub asked to
wait (``Retry-After``, secondary limits, ``X-RateLimit-Remaining`` down to the reserve), and keeps
ETags so unchanged lists cost a free 304. It must not know about pull requests or issues.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bot import errors
from bot.clients import deferred

if TYPE_CHECKING:
    import github
    import requests
    from github.Requester import Requester
else:
    github = deferred.module("github")
    requests = deferred.module("requests")


def _header(headers: dict[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def detail(exc: github.GithubException) -> str:
    data: Any = exc.data
    parts = [exc.message or (data.get("message") if isinstance(data, dict) else None) or ""]
    if isinstance(data, dict):
        for item in data.get("errors") or []:
            if isinstance(item, dict) and item.get("message"):
                parts.append(str(item["message"]))
            elif isinstance(item, dict):
                parts.append(f"{item.get('field', '?')} {item.get('code', 'invalid')}")
    return "; ".join(p for p in parts if p) or f"HTTP {exc.status}"


def graphql_detail(exc: github.GithubException) -> str:
    data: Any = exc.data
    if isinstance(data, dict) and isinstance(data.get("errors"), list):
        messages = [str(e.get("message")) for e in data["errors"] if isinstance(e, dict) and e.get("message")]
        if messages:
            return "; ".join(messages)
    return detail(exc)


class Calls:
    def __init__(self, requester: Requester, clock: Callable[[], float], reserve: int = 5) -> None:
        self._requester = requester
        self._clock = clock
        self._reserve = reserve  # leave this many requests of the hour to humans and other tools
        self._blocked_until = 0.0  # epoch seconds: no request before (Retry-After, exhausted budget)
        self._blocked_why = ""
        self._etags: dict[str, tuple[str, Any]] = {}  # URL -> (ETag, items) of conditional list reads
        self.remaining: int | None = None  # X-RateLimit-Remaining of the last answer (for the gauge)

    def backoff(self, what: str, where: str) -> None:
        """Refuse locally while GitHub asked us to wait: requests made while limited prolong the ban."""
        wait = self._blocked_until - self._clock()
        if wait > 0:
            raise errors.GitHubRateLimited(
                f"{what}: backing off {wait:.0f}s ({self._blocked_why})", retry_after=wait, url=where
            )

    def observe(self) -> None:
        """After every answer: stop before the hourly budget runs out (``X-RateLimit-Remaining``)."""
        requester = self._requester
        remaining, limit = requester.rate_limiting
        reset = requester.rate_limiting_resettime
        if limit > 0 and remaining >= 0:
            self.remaining = remaining
        if limit > 0 and 0 <= remaining <= self._reserve and reset > self._clock():
            self._blocked_until = max(self._blocked_until, float(reset))
            self._blocked_why = f"X-RateLimit-Remaining is {remaining} of {limit} until the reset"

    @contextmanager
    def call(self, what: str, repo: str, number: int | None = None) -> Iterator[None]:
        where = f"{repo}#{number}" if number is not None else repo
        self.backoff(f"{what} {where}", where)
        try:
            yield
            self.observe()
        except github.GithubException as exc:
            raise self.translate(exc, f"{what} {where}", where) from exc
        except requests.exceptions.RetryError as exc:
            raise errors.GitHubUnavailable(
                f"{what} {where}: retries exhausted", url=where, payload=str(exc)
            ) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise errors.GitHubUnavailable(f"{what} {where}: {type(exc).__name__}", url=where) from exc
        except AssertionError as exc:
            # PyGithub asserts that URLs in responses stay on base_url: a misconfigured base_url.
            message = f"{what} {where}: response URL outside the configured base_url"
            raise errors.GitHubError(message, url=where, payload=str(exc)) from exc

    def translate(self, exc: github.GithubException, what: str, where: str) -> errors.GitHubError:
        status, text = exc.status, detail(exc)
        kw: dict[str, Any] = {"url": where, "status": status, "payload": exc.data}
        retry_after = _header(exc.headers, "Retry-After")
        # 429 is always a rate limit (github-api.md section 2: GitHub may answer 429 for secondary
        # limits, and PyGithub raises a plain GithubException for it).
        limited = (
            isinstance(exc, github.RateLimitExceededException)
            or status == 429
            or (
                status == 403
                and (retry_after is not None or _header(exc.headers, "X-RateLimit-Remaining") == "0")
            )
        )
        if limited:
            # GitHub's rules: Retry-After if given; else an exhausted budget (Remaining 0) waits for
            # X-RateLimit-Reset; else (a secondary limit) wait at least one minute.
            reset = _header(exc.headers, "X-RateLimit-Reset")
            if retry_after is not None and retry_after.isdigit():
                delay = float(retry_after)
            elif _header(exc.headers, "X-RateLimit-Remaining") == "0" and reset and reset.isdigit():
                delay = max(float(reset) - self._clock(), 1.0)
            else:
                delay = 60.0
            self._blocked_until = max(self._blocked_until, self._clock() + delay)
            self._blocked_why = f"GitHub said: {text}"
            return errors.GitHubRateLimited(f"{what}: rate limited: {text}", retry_after=delay, **kw)
        if status in (405, 409):
            return errors.GitHubConflict(f"{what}: {text}", **kw)
        if status >= 500:
            return errors.GitHubUnavailable(f"{what}: {text}", **kw)
        return errors.GitHubError(f"{what}: {text}", **kw)

    def conditional_page(self, repo: str, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """One page of up to 100 items, sent with ``If-None-Match``: an unchanged list answers 304,
        which GitHub does not count against the rate limit, and the cached body is reused."""
        url = f"/repos/{repo}{path}"
        key = f"{url}?{sorted(params.items())}"
        cached = self._etags.get(key)
        headers = {"If-None-Match": cached[0]} if cached else {}
        answer, data = self._requester.requestJsonAndCheck("GET", url, dict(params), headers)
        if data is None and cached is not None:  # 304 Not Modified
            return list(cached[1])
        items = [i for i in data if isinstance(i, dict)] if isinstance(data, list) else []
        etag = _header(answer, "ETag")
        if etag:
            self._etags[key] = (etag, items)
        return items
