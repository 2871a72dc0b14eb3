"""GitHub credentials: a static token, or a GitHub App's installation tokens renewed before expiry.

An installation token lives one hour (``POST /app/installations/{id}/access_tokens`` answers
``expires_at``); ``InstallationTokens`` asks for a new one ``margin`` seconds before that, on the
injected clock, and finds the installation (``GET /repos/{o}/{r}/installation``) when the config
does not name it. The same callable feeds PyGithub (``TokenAuth``) and git over HTTPS (the git
client's credential seam), so both always use a live token. This module must not decide anything
else nor log a token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import github
import requests

from bot import errors

TokenSource = Callable[[], str]


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except github.GithubException as exc:
        data = exc.data if isinstance(exc.data, dict) else {}
        detail = str(data.get("message") or exc.message or f"HTTP {exc.status}")
        cls = errors.GitHubUnavailable if exc.status >= 500 else errors.GitHubError
        raise cls(f"{what}: {detail}", status=exc.status, payload=exc.data) from exc
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise errors.GitHubUnavailable(f"{what}: {type(exc).__name__}") from exc


def static(token: str) -> TokenSource:
    """A personal access token (or any fixed token) as a token source."""
    return lambda: token


class InstallationTokens:
    """``tokens()`` -> a valid installation token; thread-safe, renews ``margin`` seconds early."""

    def __init__(
        self,
        integration: github.GithubIntegration,
        *,
        installation_id: int | None = None,
        repo: str | None = None,
        clock: Callable[[], float] = time.time,
        margin: float = 300.0,
    ) -> None:
        if installation_id is None and repo is None:
            raise errors.ConfigError("github.auth.app: installation_id or a repository to look it up")
        self._integration = integration
        self._installation = installation_id
        self._repo = repo
        self._clock = clock
        self._margin = margin
        self._lock = threading.Lock()
        self._token = ""
        self._expires = 0.0
        self.issued = 0  # tokens obtained so far (a renewal adds one)

    @property
    def installation_id(self) -> int:
        """The configured installation, or the one installed on ``repo`` (looked up once)."""
        if self._installation is None:
            assert self._repo is not None
            owner, _, name = self._repo.partition("/")
            with _translated(f"find the GitHub App installation of {self._repo}"):
                self._installation = int(self._integration.get_repo_installation(owner, name).id)
        return self._installation

    def expires_at(self) -> float:
        return self._expires

    def invalidate(self) -> None:
        """Forget the current token (e.g. after a 401): the next call asks for a new one."""
        with self._lock:
            self._expires = 0.0

    def __call__(self) -> str:
        with self._lock:
            if not self._token or self._clock() >= self._expires - self._margin:
                ident = self.installation_id
                with _translated(f"get an installation token for installation {ident}"):
                    auth = self._integration.get_access_token(ident)
                expires: datetime = auth.expires_at
                self._token, self._expires = str(auth.token), expires.timestamp()
                self.issued += 1
            return self._token


class TokenAuth(github.Auth.Auth):
    """PyGithub auth reading the token from a source on every request (``Authorization: token …``)."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._source()

    @property
    def _masked_token(self) -> str:
        return "token (removed)"
