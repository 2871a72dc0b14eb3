"""Config schema (pydantic v2) for the systems githeal talks to, plus the shared field types.

Durations are strings like ``30s``/``5m``/``28d`` (or numbers of seconds) parsed by
``model.parse_duration``; secrets are references (``{env: NAME}`` or ``{file: PATH}``), never
inline values. These models only check shapes: they must not read files or the environment.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema

from bot import errors, model

DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h|d|w))+\s*$"


MAX_DURATION = 10 * 366 * 86400.0  # ten years: anything longer is a typo or an attack, not a setting


def _duration(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a duration such as 30s, 5m, 1h or 28d, got {type(value).__name__}")
    seconds = model.parse_duration(value)
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        raise ValueError(f"duration {errors.truncate(value, 40)} is not finite or longer than 10 years")
    return seconds


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be longer than 0s")
    return value


_DURATION_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": DURATION_PATTERN}, {"type": "number", "minimum": 0}]
}
Duration = Annotated[float, BeforeValidator(_duration), WithJsonSchema(_DURATION_SCHEMA)]
PositiveDuration = Annotated[
    float, pydantic.AfterValidator(_positive), BeforeValidator(_duration), WithJsonSchema(_DURATION_SCHEMA)
]


def _url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value.rstrip("/")


Url = Annotated[str, pydantic.AfterValidator(_url)]


class Base(pydantic.BaseModel):
    """Strict, closed, immutable: unknown keys and loose types are config errors."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, populate_by_name=True, allow_inf_nan=False, defer_build=True
    )


def exactly_one(obj: pydantic.BaseModel, names: tuple[str, ...], *, allow_none: bool = False) -> None:
    """Mutually exclusive alternatives (``token`` or ``login``), reported at the parent key."""
    given = [n for n in names if getattr(obj, n) is not None]
    if len(given) > 1:
        raise ValueError(f"use only one of {', '.join(names)} (got: {', '.join(given)})")
    if not given and not allow_none:
        raise ValueError(f"one of {', '.join(names)} is required")


class SecretRef(Base):
    """Where a secret lives. Resolved once at load; its value is never printed."""

    env: str | None = Field(default=None, description="Name of an environment variable holding the secret.")
    file: str | None = Field(
        default=None, description="Path of a file holding the secret (relative to the config)."
    )
    optional: bool = Field(default=False, description="An unset variable or missing file is not an error.")

    @pydantic.model_validator(mode="before")
    @classmethod
    def _no_inline(cls, data: Any) -> Any:
        if isinstance(data, str | int | float) and not isinstance(data, bool):
            raise ValueError("inline secrets are not allowed; use {env: NAME} or {file: PATH}")
        return data

    @pydantic.model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        exactly_one(self, ("env", "file"))
        if self.env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.env):
            raise ValueError(f"not an environment variable name: {self.env!r}")
        return self


class BasicAuth(Base):
    username: str
    password: SecretRef


class PrometheusConfig(Base):
    url: Url = Field(description="Base URL of the Prometheus HTTP API, e.g. http://prometheus:9090.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers, e.g. X-Scope-OrgID.")
    bearer_token: SecretRef | None = None
    basic_auth: BasicAuth | None = None
    verify_tls: bool = True
    timeout: PositiveDuration = Field(
        default=20.0, description="Per-query timeout; keep it below the interval."
    )
    app_label: str = Field(default="app", description="Label carrying the app name in every SLI series.")
    step: PositiveDuration = Field(
        default=30.0, description="Evaluation time is pinned to floor(now/step)*step."
    )
    offset: Duration = Field(
        default=15.0, description="Evaluate this far in the past to tolerate ingestion delay."
    )
    scrape_interval: PositiveDuration = Field(default=15.0, description="Scrape interval of the SLI series.")
    load_query: str | None = Field(
        default=None,
        description="PromQL giving load per replica for every app, grouped by the app label "
        "(for `when: load` policies), e.g. sum by (app) (rate(http_requests_total[1m])) / "
        "sum by (app) (kube_deployment_spec_replicas).",
    )
    replicas_query: str | None = Field(
        default=None,
        description="PromQL giving the current replica count of every app, grouped by the app label "
        "(for scale policies).",
    )

    @pydantic.model_validator(mode="after")
    def _one_auth(self) -> PrometheusConfig:
        exactly_one(self, ("bearer_token", "basic_auth"), allow_none=True)
        return self


