"""One action carried out (``execute`` runs each under its app's failure boundary).

Sync the working clone, skip if the Heal-Id already landed, stage the change (rollback, scale,
restart, reconcile) in the clone, render the message, then commit+push (direct), push a
``githeal/...`` branch and open or update its PR (propose / auto-merge), or only show the diff (dry
run, observe mode). Any failure resets the clone. It must not decide whether to heal.
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import timedelta

from bot import errors, model
from bot.act import changes, landing, manifests, message, replicas, rollback
from bot.act.execute import REPLICA, Outcome, Result, Sli, Tools, branch_name
from bot.clients import github as githubclient
from bot.clients import gitrepo
from bot.record import log, trailers
from bot.settings import tree


def _context(
    action: model.Action,
    obs: model.AppObservation | None,
    tools: Tools,
    *,
    defer_sli: bool = False,
    **kw: object,
) -> message.HealContext:
    """``defer_sli``: leave the sparkline out (a PR asks for it after its push: display only)."""
    status = obs.status if obs else None
    merge = str(action.params.get("merge", ""))
    sli = Sli() if defer_sli else tools.sli(action.app)
    return message.HealContext(
        app=action.app,
        action=action.kind.value,
        policy=action.policy,
        mode=action.mode.value,
        reason=action.reason,
        heal_id=action.heal_id,
        observed=action.evidence,
        health=str(status.health) if status else "",
        sync=str(status.sync) if status else "",
        sli=sli.values,
        sli_name=sli.name,
        sli_window=sli.window or "1h",
        merge_policy=merge,
        extra_trailers=((trailers.HEAL_REPLICA, REPLICA),),
        verify_plan=(
            "githeal waits until Argo CD is Synced and Healthy at this commit, then judges the SLO on "
            f"{tools.settings.verify.period:.0f}s of data from after that; it escalates if it did not help."
        ),
        **kw,  # type: ignore[arg-type]
    )


def _with_sli(ctx: message.HealContext, tools: Tools) -> message.HealContext:
    sli = tools.sli(ctx.app)
    return dataclasses.replace(ctx, sli=sli.values, sli_name=sli.name, sli_window=sli.window or "1h")


def _stage(
    action: model.Action,
    obs: model.AppObservation | None,
    clone: gitrepo.WorkingClone,
    tools: Tools,
    defer_sli: bool = False,
) -> tuple[message.HealContext, bool]:
    """Stage the change in the clone; returns its message context and whether the commit may be empty."""
    spec = tools.settings.apps[action.app]
    p = action.params
    kind = action.kind
    if kind is model.ActionKind.ROLLBACK:
        if obs is None or obs.status is None:
            raise errors.RollbackError("no Argo CD status to roll back from", app=action.app)
        strategy = rollback.Strategy(str(p.get("strategy") or spec.rollback))
        prefixes = manifests.prefixes(spec)
        # an aborted canary: go back to the deployment whose images its stable ReplicaSet runs
        stable = tuple(map(str, p.get("stable_images") or ()))
        good = rollback.stable_revision(obs.status, clone, prefixes, stable) if stable else None
        rp = rollback.plan(obs.status, clone, strategy, paths=prefixes, allowed_paths=prefixes, good=good)
        rollback.stage(rp, clone)
        commits = tuple(message.CommitRef(c.sha, c.subject, c.author) for c in rp.commits)
        ctx = _context(
            action,
            obs,
            tools,
            defer_sli=defer_sli,
            target=rp.good_revision[:7],
            strategy=strategy.value,
            good_revision=rp.good_revision,
            bad_revision=rp.bad_revision,
            commits=commits,
            changes=rp.changes or (rp.reason,),
        )
        return ctx, False
    if kind is model.ActionKind.RECONCILE and p.get("mode") != "adopt":
        # enforce: Argo CD syncs Git over the drift; the audit trail is an empty heal commit
        ctx = _context(action, obs, tools, target="Git", changes=("sync live state back to Git",))
        return ctx, True
    if kind is model.ActionKind.RECONCILE:
        replicas.not_pending(obs, clone, spec)
    read = manifests.read(clone, spec, tools.settings.manifests.max_bytes)
    try:
        fc, target = _change(action, obs, read.files, tools)
    except errors.ManifestError as exc:
        if not read.skipped:
            raise
        raise errors.ManifestError(f"{exc}{read.note()}", app=action.app) from exc
    clone.write_files({path: text.encode("utf-8") for path, text in fc.files.items()})
    return _context(action, obs, tools, defer_sli=defer_sli, target=target, changes=fc.changes), False


def _change(
    action: model.Action, obs: model.AppObservation | None, files: dict[str, str], tools: Tools
) -> tuple[changes.FileChange, str]:
    """The file edits of a scale, restart or adopt over the app's readable manifests."""
    spec = tools.settings.apps[action.app]
    p, kind = action.params, action.kind
    if kind is model.ActionKind.SCALE:
        to = int(p.get("hpa_min") or p.get("to") or 0)
        fc = changes.scale(files, to, helm_replicas=spec.helm.replicas, expect=None)
        target = f"{to} replicas"
    elif kind is model.ActionKind.RESTART:
        stamp = tools.clock().isoformat(timespec="seconds")
        fc = changes.restart(files, str(p.get("annotation") or "githeal.io/restartedAt"), stamp)
        target = ""
    elif kind is model.ActionKind.RECONCILE and p.get("mode") == "adopt":
        resources = [dict(r) for r in tools.argocd.managed_resources(argo_name(action.app, tools, obs))]
        drift = changes.drift(resources)
        if not drift:
            raise errors.ManifestError("no drift githeal can write back (live equals Git)", file=None)
        fc = changes.adopt(files, drift, helm_replicas=spec.helm.replicas)
        target = "live state"
    else:
        raise errors.PolicyError(f"{kind} does not change Git")
    return fc, target


