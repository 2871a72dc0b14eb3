"""The only place a Plan becomes side effects: heal commits, pull requests, auto-merges, Argo CD syncs.

Here: the tools a heal uses, the results it gives, and each action run under its app's failure
boundary (one app's failure never stops the others; an empty plan makes no calls at all). The steps
of one heal are in ``heal``. Nothing here decides whether to heal.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot import errors, model
from bot.record import log
from bot.settings import tree

if TYPE_CHECKING:
    from bot.act import message
    from bot.clients import argocd, gitrepo
    from bot.clients import github as githubclient


class Outcome(enum.StrEnum):
    COMMITTED = "committed"  # pushed to the target branch
    PROPOSED = "proposed"  # PR open for a human
    AUTOMERGE = "automerge"  # PR open, GitHub merges it once checks pass
    MERGED = "merged"  # PR merged by the bot
    SYNCED = "synced"  # Argo CD sync requested (enforce) and audited in Git
    NOTIFIED = "notified"
    OBSERVED = "observed"  # observe mode: nothing written
    DRY_RUN = "dry-run"
    DUPLICATE = "duplicate"  # the heal already exists
    REJECTED = "rejected"  # a human closed its PR before
    REFUSED = "refused"  # not safe to do (RollbackError, ManifestError)
    FAILED = "failed"  # an external system failed


REPLICA = f"{socket.gethostname()}/{os.getpid()}"
LANDED = (Outcome.COMMITTED, Outcome.MERGED, Outcome.SYNCED)


@dataclass(frozen=True)
class Result:
    action: model.Action
    outcome: Outcome
    detail: str = ""
    commit: str | None = None  # the heal commit (on the PR branch for PRs)
    landed: str | None = None  # the commit on the target branch that contains the heal
    pr: githubclient.PrRef | None = None
    diff: str = ""
    context: message.HealContext | None = None
    at: datetime | None = None
    argocd_app: str | None = None  # the Application it was resolved to (selector apps), ``ns/name`` outside


@dataclass(frozen=True)
class Sli:
    """An app's SLI over a recent window, oldest first: the sparkline of heal PRs and issues."""

    name: str = ""
    window: str = ""
    values: tuple[float | None, ...] = ()


def _no_sli(app: str) -> Sli:
    return Sli()


@dataclass
class Tools:
    settings: tree.Settings
    clones: Mapping[str, gitrepo.WorkingClone]  # by repo name
    argocd: argocd.ArgoCDClient
    github: githubclient.GitHubClient | None
    clock: Callable[[], datetime]
    templates: Path | None = None
    sli: Callable[[str], Sli] = _no_sli

    def __post_init__(self) -> None:
        if self.templates is None:
            self.templates = self.settings.templates  # the config's override directory, if any


def branch_name(action: model.Action) -> str:
    return f"githeal/{action.app}/{action.kind.value}-{action.heal_id[:8]}"


def execute(
    plan: model.Plan, snapshot: model.Snapshot | None, tools: Tools, *, dry_run: bool = False
) -> list[Result]:
    """Carry out every action of ``plan``; each becomes a Result, errors included.

    Each action runs under its app's failure boundary: whatever goes wrong (a hostile manifest, a bug,
    an external system) becomes that action's FAILED or REFUSED result and the next app goes on."""
    results: list[Result] = []
    if not plan.actions:
        return results
    # The steps of a heal (manifest editing with ruamel, rollback planning, PR landing) load when a
    # cycle has one to carry out, not in every process that only observes (issue 10 P1: start-up).
    from bot.act import heal

    for action in plan.actions:
        obs = snapshot.apps.get(action.app) if snapshot else None
        at = tools.clock()
        level = logging.INFO
        try:
            result = heal.one(action, obs, tools, dry_run)
        except (errors.RollbackError, errors.ManifestError, errors.PolicyError) as exc:
            result = Result(action, Outcome.REFUSED, str(exc))
            level = logging.WARNING
        except errors.BotError as exc:
            result = Result(action, Outcome.FAILED, str(exc))
            level = logging.ERROR
        except Exception as exc:  # the app's boundary: a bug or a library surprise stays this app's
            result = Result(action, Outcome.FAILED, f"{type(exc).__name__}: {errors.truncate(str(exc), 300)}")
            level = logging.ERROR
        result = dataclasses.replace(result, at=at, argocd_app=heal.argo_name(action.app, tools, obs))
        log.event(
            "heal." + result.outcome.value,
            level,
            app=action.app,
            policy=action.policy,
            heal_id=action.heal_id,
            action=action.kind.value,
            mode=action.mode.value,
            detail=result.detail,
            commit=result.landed,
        )
        results.append(result)
    return results


def landed(results: Sequence[Result]) -> list[Result]:
    return [r for r in results if r.outcome in LANDED and r.landed]
