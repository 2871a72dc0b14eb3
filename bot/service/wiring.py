"""The only place that builds real clients: Settings in, a Runtime of connected clients out.

Everything downstream receives these objects explicitly, so tests and the sandbox build their own
Runtime pointed at real local servers. Secrets are revealed here and nowhere else.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from bot import errors
from bot.clients import argocd, gitauth, gitrepo, retry
from bot.clients import github as githubclient
from bot.clients import prometheus as prom
from bot.record import log, metrics
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


class Tls:
    """One TLS context per ``verify_tls`` value for the clients of one Runtime: building a context
    reads the whole CA bundle (tens of ms at start-up), and one context serves many connections."""

    def __init__(self) -> None:
        self._contexts: dict[bool, ssl.SSLContext] = {}

    def __call__(self, verify: bool) -> ssl.SSLContext:
        if verify not in self._contexts:
            self._contexts[verify] = httpx.create_ssl_context(verify=verify)
        return self._contexts[verify]


def _secret(s: tree.Secret | None) -> str | None:
    return s.value if s is not None else None


def prometheus_client(s: tree.PrometheusSettings, tls: Tls | None = None) -> prom.PrometheusClient:
    basic = (s.basic_auth[0], s.basic_auth[1].reveal()) if s.basic_auth else None
    return prom.PrometheusClient.connect(
        s.url,
        headers=dict(s.headers),
        bearer_token=_secret(s.bearer_token),
        basic_auth=basic,
        timeout=s.timeout,
        verify=(tls or Tls())(s.verify_tls),
        retry=retry.Retry(),
    )


def argocd_client(s: tree.ArgoCDSettings, tls: Tls | None = None) -> argocd.ArgoCDClient:
    http = httpx.Client(base_url=s.url, verify=(tls or Tls())(s.verify_tls), timeout=s.timeout)
    client = argocd.ArgoCDClient(
        http,
        token=_secret(s.token),
        refresh_timeout=s.refresh_timeout,
        app_namespace=s.app_namespace,
        renew_before=s.renew_before,
        retry=retry.Retry(),
    )
    if client.token is None and s.login is not None:
        client.login(s.login[0].reveal(), s.login[1].reveal())
    return client


def git_credentials(
    r: tree.RepoSettings, token: Callable[[], str] | None = None
) -> gitauth.Credentials | None:
    """HTTPS token or SSH key of a repo. ``token`` overrides the configured one: the seam for a
    GitHub App installation token, asked again on every fetch/push so a refreshed one is used."""
    if r.ssh_key is not None and r.ssh_key.value:
        known = str(r.known_hosts) if r.known_hosts else None
        if r.host_key_checking == "accept-new":
            return gitauth.SshKey(r.ssh_key.value, known_hosts=known, host_keys="accept-new")
        return gitauth.SshKey(r.ssh_key.value, known_hosts=known)
    if token is None and r.token is not None and r.token.value:
        token = r.token.reveal
    return gitauth.Token(token, r.token_username) if token is not None else None


def working_clone(
    r: tree.RepoSettings,
    sleep: Callable[[float], None] = time.sleep,
    *,
    token: Callable[[], str] | None = None,
) -> gitrepo.WorkingClone:
    signing = None
    if r.signing in ("ssh", "gpg") and r.signing_key:
        signing = gitrepo.Signing("ssh" if r.signing == "ssh" else "gpg", r.signing_key)
    return gitrepo.WorkingClone(
        r.url,  # credentials never go into the URL (git_credentials)
        r.branch,
        r.workdir,
        identity=(r.author_name, r.author_email),
        signing=signing,
        sleep=sleep,
        credentials=git_credentials(r, token),
        on_event=log.event,
        network_timeout=r.network_timeout,
    )


def github_client(
    s: tree.GitHubSettings, repo: str | None = None, clock: Callable[[], float] = time.time
) -> githubclient.GitHubClient:
    """PAT, or GitHub App installation tokens renewed before their hour is up; ``repo`` ("owner/name")
    finds the installation (``GET /repos/{o}/{r}/installation``) when ``installation_id`` is not set."""
    # imported here: PyGithub (with requests, jwt, cryptography) is only paid for when GitHub is configured
    import github

    from bot.clients import githubauth

    source: githubauth.TokenSource
    if s.app_id is not None and s.private_key is not None:
        if s.installation_id is None and repo is None:
            raise errors.ConfigError(
                "github.auth.app.installation_id is not set and no repository names a github owner/name "
                "to look the installation up"
            )
        integration = github.GithubIntegration(
            auth=github.Auth.AppAuth(s.app_id, s.private_key.reveal()),
            base_url=s.base_url.rstrip("/"),
            timeout=int(s.timeout),
            retry=None,
        )
        source = githubauth.InstallationTokens(
            integration, installation_id=s.installation_id, repo=repo, clock=clock
        )
    elif s.token is not None and s.token.value is not None:
        source = githubauth.static(s.token.value)
    else:
        raise errors.ConfigError("github: no usable credentials (token or app)")
    # PyGithub would otherwise sleep and retry 403s itself; our error tree carries Retry-After instead.
    gh = github.Github(
        auth=githubauth.TokenAuth(source),
        base_url=s.base_url.rstrip("/"),
        timeout=int(s.timeout),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    return githubclient.GitHubClient(gh, clock=clock, token_source=source)


def _app_token(r: tree.RepoSettings, gh: githubclient.GitHubClient | None) -> Callable[[], str] | None:
    """A GitHub App's installation token for git over HTTPS (refreshed on each fetch and push) when
    the repo is on GitHub, is fetched over HTTPS and has no credentials of its own."""
    source = gh.token_source if gh is not None else None
    if source is None or not r.github or r.token is not None or r.ssh_key is not None:
        return None
    if not r.url.startswith(("https://", "http://")):
        return None
    from bot.clients import githubauth  # loaded already: ``source`` came from github_client

    return source if isinstance(source, githubauth.InstallationTokens) else None


def build(settings: tree.Settings, *, registry: metrics.Metrics | None = None) -> Runtime:
    first = next((r.github for r in settings.repos.values() if r.github), None)
    gh = github_client(settings.github, first) if settings.github is not None else None
    clones = {name: working_clone(r, token=_app_token(r, gh)) for name, r in settings.repos.items()}
    tls = Tls()
    instant = prometheus_client(settings.prometheus, tls)
    return Runtime(
        settings=settings,
        argocd=argocd_client(settings.argocd, tls),
        prometheus=instant,
        ranges=prom.RangeReader(instant),  # the sparkline reads with the same auth, TLS and headers
        clones=clones,
        github=gh,
        metrics=registry or metrics.Metrics(),
    )