def argo_name(app: str, tools: Tools, obs: model.AppObservation | None) -> str:
    if obs is not None and obs.status is not None:
        return obs.status.name
    return tools.settings.apps[app].argocd_app or app


def _enforce(action: model.Action, obs: model.AppObservation | None, tools: Tools) -> str:
    """Sync Git over the drift. An operation already running (an auto-sync) also applies Git: that is
    the heal in progress, and verification waits for it at the heal commit, not a failure."""
    try:
        tools.argocd.sync(
            argo_name(action.app, tools, obs), obs.status.project if obs and obs.status else None
        )
    except errors.ArgoCDFailedPrecondition as exc:
        if "another operation is already in progress" not in str(exc):
            raise
        return "another operation is already in progress: Argo CD applies Git with it; verification waits"
    return "Argo CD sync requested"


def _repo(action: model.Action, tools: Tools) -> tuple[tree.RepoSettings, gitrepo.WorkingClone]:
    spec = tools.settings.apps[action.app]
    return tools.settings.repos[spec.repo], tools.clones[spec.repo]


def _notify(action: model.Action, obs: model.AppObservation | None, tools: Tools) -> Result:
    ctx = _context(action, obs, tools)
    repo, _ = _repo(action, tools)
    if tools.github is None or repo.github is None:
        log.event(
            "heal.notify", app=action.app, policy=action.policy, heal_id=action.heal_id, reason=action.reason
        )
        return Result(action, Outcome.NOTIFIED, "logged (no GitHub configured)", context=ctx)
    labels = [*map(str, action.params.get("labels") or ()), *tools.settings.guardrails.escalation_labels]
    issue = tools.github.open_or_update_issue(
        repo.github,
        message.issue_title(ctx),
        message.issue_body(ctx, problem=action.reason, templates=tools.templates),
        labels=labels,
        marker=f"heal-id={action.heal_id}",
    )
    return Result(action, Outcome.NOTIFIED, f"issue #{issue.number} {issue.outcome}", context=ctx)


def _propose(
    action: model.Action,
    tools: Tools,
    clone: gitrepo.WorkingClone,
    repo: tree.RepoSettings,
    ctx: message.HealContext,
    commit_msg: str,
    diff: str,
    *,
    automerge: bool = False,
    existing: githubclient.PrRef | None = None,
) -> Result:
    """``existing``: the heal branch's PR as ``find_pr`` just gave it (None: there is none)."""
    if tools.github is None or repo.github is None:
        raise errors.ConfigError(f"policy {action.policy} opens PRs but repo {repo.name} has no GitHub")
    branch = branch_name(action)
    if existing is not None and existing.state == "closed":
        clone.reset()
        return Result(action, Outcome.REJECTED, f"PR #{existing.number} was closed by a human", pr=existing)
    sha = clone.commit(commit_msg)
    if replicas.claim(clone, branch).status == "already-done":
        return Result(action, Outcome.DUPLICATE, f"another replica pushed {branch} first", pr=existing)
    # the clone goes back to the target branch once, in _one's ``finally``: nothing below reads it
    if not ctx.sli:
        ctx = _with_sli(ctx, tools)  # the sparkline is display only: asked for after the push
    body = message.pr_body(ctx, templates=tools.templates)
    try:
        pr = tools.github.open_or_update_pr(
            repo.github,
            branch,
            repo.branch,
            message.pr_title(ctx, templates=tools.templates),
            body,
            labels=[str(x) for x in action.params.get("pr_labels") or ()],
            reviewers=[str(x) for x in action.params.get("pr_reviewers") or ()],
            new_head=existing is None,  # our push without force created the branch: no PR stands on it
        )
    except errors.BotError as exc:
        if "A pull request already exists" in str(exc):  # GitHub's 422: a replica pushed the same
            # commit (same second, same content) and opened the PR first; the branch is theirs now
            return Result(action, Outcome.DUPLICATE, f"another replica opened the PR of {branch}", sha)
        # nothing half-written: a branch without its PR would be a stray on the remote (but never
        # delete a branch an open PR stands on: only when GitHub confirms there is none)
        if existing is None:
            with contextlib.suppress(errors.BotError):
                if tools.github.find_pr(repo.github, branch, "open") is None:
                    clone.delete_remote_branch(branch)
        raise
    if pr.rejected:
        return Result(action, Outcome.REJECTED, f"PR #{pr.number} was closed by a human", sha, pr=pr)
    landing.report_notes(tools.github, pr)
    automerge = automerge or (action.mode is model.Mode.AUTO and action.params.get("merge") == "pr-automerge")
    if not automerge:
        return Result(
            action, Outcome.PROPOSED, f"PR #{pr.number} {pr.outcome}", sha, pr=pr, diff=diff, context=ctx
        )
    landed = landing.land(tools.github, repo, pr, commit_msg)
    if landed.status == "merged":
        merged = tools.github.pr_state(repo.github, pr.number)
        detail = f"PR #{pr.number} merged ({landed.method})"
        return Result(action, Outcome.MERGED, detail, sha, merged.merge_commit_sha, merged, diff, ctx)
    if landed.status == "left":
        detail = f"PR #{pr.number} left for a human: {landed.reason}"
        return Result(action, Outcome.PROPOSED, detail, sha, pr=pr, diff=diff, context=ctx)
    return Result(
        action, Outcome.AUTOMERGE, f"PR #{pr.number}: auto-merge enabled", sha, pr=pr, diff=diff, context=ctx
    )


