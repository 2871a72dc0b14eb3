"""githeal's one error tree. Every failure the bot knows about is a ``BotError``.

    BotError (exit 1)                       base; carries ``exit_code`` and ``temporary``
    ├── ConfigError (exit 2)                bad config or usage; ``problems``: file, line, key, message
    ├── PolicyError (exit 2)                a policy that cannot be evaluated as written
    ├── ManifestError                       a manifest edit that cannot be made safely (file, target named)
    ├── RollbackError                       no safe rollback exists (reason named)
    ├── ClientError                         an external system failed; system, url/ref, status, payload
    │   ├── PrometheusError                 query failed (HTTP, status:error, timeout, warnings)
    │   │   ├── PrometheusUnavailable       timeout, transport, 5xx, 429 (temporary)
    │   │   └── PrometheusRejected          4xx: bad query, 401/403 (permanent)
    │   ├── ArgoCDError                     gateway body {"error","code","message"} translated
    │   │   ├── ArgoCDNotFound / ArgoCDPermissionDenied / ArgoCDUnauthenticated (permanent)
    │   │   ├── ArgoCDFailedPrecondition    e.g. "another operation is already in progress" (temporary)
    │   │   └── ArgoCDUnavailable           5xx, connection refused, timeout (temporary)
    │   ├── GitError                        clone/fetch/commit/push failed
    │   │   └── PushRejected                non-fast-forward after the bounded retries (temporary)
    │   └── GitHubError                     PyGithub exceptions translated
    │       ├── GitHubRateLimited           403/429 with Retry-After (temporary)
    │       └── GitHubConflict              405 not mergeable / 409 head moved
    └── SandboxError                        a local stand-in could not start (e.g. Prometheus missing)

Retry semantics live in the type: ``TemporaryError`` (with ``delay``) vs ``PermanentError``; the
scheduler only reads the class. Library errors are translated at the boundary with ``raise ... from``.
This module must not import anything from the rest of ``bot``.
"""

from __future__ import annotations

from dataclasses import dataclass

PAYLOAD_LIMIT = 300


def truncate(payload: object, limit: int = PAYLOAD_LIMIT) -> str:
    text = payload if isinstance(payload, str) else repr(payload)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class BotError(Exception):
    """Base of everything githeal raises on purpose."""

    exit_code: int = 1
    temporary: bool = False
    delay: float = 0.0

    def __init__(self, message: str, *, app: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.app = app

    def __str__(self) -> str:
        return f"{self.app}: {self.message}" if self.app else self.message


class TemporaryError(BotError):
    """Worth retrying after ``delay`` seconds (mixin for concrete errors)."""

    temporary = True
    delay = 30.0


class PermanentError(BotError):
    """Retrying will not help until something (config, permissions, a human) changes."""

    temporary = False


@dataclass(frozen=True)
class Problem:
    """One validation problem, rendered ``file:line: key: message``."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(PermanentError):
    exit_code = 2

    def __init__(self, problems: list[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem("<config>", None, "", problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class PolicyError(PermanentError):
    exit_code = 2


class ManifestError(PermanentError):
    def __init__(self, message: str, *, file: str | None = None, app: str | None = None) -> None:
        super().__init__(f"{file}: {message}" if file else message, app=app)
        self.file = file


class RollbackError(PermanentError):
    """No safe rollback: the reason is meant for a human reading the audit trail."""


class ClientError(BotError):
    system = "external"

    def __init__(
        self,
        message: str,
        *,
        app: str | None = None,
        url: str | None = None,
        status: int | None = None,
        payload: object = None,
    ) -> None:
        detail = message
        if status is not None:
            detail += f" (HTTP {status})"
        if url:
            detail += f" [{url}]"
        if payload not in (None, "", b""):
            detail += f": {truncate(payload)}"
        super().__init__(f"{self.system}: {detail}", app=app)
        self.url = url
        self.status = status
        self.payload = payload


class PrometheusError(ClientError):
    system = "prometheus"
    delay = 15.0
    error_type: str | None = None  # the API's errorType (timeout, execution, bad_data, ...) when known


class PrometheusUnavailable(PrometheusError, TemporaryError):
    """Timeouts, transport failures, 5xx and 429: worth retrying with backoff."""


class PrometheusRejected(PrometheusError, PermanentError):
    """4xx: a bad query (400/422) or refused credentials (401/403); retrying cannot help."""


class ArgoCDError(ClientError):
    system = "argocd"


class ArgoCDNotFound(ArgoCDError, PermanentError):
    pass


class ArgoCDPermissionDenied(ArgoCDError, PermanentError):
    pass


class ArgoCDUnauthenticated(ArgoCDError, PermanentError):
    pass


class ArgoCDInvalidArgument(ArgoCDError, PermanentError):
    pass


class ArgoCDFailedPrecondition(ArgoCDError, TemporaryError):
    delay = 10.0


class ArgoCDUnavailable(ArgoCDError, TemporaryError):
    delay = 15.0


class GitError(ClientError):
    system = "git"


class PushRejected(GitError, TemporaryError):
    delay = 5.0


class GitHubError(ClientError):
    system = "github"


class GitHubRateLimited(GitHubError, TemporaryError):
    def __init__(self, message: str, *, retry_after: float = 60.0, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.delay = retry_after


class GitHubConflict(GitHubError, TemporaryError):
    delay = 10.0


class SandboxError(PermanentError):
    pass


class GitHubUnavailable(GitHubError, TemporaryError):
    """5xx, connection refused, timeout or exhausted client-side retries while talking to GitHub."""

    delay = 30.0
