"""Secrets and connection settings: ``SecretRef`` -> ``tree.Secret``, system configs -> ``tree`` values.

Secrets are resolved once, here, from the environment mapping and files it is given; a missing
required one is a problem naming the variable or file, never its value. Relative paths are taken
from the config file's directory. This module must not contact the systems it configures.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pydantic

from bot import errors
from bot.settings import files, locate, schema, systems, tree


@dataclass(frozen=True)
class Paths:
    """Where relative paths in the config start, as a real path and as the user spelled it."""

    base: Path
    shown_base: str

    def of(self, text: str) -> tuple[Path, str]:
        """(absolute path, path as shown in messages) of a path written in the config."""
        p = Path(text).expanduser()
        if p.is_absolute():
            return p, text
        return self.base / p, str(Path(self.shown_base) / p)

    def escapes(self, text: str) -> str | None:
        """Why a relative path may not be used: it leads out of the config directory."""
        if files.escapes(self.base, text):
            return f"path {text!r} leads outside the config directory (write an absolute path to mean it)"
        return None

    def unusable(self, text: str, what: str = "") -> str | None:
        """Why ``text`` cannot be read (escape, missing, a directory, a loop), or None."""
        escape = self.escapes(text)
        if escape is not None:
            return escape
        path, shown = self.of(text)
        why = files.what_is(path)
        if why is None:
            return None
        if why == "file not found":
            return f"{what} file not found: {shown}".lstrip()
        why += ", not a YAML file" if why == "is a directory" else ""
        return f"{what} {shown} {why}".lstrip()


@dataclass
class Secrets:
    """Every SecretRef of one config, resolved and keyed by identity, plus what went wrong."""

    values: dict[int, tree.Secret] = field(default_factory=dict)
    problems: list[errors.Problem] = field(default_factory=list)
    unset: list[str] = field(default_factory=list)  # optional secrets that were not set

    def get(self, ref: systems.SecretRef | None) -> tree.Secret | None:
        return None if ref is None else self.values[id(ref)]


_HOLDS: dict[Any, bool] = {}


def _may_hold_secret(tp: Any) -> bool:
    """Can a value of annotation ``tp`` contain a SecretRef? (apps, SLOs, policies cannot: skip them)."""
    if tp not in _HOLDS:
        if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
            found = issubclass(tp, systems.SecretRef) or any(
                _may_hold_secret(f.annotation) for f in tp.model_fields.values()
            )
        else:
            found = any(_may_hold_secret(arg) for arg in typing.get_args(tp))
        _HOLDS[tp] = found
    return _HOLDS[tp]


def _refs(node: Any, loc: locate.Loc) -> Iterator[tuple[locate.Loc, systems.SecretRef]]:
    if isinstance(node, systems.SecretRef):
        yield loc, node
    elif isinstance(node, pydantic.BaseModel):
        for name, info in type(node).model_fields.items():
            if _may_hold_secret(info.annotation):
                yield from _refs(getattr(node, name), (*loc, name))
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _refs(value, (*loc, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _refs(value, (*loc, i))


def _resolve(
    ref: systems.SecretRef, paths: Paths, env: Mapping[str, str], check: bool
) -> tuple[str, str | None, str]:
    """(printable source, value or None, why it is missing). Never puts the value in a message."""
    if ref.env is not None:
        label = f"env:{ref.env}"
        if ref.env not in env:
            return label, None, f"environment variable {ref.env} is not set"
        return label, env[ref.env] or None, f"environment variable {ref.env} is empty"
    assert ref.file is not None  # schema: exactly one of env, file
    path, shown = paths.of(ref.file)
    label = f"file:{path}"
    escape = paths.escapes(ref.file)
    if escape is not None:
        return label, None, escape
    if not check:
        return label, None, ""
    why = files.what_is(path)
    if why == "file not found":
        return label, None, f"secret file {shown} does not exist"
    if why is not None:
        return label, None, f"secret file {shown} {why}"
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        return label, None, f"secret file {shown} is unreadable ({type(exc).__name__})"
    return label, value or None, f"secret file {shown} is empty"


def secrets(
    doc: locate.Document, config: schema.Config, paths: Paths, env: Mapping[str, str], *, check: bool
) -> Secrets:
    """Resolve every SecretRef of ``config``; unset required ones are problems naming the source."""
    out = Secrets()
    for loc, ref in _refs(config, ()):
        label, value, missing = _resolve(ref, paths, env, check)
        if ref.file is not None and paths.escapes(ref.file) is not None:
            out.problems.append(doc.problem((*loc, "file"), missing))
            value = None
        elif not check:
            value = None
        elif value is None and ref.optional:
            out.unset.append(label)
        elif value is None:
            out.problems.append(doc.problem(loc, missing))
        out.values[id(ref)] = tree.Secret(label, value)
    return out


def _local(url: str) -> bool:
    return "://" not in url and not url.startswith("git@")


def repo_paths(doc: locate.Document, config: schema.Config, paths: Paths) -> list[errors.Problem]:
    """Local repo URLs and work directories written as relative paths must stay in the config directory."""
    out = []
    for name, r in config.repos.items():
        for key, text in (("url", r.url if _local(r.url) else None), ("workdir", r.workdir)):
            why = paths.escapes(text) if text else None
            if why is not None:
                out.append(doc.problem(("repos", name, key), why))
    seen: dict[str, int] = {}
    for i, t in enumerate(config.credential_templates):
        why = paths.escapes(t.workdir) if t.workdir else None
        if why is not None:
            out.append(doc.problem(("credential_templates", i, "workdir"), why))
        same = t.url.lower().rstrip("/").removesuffix(".git").rstrip("/")
        if same in seen:
            first = doc.line(("credential_templates", seen[same], "url"))
            out.append(
                doc.problem(
                    ("credential_templates", i, "url"), f"duplicate template url (first at line {first})"
                )
            )
        seen.setdefault(same, i)
    return out


def prometheus(c: systems.PrometheusConfig, s: Secrets) -> tree.PrometheusSettings:
    basic = None
    if c.basic_auth is not None:
        password = s.get(c.basic_auth.password)
        assert password is not None
        basic = (c.basic_auth.username, password)
    return tree.PrometheusSettings(
        url=c.url,
        headers=MappingProxyType(dict(c.headers)),
        bearer_token=s.get(c.bearer_token),
        basic_auth=basic,
        verify_tls=c.verify_tls,
        timeout=c.timeout,
        app_label=c.app_label,
        step=c.step,
        offset=c.offset,
        scrape_interval=c.scrape_interval,
        load_query=c.load_query,
        replicas_query=c.replicas_query,
    )


def argocd(c: systems.ArgoCDConfig, s: Secrets) -> tree.ArgoCDSettings:
    login = None
    if c.login is not None:
        user, password = s.get(c.login.username), s.get(c.login.password)
        assert user is not None and password is not None
        login = (user, password)
    return tree.ArgoCDSettings(
        url=c.url,
        token=s.get(c.token),
        login=login,
        verify_tls=c.verify_tls,
        app_namespace=c.app_namespace,
        projects=tuple(c.projects),
        timeout=c.timeout,
        refresh_timeout=c.refresh_timeout,
        renew_before=c.login.renew_before if c.login is not None else 300.0,
    )


def repo(name: str, c: systems.RepoConfig, s: Secrets, paths: Paths) -> tree.RepoSettings:
    url = c.url
    if _local(url):
        url = str(paths.of(url)[0])  # a local path, relative to the config
    workdir = paths.of(c.workdir)[0] if c.workdir else paths.base / ".work" / name
    creds = c.credentials
    return tree.RepoSettings(
        name=name,
        url=url,
        branch=c.branch,
        workdir=workdir,
        github=c.github,
        token=s.get(creds.token) if creds else None,
        token_username=creds.username if creds else "x-access-token",
        ssh_key=s.get(creds.ssh_key) if creds else None,
        known_hosts=paths.of(creds.known_hosts)[0] if creds and creds.known_hosts else None,
        host_key_checking=creds.host_key_checking if creds else "strict",
        author_name=c.identity.name,
        author_email=c.identity.email,
        signing=c.signing.format,
        signing_key=c.signing.key,
        merge_method=c.merge_method,
        protected_fallback=c.protected_fallback,
        stray_branch_after=c.stray_branch_after,
        network_timeout=c.network_timeout,
    )


def credential_template(
    c: systems.CredentialTemplate, s: Secrets, paths: Paths, source: str = ""
) -> tree.CredentialTemplate:
    """A template with its secrets; its ``repo`` is the prototype each derived repo copies."""
    like = systems.RepoConfig(
        url=c.url,
        branch=c.branch,
        credentials=c.credentials,
        identity=c.identity,
        signing=c.signing,
        merge_method=c.merge_method,
        protected_fallback=c.protected_fallback,
    )
    workdir = paths.of(c.workdir)[0] if c.workdir else paths.base / ".work"
    proto = dataclasses.replace(repo("", like, s, paths), url=c.url, workdir=workdir)
    return tree.CredentialTemplate(c.url, c.credentials.ssh_key is not None, proto, c.github, source)


def github(c: systems.GitHubConfig, s: Secrets) -> tree.GitHubSettings:
    app = c.auth.app
    return tree.GitHubSettings(
        base_url=c.base_url,
        token=s.get(c.auth.token),
        app_id=app.app_id if app else None,
        private_key=s.get(app.private_key) if app else None,
        installation_id=app.installation_id if app else None,
        timeout=c.timeout,
    )


def service(c: systems.ServiceConfig, s: Secrets) -> tree.ServiceSettings:
    host, _, port = c.listen.rpartition(":")
    hooks = tree.Webhooks(
        s.get(c.webhooks.alertmanager_token), s.get(c.webhooks.github_secret), c.webhooks.insecure
    )
    return tree.ServiceSettings(host=host.strip("[]") or "0.0.0.0", port=int(port), webhooks=hooks)