class ArgoCDLogin(Base):
    username: SecretRef
    password: SecretRef
    renew_before: PositiveDuration = Field(
        default=300.0,
        description="Log in again this long before the session token expires (users.session.duration, "
        "24h by default); a 401 also triggers one new login.",
    )


class ArgoCDConfig(Base):
    url: Url = Field(description="Argo CD API server URL.")
    token: SecretRef | None = Field(
        default=None, description="API key (JWT) of a local account with apiKey capability."
    )
    login: ArgoCDLogin | None = Field(default=None, description="Session login instead of a token.")
    verify_tls: bool = True
    app_namespace: str | None = Field(
        default=None, description="appNamespace for apps outside the control plane."
    )
    projects: list[str] = Field(default_factory=list, description="Only consider apps in these projects.")
    timeout: PositiveDuration = 10.0
    refresh_timeout: PositiveDuration = Field(
        default=60.0, description="HTTP timeout for GET ?refresh= calls."
    )

    @pydantic.model_validator(mode="after")
    def _one_auth(self) -> ArgoCDConfig:
        exactly_one(self, ("token", "login"))
        return self


class RepoCredentials(Base):
    token: SecretRef | None = Field(default=None, description="HTTPS token (used as password).")
    username: str = Field(default="x-access-token", description="HTTPS user name sent with the token.")
    ssh_key: SecretRef | None = Field(default=None, description="Private SSH key for ssh:// or git@ URLs.")
    known_hosts: str | None = Field(
        default=None,
        description="known_hosts file trusted for SSH remotes (relative to the config); default: ssh's own.",
    )
    host_key_checking: Literal["strict", "accept-new"] = Field(
        default="strict",
        description="strict: unknown or changed host keys are refused; accept-new: trust a host seen "
        "for the first time (recorded in known_hosts), still refuse a changed key.",
    )

    @pydantic.model_validator(mode="after")
    def _one(self) -> RepoCredentials:
        exactly_one(self, ("token", "ssh_key"))
        return self


class Identity(Base):
    name: str = "githeal"
    email: str = "githeal@localhost"


class Signing(Base):
    format: Literal["none", "ssh", "gpg"] = "none"
    key: str | None = Field(
        default=None, description="Signing key: SSH key path or GPG key id (git user.signingkey)."
    )

    @pydantic.model_validator(mode="after")
    def _key(self) -> Signing:
        if self.format != "none" and not self.key:
            raise ValueError(f"signing format {self.format!r} needs a key")
        return self


class RepoConfig(Base):
    url: str = Field(description="Clone URL, or a local path (relative to the config file).")
    branch: str = "main"
    github: str | None = Field(default=None, description="owner/name on GitHub; needed for pull requests.")
    credentials: RepoCredentials | None = None
    identity: Identity = Identity()
    signing: Signing = Signing()
    workdir: str | None = Field(
        default=None, description="Where the clone lives; default <config dir>/.work/<repo>."
    )
    merge_method: Literal["merge", "squash", "rebase"] | None = Field(
        default=None,
        description="How heal PRs are merged; default: the first the repository allows "
        "(merge, squash, rebase, from its allow_*_merge settings).",
    )
    protected_fallback: bool = Field(
        default=True,
        description="When a direct push is refused by branch protection (GH006), open a PR with "
        "auto-merge instead (false: the heal fails).",
    )
    stray_branch_after: PositiveDuration = Field(
        default=60.0,
        description="A githeal/ PR branch without its PR is another replica opening that PR; older than "
        "this it is a leftover of a killed process and is deleted so the heal can be proposed again.",
    )
    network_timeout: PositiveDuration = Field(
        default=300.0,
        description="A git command that talks to the remote (clone, fetch, push, ls-remote) is killed "
        "after this long: a stalled remote fails this repo's work instead of hanging every cycle.",
    )

    @pydantic.field_validator("github")
    @classmethod
    def _owner_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[\w.-]+/[\w.-]+", value):
            raise ValueError(f"expected owner/name, got {value!r}")
        return value


_REMOTE = re.compile(r"^(?:(?P<http>https?://)|(?P<ssh>ssh://)|[\w.-]+@[\w.-]+:(?!//))\S+$")


