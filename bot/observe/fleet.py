"""Fleet discovery: Argo CD Applications matched by a template in ``apps`` become apps, every cycle.

A template (an ``apps`` entry with ``discover``) selects Applications by labels, projects, the
namespaces of the Application objects and name globs. Each match becomes an app named after its
Application; its repo is the configured repo whose URL matches the Application's Git source (else a
repo derived from the longest matching credential template), its paths default to the source path,
and ``githeal.io/...`` annotations override the template per Application. A bad annotation skips
that Application with a reason; the others go on. Pure: the Applications come in as values (the
cycle lists them once), nothing is fetched or cached here.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from bot import model
from bot.clients import argoapp, gitauth
from bot.settings import policy as pol
from bot.settings import tree

PREFIX = "githeal.io/"
ENABLED, POLICIES, SLOS, CONTAINERS, PATHS = (
    f"{PREFIX}enabled",
    f"{PREFIX}policies",
    f"{PREFIX}slos",
    f"{PREFIX}containers",
    f"{PREFIX}paths",
)
ROLLBACK, MIN_REPLICAS, MAX_REPLICAS, PROMETHEUS_APP = (
    f"{PREFIX}rollback",
    f"{PREFIX}min-replicas",
    f"{PREFIX}max-replicas",
    f"{PREFIX}prometheus-app",
)
KNOWN = frozenset(
    {ENABLED, POLICIES, SLOS, CONTAINERS, PATHS, ROLLBACK, MIN_REPLICAS, MAX_REPLICAS, PROMETHEUS_APP}
)
STRATEGIES = ("revert", "restore", "pin-image")


@dataclass(frozen=True)
class Skipped:
    application: str  # namespace/name
    template: str
    reason: str


@dataclass(frozen=True)
class Discovered:
    """This cycle's fleet: the apps found (by name), and the Applications a template matched but could
    not use, with why. ``unmatched`` counts the Applications no template selected."""

    apps: Mapping[str, tree.AppSpec]
    skipped: tuple[Skipped, ...] = ()
    unmatched: int = 0
    repos: Mapping[str, tree.RepoSettings] = field(default_factory=dict)  # derived from templates

    def summary(self) -> str:
        parts = [f"{len(self.apps)} discovered"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        parts.append(f"{self.unmatched} not selected by any template")
        return ", ".join(parts)


def repo_key(url: str) -> str:
    """A Git URL reduced to host/path, so https, ssh and scp-like spellings of one repo compare equal:
    the same normalisation the Argo CD client uses to pick a multi-source app's Git source."""
    return argoapp.repo_key(url)


_SCP = re.compile(r"^[\w.-]+@[\w.-]+:(?!//)")


def _ssh(url: str) -> bool | None:
    """True for ssh:// and user@host:path URLs, False for http(s), None for anything else."""
    text = url.strip().lower()
    if text.startswith("ssh://") or _SCP.match(text):
        return True
    return False if text.startswith(("https://", "http://")) else None


def template_for(templates: Sequence[tree.CredentialTemplate], url: str) -> tree.CredentialTemplate | None:
    """The credential template for a Git URL: the longest matching prefix, the first one on a tie, as
    Argo CD's ``getRepositoryCredentialIndex`` (util/db/repository_secrets.go) picks ``repo-creds``.
    Two deliberate differences: the prefix ends on a path-segment boundary (``host/org`` never lends
    its token to ``host/org-other`` or to ``host.evil``), and a token template only serves http(s)
    URLs, an SSH key template only ssh/scp ones."""
    ssh = _ssh(url)
    if ssh is None:
        return None
    key = repo_key(url)
    best, size = None, -1
    for t in templates:
        prefix = repo_key(t.url)
        if t.ssh == ssh and (key == prefix or key.startswith(prefix + "/")) and len(prefix) > size:
            best, size = t, len(prefix)
    return best


def derived_name(url: str) -> str:
    """The repo name of a template-derived repo: readable and stable for every spelling of the URL."""
    key = repo_key(url)
    slug = re.sub(r"[^a-z0-9._-]+", "-", key).strip("-.")[:80]
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def derive(t: tree.CredentialTemplate, url: str) -> tree.RepoSettings:
    """The repo a template gives ``url``: the template's credentials and defaults, a clone of its own."""
    name = derived_name(url)
    parts = repo_key(url).split("/")
    github = "/".join(parts[-2:]) if t.github and len(parts) >= 3 else None
    return dataclasses.replace(
        t.repo, name=name, url=url.strip(), workdir=t.repo.workdir / name, github=github
    )


def _matches(d: tree.Discovery, status: model.AppStatus) -> bool:
    def any_glob(patterns: Collection[str], value: str) -> bool:
        return not patterns or any(fnmatch.fnmatchcase(value, p) for p in patterns)

    return (
        all(status.labels.get(k) == v for k, v in d.selector.items())
        and any_glob(d.projects, status.project)
        and any_glob(d.namespaces, status.app_namespace)
        and any_glob(d.names, status.name)
    )


