"""``githeal history``: every heal read back from Git trailers, joined with its verification status.

From a repo path or URL (trailers only; verification status needs GitHub), or from the configured
repos and the repos credential templates give discovered Applications (statuses read from the
``githeal/verify`` commit status). Read-only.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

from bot import errors, model
from bot.clients import gitrepo
from bot.observe import fleet
from bot.record import auditlog as heal_history
from bot.record import log
from bot.service import ledger, wiring
from bot.settings import tree


def parse_since(text: str | None, now: datetime) -> datetime | None:
    if not text:
        return None
    try:
        return now - timedelta(seconds=model.parse_duration(text))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise errors.ConfigError(f"--since: not a duration (7d) or ISO date: {text!r}") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _is_url(repo: str) -> bool:
    return "://" in repo or (repo.count(":") == 1 and "@" in repo and not Path(repo).exists())


def _with_derived(
    config: tree.Settings, rt: wiring.Runtime, clones: dict[str, gitrepo.WorkingClone]
) -> tree.Settings:
    """Add the repos credential templates give the discovered Applications (as a cycle finds them), so
    their heals are listed too. Argo CD or a clone failing leaves those repos out, with a warning: the
    configured repos' history is still worth printing."""
    if not config.fleets or not config.credential_templates:
        return config
    try:
        found = fleet.discover_in(config, rt.argocd.list_statuses())
    except errors.BotError as exc:
        log.event("history.discovery_failed", logging.WARNING, error=str(exc))
        return config
    derived: dict[str, tree.RepoSettings] = {}
    for name, repo in found.repos.items():
        clone = wiring.working_clone(repo)
        try:
            clone.sync()
        except errors.GitError as exc:
            log.event("history.repo_skipped", logging.WARNING, repo=name, error=str(exc))
            continue
        clones[name] = clone
        derived[name] = repo
    return replace(config, repos=MappingProxyType({**derived, **config.repos}))


def history(
    *, repo: str | None, config: tree.Settings | None, app: str | None, since: str | None
) -> list[model.HealRecord]:
    now = datetime.now(UTC)
    when = parse_since(since, now)
    if repo is not None:
        if _is_url(repo):
            with tempfile.TemporaryDirectory(prefix="githeal-history-") as tmp:
                path = gitrepo.bare_clone(repo, Path(tmp) / "repo.git")
                return heal_history.read_history(path, app=app, since=when)
        if not Path(repo).exists():
            raise errors.ConfigError(f"--repo: no such path: {repo}")
        return heal_history.read_history(repo, app=app, since=when)
    if config is None:
        raise errors.ConfigError("give --repo PATH|URL or --config FILE")
    rt = wiring.build(config)
    try:
        clones = dict(rt.clones)
        config = _with_derived(config, rt, clones)
        book = ledger.Ledger(config, clones, rt.github)
        records: list[model.HealRecord] = []
        for name, clone in clones.items():
            clone.sync()
            records += [
                h
                for h in book.heals(name, when or datetime.min.replace(tzinfo=UTC))
                if not app or h.app == app
            ]
        return sorted(records, key=lambda h: h.at, reverse=True)
    finally:
        rt.close()