class CredentialTemplate(Base):
    """Credentials for every repository under a URL prefix, as Argo CD's ``repo-creds`` templates: a
    discovered Application whose Git source is no configured repo gets a repo derived from the longest
    matching template."""

    url: str = Field(
        description="URL prefix, e.g. https://git.example.com/platform or git@git.example.com:platform "
        "(matched on path-segment boundaries; scheme, user, .git and case do not matter)."
    )
    credentials: RepoCredentials = Field(
        description="Used for every repo under the prefix: a token matches https:// sources only, an "
        "ssh_key ssh:// and git@host: sources only."
    )
    branch: str = "main"
    github: bool = Field(
        default=False,
        description="The repos are on GitHub as <owner>/<name>, the last two path segments of the URL "
        "(needed for pull requests).",
    )
    identity: Identity = Identity()
    signing: Signing = Signing()
    workdir: str | None = Field(
        default=None,
        description="Directory holding the derived clones, one per repo; default <config dir>/.work.",
    )
    merge_method: Literal["merge", "squash", "rebase"] | None = None
    protected_fallback: bool = True

    @pydantic.field_validator("url")
    @classmethod
    def _remote(cls, value: str) -> str:
        if re.match(r"^[a-z+]+://[^/@]*:[^/@]*@", value.strip(), re.IGNORECASE):
            raise ValueError("the url must not carry a password (user:password@): use credentials.token")
        if not _REMOTE.match(value.strip()):
            raise ValueError(
                "expected an https://, ssh:// or user@host:path URL prefix, "
                f"got {errors.truncate(value, 80)!r}"
            )
        return value.strip()

    @pydantic.model_validator(mode="after")
    def _transport(self) -> CredentialTemplate:
        match = _REMOTE.match(self.url)
        assert match is not None  # _remote
        if self.credentials.token is not None and not match.group("http"):
            raise ValueError("a token is sent over HTTPS: the url must start with https:// (or http://)")
        if self.credentials.ssh_key is not None and match.group("http"):
            raise ValueError("an ssh_key is used over SSH: the url must be ssh://... or user@host:path")
        return self


class GitHubApp(Base):
    app_id: int = Field(gt=0)
    private_key: SecretRef = Field(description="PEM private key of the GitHub App (usually a file).")
    installation_id: int | None = Field(default=None, gt=0, description="Default: looked up per repository.")


class GitHubAuth(Base):
    token: SecretRef | None = Field(default=None, description="Personal access or installation token.")
    app: GitHubApp | None = None

    @pydantic.model_validator(mode="after")
    def _one(self) -> GitHubAuth:
        exactly_one(self, ("token", "app"))
        return self


class GitHubConfig(Base):
    base_url: Url = Field(default="https://api.github.com", description="GHES: https://HOST/api/v3.")
    auth: GitHubAuth
    timeout: PositiveDuration = 15.0


class Webhooks(Base):
    alertmanager_token: SecretRef | None = Field(
        default=None, description="Bearer token Alertmanager must send."
    )
    github_secret: SecretRef | None = Field(default=None, description="HMAC secret of X-Hub-Signature-256.")
    insecure: bool = Field(
        default=False,
        description="Accept webhooks that have no token or secret configured (refused unless true).",
    )


class ServiceConfig(Base):
    listen: str = Field(
        default="127.0.0.1:8080", description="host:port of /healthz, /readyz, /metrics, webhooks."
    )
    webhooks: Webhooks = Webhooks()

    @pydantic.field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        _host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"expected host:port, got {value!r}")
        return value


class ScheduleConfig(Base):
    interval: PositiveDuration = Field(
        default=30.0, description="Time between two observe-decide-act cycles."
    )
    jitter: Duration = Field(default=0.0, description="Random delay added to each cycle, to spread replicas.")


class VerifyConfig(Base):
    timeout: PositiveDuration = Field(default=900.0, description="Give up (and escalate) after this long.")
    period: PositiveDuration = Field(
        default=300.0, description="Post-sync OK data needed before calling a heal good."
    )


class AnalyzerConfig(Base):
    command: str | list[str] = Field(
        description="Command run for each escalation with its evidence bundle as JSON on stdin; its "
        "stdout (markdown) is added to the issue under ## Analysis. A string is split like a shell would."
    )
    timeout: PositiveDuration = Field(
        default=30.0, description="Kill the analyzer after this long; the issue is already open by then."
    )

    @pydantic.field_validator("command")
    @classmethod
    def _command(cls, value: str | list[str]) -> str | list[str]:
        if not (value.strip() if isinstance(value, str) else value and all(v.strip() for v in value)):
            raise ValueError("the analyzer command must not be empty")
        return value


class ManifestsConfig(Base):
    max_bytes: int = Field(
        default=1048576,
        gt=0,
        le=1073741824,
        description="Manifests larger than this many bytes are skipped, never parsed (default 1 MiB).",
    )


class LogConfig(Base):
    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"
