"""What Git and GitHub say happened: heal commits, heal PRs, open escalations and the kill switch.

The caller reads these back (record stage, GitHub client) and hands the decision core one frozen
``History`` value; the queries below (newest heal, heals in a window, dedupe lookups) are pure.
This module must not read Git, GitHub or the clock: every time it compares with is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from bot import model

# Trailer the act stage writes on rollbacks (bot/record/trailers.py HEAL_GOOD); decide may not import
# record, so the key is repeated here and compared case-insensitively as git does.
GOOD_REVISION_TRAILER = "heal-good-revision"
SHORT_SHA = 7


@dataclass(frozen=True)
class Proposal:
    """A heal pull request as GitHub says it is (``at``: when it reached its current state)."""

    heal_id: str
    app: str
    policy: str
    action: str
    state: str  # open | merged | closed (closed = rejected by a human, never merged)
    merged_by_bot: bool
    verified: bool | None
    number: int
    at: datetime


def _no_escalations() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class History:
    """Everything the guardrails need to know about the past, as read back by the caller."""

    heals: tuple[model.HealRecord, ...] = ()  # newest first; verify in success/failure/pending/""
    proposals: tuple[Proposal, ...] = ()
    open_escalations: Mapping[str, str] = field(default_factory=_no_escalations)  # app -> issue ref
    # kill switch file: None = absent; its app names one per line; "*" or an empty file = every app
    paused: frozenset[str] | None = None

    def paused_for(self, app: str) -> bool:
        return self.paused is not None and ("*" in self.paused or app in self.paused or not self.paused)


def same_revision(a: str, b: str) -> bool:
    """Full or abbreviated shas name the same commit when one is a prefix (7+ chars) of the other."""
    if not a or not b:
        return False
    if len(a) < SHORT_SHA or len(b) < SHORT_SHA:
        return a == b
    return a.startswith(b) or b.startswith(a)


def heals_of(history: History, app: str, action: str | None = None) -> list[model.HealRecord]:
    return [h for h in history.heals if h.app == app and (action is None or h.action == action)]


def last_heal_at(history: History, app: str, action: str) -> tuple[datetime, str] | None:
    """When the newest heal of app+action happened (a commit or a still-open PR) and what it was."""
    times = [(h.at, f"commit {h.commit[:SHORT_SHA]}") for h in heals_of(history, app, action)]
    times += [
        (p.at, f"PR #{p.number}")
        for p in history.proposals
        if p.app == app and p.action == action and p.state == "open"
    ]
    return max(times, key=lambda t: t[0]) if times else None


def heals_since(history: History, since: datetime, app: str | None = None, policy: str | None = None) -> int:
    """Heal commits (plus still-open heal PRs not yet committed) at or after ``since``."""
    committed = {
        h.heal_id
        for h in history.heals
        if h.at >= since and (app is None or h.app == app) and (policy is None or h.policy == policy)
    }
    pending = {
        p.heal_id
        for p in history.proposals
        if p.state == "open"
        and p.at >= since
        and (app is None or p.app == app)
        and (policy is None or p.policy == policy)
    }
    return len(committed | pending)


def commits_since(history: History, since: datetime) -> int:
    """Every heal commit in the window, whatever app: what the global commit budget counts."""
    return sum(1 for h in history.heals if h.at >= since)


def duplicate(history: History, heal_id: str) -> tuple[str, bool] | None:
    """Why ``heal_id`` must not be planned again and whether it is in flight (committed or proposed,
    not rejected), or None. A PR a human closed without merging blocks the heal id for good."""
    for p in history.proposals:
        if p.heal_id == heal_id and p.state == "closed":
            return (
                f"heal {heal_id} was rejected: PR #{p.number} closed without merge, blocked for good",
                False,
            )
    for h in history.heals:
        if h.heal_id == heal_id:
            return f"heal {heal_id} already committed as {h.commit[:SHORT_SHA]}", True
    for p in history.proposals:
        if p.heal_id == heal_id:
            return f"heal {heal_id} already proposed as PR #{p.number} ({p.state})", True
    return None


def heal_commit(history: History, revision: str) -> model.HealRecord | None:
    """The heal whose commit (or the merge that landed it) is ``revision``: rolling that back would
    undo a heal."""
    return next(
        (h for h in history.heals if same_revision(h.commit, revision) or same_revision(h.landed, revision)),
        None,
    )


def good_revision_of(heal: model.HealRecord) -> str:
    return next((v for k, v in heal.trailers.items() if k.lower() == GOOD_REVISION_TRAILER), "")


def restored_by(history: History, app: str, revision: str) -> model.HealRecord | None:
    """The heal that restored ``revision`` as the app's known-good one; going past it is forbidden."""
    return next(
        (h for h in heals_of(history, app) if same_revision(good_revision_of(h), revision)),
        None,
    )


def rollback_pending(history: History, app: str) -> str | None:
    """A rollback of ``app`` still in flight: an open rollback PR or a committed one not yet verified."""
    for p in history.proposals:
        if p.app == app and p.action == model.ActionKind.ROLLBACK and p.state == "open":
            return f"rollback PR #{p.number} is open"
    for h in heals_of(history, app, model.ActionKind.ROLLBACK):
        if h.verify == "pending":
            return f"rollback {h.commit[:SHORT_SHA]} is not verified yet"
    return None


def rolled_back_within(history: History, app: str, now: datetime, seconds: float) -> model.HealRecord | None:
    since = now - timedelta(seconds=seconds)
    return next((h for h in heals_of(history, app, model.ActionKind.ROLLBACK) if h.at >= since), None)


def verified(history: History, proposal: Proposal) -> bool:
    """A PR counts as verified when GitHub says so or its heal commit carries verify=success."""
    if proposal.verified is not None:
        return proposal.verified
    return any(h.heal_id == proposal.heal_id and h.verify == "success" for h in history.heals)


def failures(history: History, policy: str) -> Iterable[model.HealRecord]:
    return (h for h in history.heals if h.policy == policy and h.verify == "failure")
