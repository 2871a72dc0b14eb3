"""Read the past back from Git and GitHub into the decision core's ``History`` value.

Heal commits come from ``git log`` trailers, their verification from the ``githeal/verify`` commit
status, heal PRs from the ``githeal`` label (one conditional request per repo, whatever the number
of PRs: a 304 when nothing changed, free of the rate limit), open escalations from labelled issues,
and the kill switch from a file in the manifest repo. Terminal facts (a final status, who merged a
PR) are cached; everything else is re-read each cycle, so a restart loses nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from bot import errors, model
from bot.act import message
from bot.clients import github as githubclient
from bot.clients import gitrepo
from bot.decide import past as hist
from bot.record import auditlog, log
from bot.settings import tree

VERIFY_CONTEXT = "githeal/verify"
TERMINAL = ("success", "failure", "error")


def parse_pause(text: str | None) -> frozenset[str] | None:
    """Kill switch content: None when the file is absent; app names one per line; ``#`` comments."""
    if text is None:
        return None
    names = {line.split("#", 1)[0].strip() for line in text.splitlines()}
    return frozenset(n for n in names if n)


def _merges(clone: gitrepo.WorkingClone, since: datetime, heals: set[str]) -> dict[str, str]:
    """heal commit -> the PR merge commit that brought it onto the branch (GitHub's merge method)."""
    if not heals:
        return {}
    out: dict[str, str] = {}
    # a merge commit is never older than the heal commit it merges, so the same cutoff holds
    for c in gitrepo.read_log(clone.path, clone.remote_ref, since=since, grep="Merge pull request #"):
        for parent in c.parents[1:]:
            if parent in heals:
                out.setdefault(parent, c.sha)
    return out


@dataclass
class Ledger:
    settings: tree.Settings
    clones: Mapping[str, gitrepo.WorkingClone]
    github: githubclient.GitHubClient | None
    lookback: float = 7 * 86400
    bot_logins: frozenset[str] = frozenset()
    _verify: dict[str, str] = field(default_factory=dict)
    _merged_by: dict[tuple[str, int], str | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _statuses(self, repo: str | None, shas: list[str]) -> dict[str, str]:
        if self.github is None or repo is None:
            return {}
        for sha in shas:
            if self._verify.get(sha) in TERMINAL:
                continue
            try:
                state = self.github.combined_status(repo, sha).of(VERIFY_CONTEXT) or ""
            except errors.GitHubError as exc:
                log.event("ledger.status_unreadable", sha=sha, error=str(exc))
                continue
            self._verify[sha] = state
        return {s: self._verify[s] for s in shas if s in self._verify}

    def heals(self, repo_name: str, since: datetime) -> list[model.HealRecord]:
        clone, repo = self.clones[repo_name], self.settings.repos[repo_name]
        commits = auditlog.heal_commits(clone, since=since)  # git is read once; records() is pure
        found = auditlog.records(commits, since=since)
        verify = self._statuses(repo.github, [h.commit for h in found])
        if verify:
            found = auditlog.records(commits, since=since, verify=verify)
        merges = _merges(clone, since, {h.commit for h in found})
        return [replace(h, landed=merges[h.commit]) if h.commit in merges else h for h in found]

    def _proposals(self, repo: str, heals: list[model.HealRecord]) -> list[hist.Proposal]:
        assert self.github is not None
        verified = {h.heal_id: h.verify for h in heals}
        out = []
        for pr, body in self.github.heal_prs(repo):
            data = message.parse_hidden(body) or {}
            heal_id = str(data.get("heal_id") or "")
            if not heal_id:
                continue
            merged_by_bot = False
            if pr.state == "merged":
                key = (repo, pr.number)
                if key not in self._merged_by:
                    self._merged_by[key] = self.github.pr_state(repo, pr.number).merged_by
                merged_by_bot = self._merged_by[key] in self.bot_logins
            state = verified.get(heal_id, "")
            out.append(
                hist.Proposal(
                    heal_id=heal_id,
                    app=str(data.get("app", "")),
                    policy=str(data.get("policy", "")),
                    action=str(data.get("action", "")),
                    state=pr.state,
                    merged_by_bot=merged_by_bot,
                    verified=True if state == "success" else False if state in ("failure", "error") else None,
                    number=pr.number,
                    at=pr.at or datetime.min,
                )
            )
        return out

    def _escalations(self, repo: str) -> dict[str, str]:
        assert self.github is not None
        out: dict[str, str] = {}
        for label in self.settings.guardrails.escalation_labels[:1]:
            for issue, body in self.github.open_issues(repo, label):
                app = (message.parse_hidden(body) or {}).get("app")
                if isinstance(app, str) and app:
                    out.setdefault(app, f"{repo}#{issue.number}")
        return out

    def read(self, now: datetime, *, repos: Sequence[str] | None = None) -> hist.History:
        """The History for this cycle; clones must have been synced by the caller. ``repos``: only
        these clones (the ones synced), while another thread may add to the mapping."""
        with self._lock:
            since = now - timedelta(seconds=self.lookback)
            heals: list[model.HealRecord] = []
            proposals: list[hist.Proposal] = []
            escalations: dict[str, str] = {}
            paused: frozenset[str] | None = None
            kill = self.settings.guardrails.kill_switch
            for name in list(self.clones) if repos is None else repos:
                clone = self.clones[name]
                repo_heals = self.heals(name, since)
                heals.extend(repo_heals)
                data = clone.show(clone.remote_ref, kill)
                repo_pause = parse_pause(data.decode("utf-8", "replace") if data is not None else None)
                if repo_pause is not None:
                    paused = (paused or frozenset()) | (repo_pause or frozenset({"*"}))
                gh_repo = self.settings.repos[name].github
                if self.github is not None and gh_repo is not None:
                    proposals.extend(self._proposals(gh_repo, repo_heals))
                    escalations.update(self._escalations(gh_repo))
            heals.sort(key=lambda h: h.at, reverse=True)
            return hist.History(
                heals=tuple(heals),
                proposals=tuple(proposals),
                open_escalations=MappingProxyType(escalations),
                paused=paused,
            )
