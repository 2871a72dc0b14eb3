"""One heal per incident when several githeal processes (replicas, cron runs) act on the same remote.

The lock is git's atomic ref update: the target branch and the ``githeal/...`` PR branches are only
pushed without force, so of two replicas writing the same heal one push is rejected; the loser
re-fetches and finds the Heal-Id (or the branch) instead of retrying. The checks here read the
freshly fetched clone and GitHub; they decide nothing about policies and write only to remove a
stray PR branch a killed replica left behind.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot import errors, model
from bot.act import manifests
from bot.clients import github, gitrepo
from bot.record import log
from bot.settings import tree

# A PR branch without its PR is another replica between push and PR creation for a moment; older than
# this it is a leftover (a process killed in between) and is deleted so the heal can be proposed again.
# The default of ``repos.<name>.stray_branch_after``.
STRAY_BRANCH_AFTER = timedelta(seconds=60)


def remote_branch(clone: gitrepo.WorkingClone, branch: str) -> gitrepo.CommitInfo | None:
    """The tip of ``branch`` on the remote as of the last fetch, or None when it does not exist."""
    try:
        return clone.commit_info(clone.resolve(f"refs/remotes/{clone.remote}/{branch}"))
    except errors.GitError:
        return None


def lost_race(exc: errors.GitError) -> bool:
    """A push that lost git's atomic ref update to a concurrent push of the same ref: the server says
    "cannot lock ref ... is at X but expected Y" / "[remote rejected] (failed to update ref)" instead
    of the "[rejected] (non-fast-forward)" a push after the other one's gets (git receive-pack)."""
    payload = str(exc.payload)
    return "cannot lock ref" in payload or "failed to update ref" in payload


def push_heal(clone: gitrepo.WorkingClone, heal_id: str) -> gitrepo.PushResult:
    """Push the heal commit to the target branch; "already-done" when a replica landed this Heal-Id."""
    try:
        return clone.push(recheck=lambda: clone.find_heal(heal_id) is None)
    except errors.GitError as exc:
        if not lost_race(exc):
            raise
        clone.fetch()  # a replica's push won the ref update: was it this very heal?
        if clone.find_heal(heal_id) is None:
            raise
        return gitrepo.PushResult("already-done", None, 1)


def claim(clone: gitrepo.WorkingClone, branch: str) -> gitrepo.PushResult:
    """Create the PR branch with a push WITHOUT force; "already-done" when someone created it first."""
    try:
        return clone.push(branch, recheck=lambda: remote_branch(clone, branch) is None)
    except errors.GitError as exc:
        if not lost_race(exc):
            raise
        clone.fetch()
        if remote_branch(clone, branch) is None:
            raise
        return gitrepo.PushResult("already-done", None, 1)


def taken(
    gh: github.GitHubClient,
    repo: str,
    clone: gitrepo.WorkingClone,
    action: model.Action,
    branch: str,
    now: datetime,
    stray_after: timedelta = STRAY_BRANCH_AFTER,
    *,
    found: tuple[github.PrRef | None] | None = None,
) -> tuple[str, github.PrRef | None] | None:
    """(why, its PR) when this heal is already someone's: its PR is open or merged (a merged heal
    branch is never reused), or another replica pushed its branch less than ``stray_after`` ago. A
    closed PR is left to the caller (rejected for good); a stale branch without a PR is deleted and
    None returned. ``found``: the caller's own ``find_pr`` answer for ``branch``, so GitHub is not
    asked twice."""
    pr = gh.find_pr(repo, branch) if found is None else found[0]
    if pr is not None and pr.state == "merged":
        return f"already merged as PR #{pr.number}", pr
    if pr is not None and pr.state == "open":
        return f"PR #{pr.number} is already open for this heal", pr
    tip = remote_branch(clone, branch) if pr is None else None
    if tip is None:
        return None
    if now - tip.time < stray_after:
        return f"another replica pushed {branch} and is opening its PR", None
    log.event("heal.stray_branch", logging.WARNING, app=action.app, heal_id=action.heal_id, branch=branch)
    clone.delete_remote_branch(branch)
    clone.fetch()
    return None


def not_pending(obs: model.AppObservation | None, clone: gitrepo.WorkingClone, spec: tree.AppSpec) -> None:
    """Adopt writes live drift into Git; an automated app that is OutOfSync because commits to its paths
    are not deployed yet has a sync pending (Argo CD auto-syncs a revision it has not synced yet), not
    drift: its live state is the old revision's, and writing it back would undo those commits (seen
    with two replicas: one adopted the drift, the other then "adopted" the pre-sync live state back)."""
    status = obs.status if obs is not None else None
    if status is None or not status.auto_sync or not status.history or not status.revision:
        return
    deployed = status.history[-1].revision
    if not deployed or deployed == status.revision:
        return
    try:
        pending = clone.log_paths(deployed, status.revision, manifests.prefixes(spec))
    except errors.GitError:
        return  # a revision unknown to the clone: nothing to compare, adopt what Argo CD reports
    if pending:
        raise errors.ManifestError(
            f"OutOfSync because {len(pending)} commit(s) up to {status.revision[:7]} are not deployed yet "
            f"(last deployed {deployed[:7]}): a pending sync, not live drift to adopt",
            app=spec.name,
        )
