"""The only place that builds real clients: Settings in, a Runtime of connected clients out.

Everything downstream receives these objects explicitly, so tests and the sandbox build their own
Runtime pointed at real local servers. Secrets are revealed here and nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit, urlunsplit

import github
import httpx

from bot import errors
from bot.clients import argocd, gitrepo, retry
from bot.clients import github as githubclient
from bot.clients import prometheus as prom
from bot.record import metrics
from bot.settings import tree


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Connected clients plus the injected clock, sleep and metrics registry."""

    settings: tree.Settings
    argocd: argocd.ArgoCDClient
    prometheus: prom.PrometheusClient
    clones: dict[str, gitrepo.WorkingClone]
    github: githubclient.GitHubClient | None
    ranges: prom.RangeReader | None = None  # display-only SLI trends (PR sparklines)
    metrics: metrics.Metrics = field(default_factory=metrics.Metrics)
    clock: Callable[[], datetime] = _now
    sleep: Callable[[float], None] = time.sleep

    def clone_for(self, app: str) -> gitrepo.WorkingClone:
        return self.clones[self.settings.apps[app].repo]

    def close(self) -> None:
        self.prometheus.close()
        self.argocd.http.close()
        if self.github is not None:
            self.github.close()
        if self.ranges is not None:
            self.ranges.close()


def _secret(s: tree.Secret | None) -> str | None:
    return s.value if s is not None else None


def prometheus_client(s: tree.PrometheusSettings) -> prom.PrometheusClient:
    basic = (s.basic_auth[0], s.basic_auth[1].reveal()) if s.basic_auth else None
    return prom.PrometheusClient.connect(
        s.url,
        headers=dict(s.headers),
        bearer_token=_secret(s.bearer_token),
        basic_auth=basic,
        timeout=s.timeout,
        verify=s.verify_tls,
        retry=retry.Retry(),
    )


def argocd_client(s: tree.ArgoCDSettings) -> argocd.ArgoCDClient:
    http = httpx.Client(base_url=s.url, verify=s.verify_tls, timeout=s.timeout)
    client = argocd.ArgoCDClient(
        http, token=_secret(s.token), refresh_timeout=s.refresh_timeout, retry=retry.Retry()
    )
    if client.token is None and s.login is not None:
        client.login(s.login[0].reveal(), s.login[1].reveal())
    return client


def clone_url(r: tree.RepoSettings) -> str:
    """HTTPS remotes carry the token as the password; git prints them masked in our errors."""
    token = _secret(r.token)
    parts = urlsplit(r.url)
    if token and parts.scheme in ("http", "https"):
        netloc = f"{quote(r.token_username, safe='')}:{quote(token, safe='')}@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    return r.url


def working_clone(r: tree.RepoSettings, sleep: Callable[[float], None] = time.sleep) -> gitrepo.WorkingClone:
    env: dict[str, str] = {}
    key = _secret(r.ssh_key)
    if key:
        env["GIT_SSH_COMMAND"] = f"ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new"
    signing = None
    if r.signing in ("ssh", "gpg") and r.signing_key:
        signing = gitrepo.Signing("ssh" if r.signing == "ssh" else "gpg", r.signing_key)
    return gitrepo.WorkingClone(
        clone_url(r),
        r.branch,
        r.workdir,
        identity=(r.author_name, r.author_email),
        signing=signing,
        env=env,
        sleep=sleep,
    )


def github_client(s: tree.GitHubSettings) -> githubclient.GitHubClient:
    auth: github.Auth.Auth
    if s.app_id is not None and s.private_key is not None:
        app_auth = github.Auth.AppAuth(s.app_id, s.private_key.reveal())
        if s.installation_id is None:
            raise errors.ConfigError("github.auth.app.installation_id is required for App auth")
        auth = app_auth.get_installation_auth(s.installation_id)
    elif s.token is not None and s.token.value is not None:
        auth = github.Auth.Token(s.token.value)
    else:
        raise errors.ConfigError("github: no usable credentials (token or app)")
    # PyGithub would otherwise sleep and retry 403s itself; our error tree carries Retry-After instead.
    gh = github.Github(
        auth=auth,
        base_url=s.base_url.rstrip("/"),
        timeout=int(s.timeout),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    return githubclient.GitHubClient(gh)


def build(settings: tree.Settings, *, registry: metrics.Metrics | None = None) -> Runtime:
    clones = {name: working_clone(r) for name, r in settings.repos.items()}
    gh = github_client(settings.github) if settings.github is not None else None
    return Runtime(
        settings=settings,
        argocd=argocd_client(settings.argocd),
        prometheus=prometheus_client(settings.prometheus),
        ranges=prom.RangeReader(
            settings.prometheus.url,
            headers=dict(settings.prometheus.headers),
            verify=settings.prometheus.verify_tls,
            timeout=settings.prometheus.timeout,
        ),
        clones=clones,
        github=gh,
        metrics=registry or metrics.Metrics(),
    )
