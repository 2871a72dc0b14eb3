"""The loaded settings tree: frozen values handed to every stage (durations in seconds, paths absolute).

``Settings`` is built once by ``bot.settings.load`` and passed explicitly; nothing else in the
bot reads config files or the environment. Secrets are resolved at load into ``Secret`` values
whose repr and str never show the value.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from bot import errors, model
from bot.settings import policy


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Secret:
    """A resolved secret. ``value`` is None when it is optional and unset, or was not resolved."""

    ref: str  # "env:NAME" or "file:/abs/path": safe to print
    value: str | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return f"<secret {self.ref}>"

    def reveal(self) -> str:
        if self.value is None:
            raise errors.ConfigError(f"secret {self.ref} is not available")
        return self.value


@dataclass(frozen=True)
class PrometheusSettings:
    url: str
    headers: Mapping[str, str] = field(default_factory=_empty)
    bearer_token: Secret | None = None
    basic_auth: tuple[str, Secret] | None = None  # (username, password)
    verify_tls: bool = True
    timeout: float = 20.0
    app_label: str = "app"
    step: float = 30.0
    offset: float = 15.0
    scrape_interval: float = 15.0
    load_query: str | None = None
    replicas_query: str | None = None


@dataclass(frozen=True)
class ArgoCDSettings:
    url: str
    token: Secret | None = None
    login: tuple[Secret, Secret] | None = None  # (username, password) for POST /api/v1/session
    verify_tls: bool = True
    app_namespace: str | None = None
    projects: tuple[str, ...] = ()
    timeout: float = 10.0
    refresh_timeout: float = 60.0
    renew_before: float = 300.0  # session login: log in again this long before the token expires


@dataclass(frozen=True)
class RepoSettings:
    name: str
    url: str  # clone URL, or an absolute local path
    branch: str
    workdir: Path
    github: str | None = None  # "owner/name"
    token: Secret | None = None
    token_username: str = "x-access-token"
    ssh_key: Secret | None = None
    known_hosts: Path | None = None  # SSH: the known_hosts file trusted (None: ssh's defaults)
    host_key_checking: str = "strict"  # "strict" | "accept-new"
    author_name: str = "githeal"
    author_email: str = "githeal@localhost"
    signing: str = "none"  # "none" | "ssh" | "gpg"
    signing_key: str | None = None
    merge_method: str | None = None  # "merge" | "squash" | "rebase"; None: the first the repo allows
    protected_fallback: bool = True  # a direct push refused by protection (GH006) becomes a PR
    stray_branch_after: float = 60.0  # seconds: a PR branch without its PR older than this is deleted
    network_timeout: float = 300.0  # seconds a clone, fetch, push or ls-remote may take before it is killed


@dataclass(frozen=True)
class CredentialTemplate:
    """Credentials for the repos under a URL prefix. ``repo`` is the prototype of a derived repo: its
    name and url are filled from the Application's source, its workdir is the parent of the clones."""

    url: str  # the prefix as written
    ssh: bool  # True: matches ssh:// and user@host: sources only; False: http(s) ones only
    repo: RepoSettings
    github: bool = False  # owner/name are the last two path segments of the URL
    source: str = ""  # file:line, for messages


@dataclass(frozen=True)
class GitHubSettings:
    base_url: str
    token: Secret | None = None
    app_id: int | None = None
    private_key: Secret | None = None
    installation_id: int | None = None
    timeout: float = 15.0


@dataclass(frozen=True)
class HelmPaths:
    image_tag: str = "image.tag"
    image_repository: str = "image.repository"
    replicas: str = "replicaCount"


@dataclass(frozen=True)
class Discovery:
    """How a fleet template picks Argo CD Applications (every given filter must match)."""

    selector: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    projects: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    prometheus_app: str = "name"  # name | label:<key> | annotation:<key>


@dataclass(frozen=True)
class AppSpec:
    """One managed app: where it lives in Argo CD and Git, and what the bot may touch."""

    name: str
    repo: str
    paths: tuple[str, ...]
    argocd_app: str | None = None  # None when chosen by ``selector``
    selector: Mapping[str, str] | None = None
    slos: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    helm: HelmPaths = HelmPaths()
    min_replicas: int | None = None
    max_replicas: int | None = None
    rollback: str = "revert"
    discover: Discovery | None = None  # set on fleet templates only
    policies: tuple[str, ...] | None = None  # None: every policy that selects the app
    metric_name: str | None = None  # the Prometheus app label value, when it is not the app's name
    app_namespace: str | None = None  # the Application's own namespace (appNamespace), when known
    template: str = ""  # the fleet template a discovered app came from

    def allows(self, path: str) -> bool:
        """May the bot edit ``path`` (repo-relative)? A glob, or a directory prefix ending in /."""
        clean = path.removeprefix("./")
        for pattern in self.paths:
            if pattern.endswith("/") and clean.startswith(pattern):
                return True
            if fnmatch.fnmatchcase(clean, pattern):
                return True
        return False


@dataclass(frozen=True)
class Webhooks:
    alertmanager_token: Secret | None = None
    github_secret: Secret | None = None
    insecure: bool = False  # only an explicit `insecure: true` lets an unauthenticated webhook in


@dataclass(frozen=True)
class ServiceSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    webhooks: Webhooks = Webhooks()


@dataclass(frozen=True)
class Schedule:
    interval: float = 30.0
    jitter: float = 0.0


@dataclass(frozen=True)
class VerifySettings:
    timeout: float = 900.0
    period: float = 300.0


@dataclass(frozen=True)
class ManifestSettings:
    max_bytes: int = 1024 * 1024  # bigger files are skipped before any parsing


@dataclass(frozen=True)
class AnalyzerSettings:
    command: tuple[str, ...]  # argv
    timeout: float = 30.0


@dataclass(frozen=True)
class LogSettings:
    format: str = "text"
    level: str = "info"


@dataclass(frozen=True)
class Settings:
    """Everything githeal was configured with, validated and cross-checked."""

    source: Path
    prometheus: PrometheusSettings
    argocd: ArgoCDSettings
    repos: Mapping[str, RepoSettings]
    apps: Mapping[str, AppSpec]  # configured apps; a cycle adds the ones discovered from ``fleets``
    slos: Mapping[str, model.SLO]
    policies: tuple[policy.Policy, ...]
    guardrails: policy.Guardrails
    github: GitHubSettings | None = None
    schedule: Schedule = Schedule()
    service: ServiceSettings = ServiceSettings()
    verify: VerifySettings = VerifySettings()
    log: LogSettings = LogSettings()
    manifests: ManifestSettings = ManifestSettings()
    templates: Path | None = None  # message templates overriding the built-in ones, by file name
    unset_optional: tuple[str, ...] = ()  # refs of optional secrets that were not set
    secrets_checked: bool = True
    fleets: Mapping[str, AppSpec] = field(default_factory=lambda: MappingProxyType({}))  # templates
    analyzer: AnalyzerSettings | None = None  # escalation triage command
    credential_templates: tuple[CredentialTemplate, ...] = ()  # repos of discovered apps, by URL prefix

    def app_slos(self, app: str) -> tuple[model.SLO, ...]:
        return tuple(self.slos[name] for name in self.apps[app].slos)

    def policies_for(self, app: str, labels: Mapping[str, str] | None = None) -> tuple[policy.Policy, ...]:
        return tuple(p for p in self.policies if p.selector.matches(app, labels))