def _already(
    action: model.Action,
    tools: Tools,
    clone: gitrepo.WorkingClone,
    repo: tree.RepoSettings,
    existing: githubclient.PrRef | None,
) -> Result | None:
    """The heal's PR (open or merged) or branch already exists: another writer has it, write nothing."""
    if tools.github is None or repo.github is None:
        return None
    branch, now = branch_name(action), tools.clock()
    stray_after = timedelta(seconds=repo.stray_branch_after)
    found = replicas.taken(
        tools.github, repo.github, clone, action, branch, now, stray_after, found=(existing,)
    )
    return None if found is None else Result(action, Outcome.DUPLICATE, found[0], pr=found[1])


def one(
    action: model.Action,
    obs: model.AppObservation | None,
    tools: Tools,
    dry_run: bool,
    via_pr: bool = False,
) -> Result:
    """``via_pr``: a direct heal goes through an auto-merge PR (its push was refused by protection)."""
    if action.kind is model.ActionKind.NOTIFY:
        return Result(action, Outcome.DRY_RUN, action.reason) if dry_run else _notify(action, obs, tools)
    if action.mode is model.Mode.OBSERVE and not dry_run:
        return Result(action, Outcome.OBSERVED, action.reason)
    repo, clone = _repo(action, tools)
    clone.sync()
    found = clone.find_heal(action.heal_id)
    if found is not None:
        return Result(action, Outcome.DUPLICATE, f"already committed as {found.short}", found.sha, found.sha)
    proposes = not dry_run and action.mode is not model.Mode.OBSERVE
    proposes = proposes and (
        via_pr or not (action.mode is model.Mode.AUTO and action.params.get("merge") == "direct")
    )
    try:
        ctx, empty = _stage(action, obs, clone, tools, defer_sli=proposes)
        diff, stat = clone.staged()
        ctx = dataclasses.replace(ctx, diff_stat=stat)
        if dry_run or action.mode is model.Mode.OBSERVE:
            outcome = Outcome.DRY_RUN if dry_run else Outcome.OBSERVED
            return Result(action, outcome, action.reason, diff=diff, context=ctx)
        commit_msg = message.commit_message(ctx, templates=tools.templates)
        direct = action.mode is model.Mode.AUTO and action.params.get("merge") == "direct"
        if (not direct or via_pr) and not empty:
            existing = None
            if tools.github is not None and repo.github is not None:
                existing = tools.github.find_pr(repo.github, branch_name(action))  # once per heal
            return _already(action, tools, clone, repo, existing) or _propose(
                action, tools, clone, repo, ctx, commit_msg, diff, automerge=via_pr, existing=existing
            )
        sha = clone.commit(commit_msg, allow_empty=empty)
        try:
            pushed = replicas.push_heal(clone, action.heal_id)
        except errors.GitError as exc:
            if empty or not repo.protected_fallback or not landing.push_refused_by_protection(exc):
                raise
            # GH006: the branch takes changes only through PRs; re-stage and propose, this cycle.
            log.event("heal.push_protected", app=action.app, repo=repo.name, branch=repo.branch)
            return one(action, obs, tools, dry_run, via_pr=True)
        if pushed.status == "already-done":
            return Result(action, Outcome.DUPLICATE, "the same heal landed meanwhile", context=ctx)
        landed = pushed.sha or sha
        if empty:
            detail = _enforce(action, obs, tools)
            return Result(action, Outcome.SYNCED, detail, landed, landed, diff=diff, context=ctx)
        return Result(
            action, Outcome.COMMITTED, f"pushed {landed[:7]}", landed, landed, diff=diff, context=ctx
        )
    finally:
        clone.reset()
