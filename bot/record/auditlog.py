"""The audit history: heals read back from ``git log`` trailers (Git is the bot's memory).

``records(commits, ...)`` is pure over a list of commits; ``read_history`` only adds the ``git log``
read through ``clients.gitrepo`` (a working clone or any repo path, bare included). Verification
state (the ``githeal/verify`` commit status) lives elsewhere, so callers pass it in as a mapping.
It must not write to Git or call any API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

from bot import model
from bot.clients import gitrepo
from bot.record import trailers


def record(commit: gitrepo.CommitInfo, verify: Mapping[str, str] | None = None) -> model.HealRecord | None:
    """The heal one commit records, or None when it is not a heal commit.

    git's own trailer parse (``commit.trailers``) is preferred; the message is parsed when a caller
    built the commit without it.
    """
    pairs = list(commit.trailers) or trailers.parse_trailers(commit.message)
    heal = trailers.HealTrailers.from_pairs(pairs)
    if heal is None:
        return None
    return model.HealRecord(
        heal_id=heal.heal_id,
        app=heal.app,
        policy=heal.policy,
        action=heal.action,
        commit=commit.sha,
        at=commit.time,
        subject=commit.subject,
        trailers=MappingProxyType(trailers.as_mapping(pairs)),
        verify=_verify_state(commit.sha, verify or {}),
    )


def _verify_state(sha: str, verify: Mapping[str, str]) -> str:
    if sha in verify:
        return verify[sha]
    # callers often key statuses by short sha (as shown in PR comments)
    return next((state for key, state in verify.items() if len(key) >= 7 and sha.startswith(key)), "")


def records(
    commits: Iterable[gitrepo.CommitInfo],
    *,
    app: str | None = None,
    since: datetime | None = None,
    verify: Mapping[str, str] | None = None,
) -> list[model.HealRecord]:
    """Heal records among ``commits`` (order kept: newest first from git log), filtered by app and time."""
    out = []
    for commit in commits:
        if since is not None and commit.time < since:
            continue
        rec = record(commit, verify)
        if rec is None or (app is not None and rec.app != app):
            continue
        out.append(rec)
    return out


def heal_commits(
    source: gitrepo.WorkingClone | str | Path, *, since: datetime | None = None, rev: str | None = None
) -> list[gitrepo.CommitInfo]:
    """The commits of a branch carrying a ``Heal-Id`` line, newest first (one ``git log``).

    ``source`` is a working clone (reads its last-fetched remote branch) or a repo path (bare or not;
    reads ``rev``, default ``HEAD``).
    """
    if isinstance(source, gitrepo.WorkingClone):
        path, ref = source.path, rev or source.remote_ref
    else:
        path, ref = Path(source), rev or "HEAD"
    return gitrepo.read_log(path, ref, since=since, grep=f"{trailers.HEAL_ID}:")


def read_history(
    source: gitrepo.WorkingClone | str | Path,
    *,
    app: str | None = None,
    since: datetime | None = None,
    rev: str | None = None,
    verify: Mapping[str, str] | None = None,
) -> list[model.HealRecord]:
    """Heals on a branch, newest first (see ``heal_commits`` for ``source`` and ``rev``)."""
    return records(heal_commits(source, since=since, rev=rev), app=app, since=since, verify=verify)


def latest(
    history: Iterable[model.HealRecord], *, app: str, action: str | None = None
) -> model.HealRecord | None:
    """The newest heal of ``app`` (optionally of one action): what cooldowns are measured from."""
    for rec in history:
        if rec.app == app and (action is None or rec.action == action):
            return rec
    return None


def by_heal_id(history: Iterable[model.HealRecord]) -> dict[str, list[model.HealRecord]]:
    """Records grouped by heal id: more than one commit per id means a heal was retried or duplicated."""
    out: dict[str, list[model.HealRecord]] = {}
    for rec in history:
        out.setdefault(rec.heal_id, []).append(rec)
    return out