def _csv(value: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in value.split(",") if x.strip())


def _metric_name(d: tree.Discovery, status: model.AppStatus, bare: str) -> str | None:
    kind, _, key = d.prometheus_app.partition(":")
    if kind == "label":
        return status.labels.get(key) or None
    if kind == "annotation":
        return status.annotations.get(key) or None
    return bare


def _replicas(notes: Mapping[str, str], key: str) -> int | None:
    raw = notes.get(key)
    if raw is None:
        return None
    if not raw.strip().isdigit() or int(raw) < 1 or int(raw) > 10_000:
        raise ValueError(f"annotation {key}: expected a whole number 1..10000, got {raw!r}")
    return int(raw)


def _apply_annotations(
    spec: tree.AppSpec, notes: Mapping[str, str], policies: Collection[str], slos: Collection[str]
) -> tree.AppSpec | None:
    """The template narrowed by the Application's annotations; None when it opts out.
    ``ValueError`` names the annotation that is wrong."""
    if not any(k.startswith(PREFIX) for k in notes):
        return spec  # no override: the template as it is (most of a fleet; no copy per Application)
    unknown = sorted(k for k in notes if k.startswith(PREFIX) and k not in KNOWN)
    if unknown:
        raise ValueError(f"unknown annotation {unknown[0]} (known: {', '.join(sorted(KNOWN))})")
    enabled = notes.get(ENABLED, "true").strip().lower()
    if enabled not in ("true", "false"):
        raise ValueError(f"annotation {ENABLED}: expected true or false, got {notes[ENABLED]!r}")
    if enabled == "false":
        return None
    changes: dict[str, object] = {}
    if POLICIES in notes:
        chosen = _csv(notes[POLICIES])
        bad = [p for p in chosen if p not in policies]
        if bad:
            raise ValueError(f"annotation {POLICIES}: unknown policy {bad[0]!r}")
        changes["policies"] = chosen
    if SLOS in notes:
        chosen = _csv(notes[SLOS])
        bad = [x for x in chosen if x not in slos]
        if bad:
            raise ValueError(f"annotation {SLOS}: unknown SLO {bad[0]!r}")
        changes["slos"] = chosen
    if CONTAINERS in notes:
        changes["containers"] = _csv(notes[CONTAINERS])
    if PATHS in notes:
        paths = _csv(notes[PATHS])
        if not paths or any(p.startswith("/") or ".." in p.split("/") for p in paths):
            raise ValueError(f"annotation {PATHS}: expected repo-relative globs, got {notes[PATHS]!r}")
        changes["paths"] = paths
    if ROLLBACK in notes:
        if notes[ROLLBACK] not in STRATEGIES:
            raise ValueError(f"annotation {ROLLBACK}: expected one of {', '.join(STRATEGIES)}")
        changes["rollback"] = notes[ROLLBACK]
    low, high = _replicas(notes, MIN_REPLICAS), _replicas(notes, MAX_REPLICAS)
    low = spec.min_replicas if low is None else low
    high = spec.max_replicas if high is None else high
    if low is not None and high is not None and low > high:
        raise ValueError(f"annotations {MIN_REPLICAS} ({low}) > {MAX_REPLICAS} ({high})")
    changes.update(min_replicas=low, max_replicas=high)
    if PROMETHEUS_APP in notes:
        changes["metric_name"] = notes[PROMETHEUS_APP].strip() or None
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def _source_for(
    spec: tree.AppSpec,
    status: model.AppStatus,
    repos: Mapping[str, str],
    templates: Sequence[tree.CredentialTemplate] = (),
) -> tuple[str, str, tree.RepoSettings | None]:
    """(repo name, source path, derived repo): the first Git source of the Application (its ``source``,
    then each non-chart entry of ``sources``) whose URL is a configured repo (the template's ``repo``, if
    set); else the first one a credential template covers, with the repo derived from it.
    A multi-source app often lists a chart or another team's repo first; the manifests may be in any."""
    candidates = [
        (status.repo_url, status.path),
        *((s.repo_url, s.path) for s in status.sources if not s.chart),
    ]
    for url, path in candidates:
        key = repo_key(url)
        for name, repo_url in repos.items():
            if (not spec.repo or name == spec.repo) and url and repo_key(repo_url) == key:
                return name, path, None
    if spec.repo:
        return spec.repo, status.path, None
    for url, path in candidates:
        found = template_for(templates, url) if url else None
        if found is not None:
            return derived_name(url), path, derive(found, url)
    urls = ", ".join(dict.fromkeys(gitauth.mask(u) for u, _ in candidates if u)) or "(none)"
    raise ValueError(f"no configured repo or credential template for {urls}")


