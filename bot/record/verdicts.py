"""Record heal verdicts and open escalations: the only writer of either, for every path that needs one.

A verdict's record is the ``githeal/verify`` commit status on the heal commit. Replicas may verify the
same heal at once, so the first terminal status GitHub created on that commit (status ids grow in
creation order) owns the verdict: a verifier reads before it writes, re-reads after, and when another
verdict came first it puts that one back on top and neither comments nor escalates. Escalations are
one issue per marker, labelled so the ledger opens the app's circuit from them. An escalation with an
evidence bundle carries it in the issue; the optional analyzer runs only after the issue is open, so a
failing or slow one (killed at its time limit) can only add a note, never delay or lose the issue.
No decisions here.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot import errors
from bot.clients import github as githubclient
from bot.record import analyzer as analyzing
from bot.record import evidence as proof
from bot.record import log, metrics

CONTEXT = "githeal/verify"
TERMINAL = ("success", "failure", "error")


@dataclass(frozen=True)
class Verdict:
    state: str  # success | failure | error
    description: str
    owned: bool  # True: this verifier recorded it first, so it comments and escalates


@dataclass
class Recorder:
    github: githubclient.GitHubClient | None
    metrics: metrics.Metrics
    labels: tuple[str, ...] = ()
    analyzer: analyzing.Analyzer | None = None

    def _first(self, repo: str, sha: str) -> githubclient.StatusRef | None:
        assert self.github is not None
        return next((s for s in self.github.statuses(repo, sha, CONTEXT) if s.state in TERMINAL), None)

    def recorded(self, repo: str | None, sha: str) -> Verdict | None:
        """The verdict already on the commit, if any (read-only)."""
        if self.github is None or repo is None:
            return None
        try:
            first = self._first(repo, sha)
        except errors.GitHubError as exc:
            log.event("verify.status_unreadable", sha=sha, error=str(exc))
            return None
        return None if first is None else Verdict(first.state, first.description, owned=False)

    def pending(self, repo: str | None, sha: str, description: str) -> None:
        if self.github is None or repo is None:
            return
        try:
            self.github.set_status(repo, sha, "pending", CONTEXT, description=description)
        except errors.GitHubError as exc:
            log.event("verify.status_failed", sha=sha, error=str(exc))

    def claim(self, repo: str | None, sha: str, state: str, description: str) -> Verdict:
        """Record ``state`` unless a verdict exists; the first terminal status is the verdict."""
        mine = Verdict(state, description, owned=True)
        if self.github is None or repo is None:
            return mine
        try:
            first = self._first(repo, sha)
            written = None
            if first is None:
                written = self.github.set_status(repo, sha, state, CONTEXT, description=description)
                first = self._first(repo, sha)
                if first is None or first.id == written:
                    return mine
            # another verifier recorded first: its verdict must stay the commit's latest status (a
            # pending or opposite status written meanwhile would otherwise show on top)
            latest = self.github.statuses(repo, sha, CONTEXT)[-1]
            if (latest.state, latest.description) != (first.state, first.description):
                self.github.set_status(repo, sha, first.state, CONTEXT, description=first.description)
            log.event("verify.adopted_verdict", sha=sha, owner_state=first.state, mine=state)
            return Verdict(first.state, first.description, owned=False)
        except errors.GitHubError as exc:
            # unrecorded: the next cycle finds no verdict on the commit and verifies it again
            log.event("verify.status_failed", sha=sha, error=str(exc))
            return mine

    def escalate(
        self,
        repo: str,
        *,
        title: str,
        body: str,
        marker: str,
        app: str | None = None,
        evidence: Mapping[str, Any] | None = None,
    ) -> githubclient.IssueRef | None:
        """Open (or update) the escalation issue of ``marker``; an app's issue opens its circuit.

        ``body`` must carry the hidden block naming ``app`` (``message.hidden_block``): the ledger reads
        the circuit back from it. None when GitHub failed, so the caller retries next cycle.
        ``evidence`` (``evidence.bundle``) is added to the body and, once the issue is open, handed
        to the analyzer, whose answer (or failure) is added under its own heading."""
        if self.github is None:
            return None
        if evidence is not None:
            body = f"{body.rstrip()}\n\n{proof.markdown(evidence)}"
        issue = self._open(repo, title=title, body=body, marker=marker, app=app)
        if issue is None or evidence is None or self.analyzer is None:
            return issue
        return self._analyse(repo, issue, title=title, body=body, marker=marker, app=app, evidence=evidence)

    def _analyse(
        self,
        repo: str,
        issue: githubclient.IssueRef,
        *,
        title: str,
        body: str,
        marker: str,
        app: str | None,
        evidence: Mapping[str, Any],
    ) -> githubclient.IssueRef:
        assert self.analyzer is not None and self.github is not None
        command = shlex.join(self.analyzer.command)
        result = analyzing.run(self.analyzer, evidence)
        log.event(
            "escalation.analyzed",
            app=app or "",
            issue=issue.number,
            ok=result.ok,
            error=result.error,
            seconds=round(result.seconds, 3),
        )
        section = (
            proof.analysis(result.markdown, command)
            if result.ok
            else proof.analysis_failed(result.error, command)
        )
        try:
            return self.github.open_or_update_issue(
                repo, title, f"{body.rstrip()}\n\n{section}", labels=list(self.labels), marker=marker
            )
        except errors.GitHubError as exc:
            # the issue is open already; only the analysis is missing from it
            log.event("escalation.analysis_unrecorded", app=app or "", issue=issue.number, error=str(exc))
            return issue

    def _open(
        self, repo: str, *, title: str, body: str, marker: str, app: str | None
    ) -> githubclient.IssueRef | None:
        assert self.github is not None
        try:
            issue = self.github.open_or_update_issue(
                repo, title, body, labels=list(self.labels), marker=marker
            )
        except errors.GitHubError as exc:
            log.event("escalation.failed", app=app or "", marker=marker, error=str(exc))
            return None
        if app:
            self.metrics.open_circuit(app)
        log.event(
            "escalation.opened", app=app or "", issue=issue.number, marker=marker, outcome=issue.outcome
        )
        return issue

    def comment(self, repo: str, number: int, body: str) -> None:
        if self.github is None:
            return
        try:
            self.github.comment(repo, number, body)
        except errors.GitHubError as exc:
            log.event("verify.comment_failed", pr=number, error=str(exc))
