"""``githeal history``: every heal read back from Git trailers, joined with its verification status.

From a repo path or URL (trailers only; verification status needs GitHub), or from the configured
repos (statuses read from the ``githeal/verify`` commit status). Read-only.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import errors, model
from bot.clients import gitrepo
from bot.record import auditlog as heal_history
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
        book = ledger.Ledger(config, rt.clones, rt.github)
        records: list[model.HealRecord] = []
        for name, clone in rt.clones.items():
            clone.sync()
            records += [
                h
                for h in book.heals(name, when or datetime.min.replace(tzinfo=UTC))
                if not app or h.app == app
            ]
        return sorted(records, key=lambda h: h.at, reverse=True)
    finally:
        rt.close()