def discover(
    templates: Mapping[str, tree.AppSpec],
    statuses: Sequence[model.AppStatus],
    *,
    repos: Mapping[str, str],
    credentials: Sequence[tree.CredentialTemplate] = (),
    configured: Collection[str] = (),
    claimed: Collection[str] = (),
    policies: Collection[str] = (),
    slos: Collection[str] = (),
    pr_policies: Sequence[pol.Policy] = (),
    no_github: Collection[str] = (),
) -> Discovered:
    """The apps this cycle's Applications give. ``repos``: repo name -> URL; ``configured``: names of
    the static apps (they win over a discovered app of the same name); ``credentials``: credential
    templates giving a repo to an Application whose source is no configured repo; ``claimed``: the Argo CD
    Applications static apps already manage (``argocd_app``, by default the app's key): an
    Application is managed once, by its static entry, even when that entry has another name.
    ``pr_policies``: the policies that open pull requests; an app one of them applies to must get a
    repo with a GitHub owner/name (``no_github``: the configured repos without one), else it is
    skipped with why, as a static app would be refused at config load."""
    found: dict[str, tree.AppSpec] = {}
    skipped: list[Skipped] = []
    unmatched = 0
    seen: dict[str, str] = {}
    derived: dict[str, tree.RepoSettings] = {}
    for status in statuses:
        # Argo CD names an Application outside its control-plane namespace ``ns/name``; the app is ``name``.
        bare = status.name.rpartition("/")[2]
        where = f"{status.app_namespace or '-'}/{bare}"
        name, spec = next(
            ((n, t) for n, t in templates.items() if t.discover and _matches(t.discover, status)), ("", None)
        )
        if spec is None:
            unmatched += 1
            continue
        try:
            narrowed = _apply_annotations(spec, status.annotations, policies, slos)
            if narrowed is None:
                skipped.append(Skipped(where, name, f"opted out ({ENABLED}: false)"))
                continue
            repo, source_path, made = _source_for(narrowed, status, repos, credentials)
            if made is not None:
                derived.setdefault(repo, made)  # several Applications in one repo share its clone
            paths = narrowed.paths or ((source_path.strip("/") + "/",) if source_path.strip("/") else ())
            if not paths:
                raise ValueError("its source has no path and the template gives no paths")
            if (made.github is None) if made is not None else (repo in no_github):
                _needs_no_prs(pr_policies, narrowed, bare, status, repo, made)
        except ValueError as exc:
            skipped.append(Skipped(where, name, str(exc)))
            continue
        if status.name in claimed:
            skipped.append(Skipped(where, name, "its Application is managed by a configured app"))
            continue
        if bare in configured:
            skipped.append(Skipped(where, name, f"an app named {bare!r} is configured explicitly"))
            continue
        if bare in seen:
            skipped.append(Skipped(where, name, f"same name as Application {seen[bare]}"))
            if found.pop(bare, None) is not None:
                skipped.append(Skipped(seen[bare], name, f"same name as Application {where}"))
            continue
        seen[bare] = where
        metric = narrowed.metric_name or _metric_name(spec.discover or tree.Discovery(), status, bare)
        if metric is None:
            what = (spec.discover or tree.Discovery()).prometheus_app
            skipped.append(Skipped(where, name, f"no {what} for the Prometheus app label"))
            continue
        found[bare] = dataclasses.replace(
            narrowed,
            name=bare,
            repo=repo,
            paths=paths,
            argocd_app=status.name,
            selector=None,
            discover=None,
            metric_name=None if metric == bare else metric,
            app_namespace=status.app_namespace or None,
            template=name,
        )
    used = {spec.repo: derived[spec.repo] for spec in found.values() if spec.repo in derived}
    return Discovered(found, tuple(skipped), unmatched, used)


def _needs_no_prs(
    pr_policies: Sequence[pol.Policy],
    spec: tree.AppSpec,
    app: str,
    status: model.AppStatus,
    repo: str,
    derived: tree.RepoSettings | None,
) -> None:
    """``ValueError`` when a pull-request policy applies to an app whose repo has no GitHub owner/name."""
    for p in pr_policies:
        if (spec.policies is None or p.name in spec.policies) and p.selector.matches(app, status.labels):
            where = (
                f"its repo {gitauth.mask(derived.url)} comes from a credential template without github: true"
                if derived is not None
                else f"repo {repo!r} has no github owner/name"
            )
            raise ValueError(f"policy {p.name!r} opens pull requests, but {where}")


def discover_in(s: tree.Settings, statuses: Sequence[model.AppStatus]) -> Discovered:
    """``discover`` with everything it needs taken from the settings (the cycle and ``githeal history``
    must find the same apps and derived repos)."""
    return discover(
        s.fleets,
        statuses,
        repos={name: r.url for name, r in s.repos.items()},
        credentials=s.credential_templates,
        configured=s.apps,
        claimed={spec.argocd_app or name for name, spec in s.apps.items() if spec.selector is None},
        policies={p.name for p in s.policies},
        slos=s.slos,
        pr_policies=[p for p in s.policies if p.opens_prs],
        no_github={name for name, r in s.repos.items() if r.github is None},
    )
