"""GitHub client: the only module that talks to GitHub, through an injected ``github.Github`` (PyGithub).

It opens or updates one PR per head branch (never reopening one a human closed), enables
auto-merge or merges with a head-sha guard, posts commit statuses and comments, and keeps one
issue per incident found by a hidden body marker. Every PyGithub/requests failure is translated
into the ``errors.GitHubError`` subtree naming the repo and PR. It decides nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import github
import requests
from github.PullRequest import PullRequest

from bot import errors

PrState = Literal["open", "closed", "merged"]
MergeMethod = Literal["merge", "squash", "rebase"]
DESCRIPTION_LIMIT = 140  # GitHub rejects longer commit-status descriptions with 422


@dataclass(frozen=True)
class PrRef:
    """A pull request as the act stage needs it. ``outcome`` says what ``open_or_update_pr`` did."""

    repo: str
    number: int
    head: str
    base: str
    head_sha: str
    state: PrState
    html_url: str
    node_id: str = ""
    title: str = ""
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    mergeable_state: str | None = None
    auto_merge: bool = False
    outcome: str = ""  # created | updated | unchanged | rejected (a human closed it) | merged
    at: datetime | None = None  # when it reached its state: created, merged or closed

    @property
    def rejected(self) -> bool:
        return self.outcome == "rejected"


@dataclass(frozen=True)
class IssueRef:
    repo: str
    number: int
    html_url: str
    state: str
    outcome: str = ""  # created | updated | unchanged


@dataclass(frozen=True)
class StatusRef:
    id: int
    state: str
    description: str = ""


@dataclass(frozen=True)
class CombinedStatus:
    sha: str
    state: str  # success | failure | pending (GitHub's combined state; no statuses at all is pending)
    contexts: tuple[tuple[str, str], ...] = ()

    def of(self, context: str) -> str | None:
        return dict(self.contexts).get(context)


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def marker_tag(marker: str) -> str:
    """``heal-id=abc`` -> ``<!-- githeal:heal-id=abc -->``; a ready-made HTML comment is kept as is."""
    return marker if marker.startswith("<!--") else f"<!-- githeal:{marker} -->"


def _header(headers: dict[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _detail(exc: github.GithubException) -> str:
    data: Any = exc.data
    parts = [exc.message or (data.get("message") if isinstance(data, dict) else None) or ""]
    if isinstance(data, dict):
        for item in data.get("errors") or []:
            if isinstance(item, dict) and item.get("message"):
                parts.append(str(item["message"]))
            elif isinstance(item, dict):
                parts.append(f"{item.get('field', '?')} {item.get('code', 'invalid')}")
    return "; ".join(p for p in parts if p) or f"HTTP {exc.status}"


class GitHubClient:
    def __init__(
        self,
        gh: github.Github,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        mergeable_polls: int = 5,
        poll_interval_s: float = 1.0,
    ) -> None:
        self._gh = gh
        # Lazy objects cost no request until an attribute is read: merges, comments and statuses
        # only need the URL, which keeps us well inside the rate limit.
        self._lazy = gh.withLazy(True)
        self._sleep = sleep
        self._clock = clock
        self._polls = mergeable_polls
        self._poll_interval_s = poll_interval_s

    def close(self) -> None:
        """Close the HTTP sessions (keep-alive connections would outlive the service otherwise)."""
        self._lazy.close()
        self._gh.close()

    # ------------------------------------------------------------------ error translation

    @contextmanager
    def _call(self, what: str, repo: str, number: int | None = None) -> Iterator[None]:
        where = f"{repo}#{number}" if number is not None else repo
        try:
            yield
        except github.GithubException as exc:
            raise self._translate(exc, f"{what} {where}", where) from exc
        except requests.exceptions.RetryError as exc:
            raise errors.GitHubUnavailable(
                f"{what} {where}: retries exhausted", url=where, payload=str(exc)
            ) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise errors.GitHubUnavailable(f"{what} {where}: {type(exc).__name__}", url=where) from exc
        except AssertionError as exc:
            # PyGithub asserts that URLs in responses stay on base_url: a misconfigured base_url.
            message = f"{what} {where}: response URL outside the configured base_url"
            raise errors.GitHubError(message, url=where, payload=str(exc)) from exc

    def _translate(self, exc: github.GithubException, what: str, where: str) -> errors.GitHubError:
        status, detail = exc.status, _detail(exc)
        kw: dict[str, Any] = {"url": where, "status": status, "payload": exc.data}
        retry_after = _header(exc.headers, "Retry-After")
        limited = isinstance(exc, github.RateLimitExceededException) or (
            status in (403, 429)
            and (retry_after is not None or _header(exc.headers, "X-RateLimit-Remaining") == "0")
        )
        if limited:
            if retry_after is not None and retry_after.isdigit():
                delay = float(retry_after)
            else:
                reset = _header(exc.headers, "X-RateLimit-Reset")
                delay = max(float(reset) - self._clock(), 1.0) if reset and reset.isdigit() else 60.0
            return errors.GitHubRateLimited(f"{what}: rate limited: {detail}", retry_after=delay, **kw)
        if status in (405, 409):
            return errors.GitHubConflict(f"{what}: {detail}", **kw)
        if status >= 500:
            return errors.GitHubUnavailable(f"{what}: {detail}", **kw)
        return errors.GitHubError(f"{what}: {detail}", **kw)

    # ------------------------------------------------------------------ pull requests

    def _ref(self, repo: str, p: PullRequest, *, full: bool, outcome: str = "") -> PrRef:
        """``full``: ``p`` came from a single-PR answer, so detail fields are present without a refetch."""
        merged = p.merged_at is not None
        state: PrState = "merged" if merged else "open" if p.state == "open" else "closed"
        return PrRef(
            repo=repo,
            number=p.number,
            head=p.head.ref,
            base=p.base.ref,
            head_sha=p.head.sha,
            state=state,
            html_url=p.html_url,
            node_id=p.node_id,
            title=p.title,
            merged_by=p.merged_by.login if full and p.merged_by else None,
            merge_commit_sha=p.merge_commit_sha if merged else None,
            mergeable_state=p.mergeable_state if full else None,
            auto_merge=bool(p.auto_merge) if full else False,
            outcome=outcome,
            at=_aware(p.merged_at if merged else p.created_at if p.state == "open" else p.closed_at),
        )

    def _pulls_for(self, repo: str, head: str, state: str) -> list[PullRequest]:
        owner = repo.split("/", 1)[0]
        pulls = self._lazy.get_repo(repo).get_pulls(
            state=state, head=f"{owner}:{head}", sort="created", direction="desc"
        )
        return list(pulls)

    def find_pr(self, repo: str, head_branch: str, state: str = "all") -> PrRef | None:
        """Newest PR from ``head_branch`` (GitHub needs ``owner:branch``: a bare name matches every PR)."""
        with self._call(f"find pull request for {head_branch} in", repo):
            found = self._pulls_for(repo, head_branch, state)
            return self._ref(repo, found[0], full=False) if found else None

    def open_or_update_pr(
        self,
        repo: str,
        head: str,
        base: str,
        title: str,
        body: str,
        *,
        labels: Sequence[str] = (),
        reviewers: Sequence[str] = (),
    ) -> PrRef:
        """One PR per head branch: edit the open one in place, never reopen one a human closed."""
        with self._call(f"open pull request {head} -> {base} in", repo):
            existing = self._pulls_for(repo, head, "all")
            current = next((p for p in existing if p.state == "open"), None)
            if current is None and existing and existing[0].merged_at is None:
                return self._ref(repo, existing[0], full=False, outcome="rejected")
            if current is not None:
                changed = (current.title, current.body or "", current.base.ref) != (title, body, base)
                if changed:
                    current.edit(title=title, body=body, base=base)
                outcome = "updated" if changed else "unchanged"
            else:
                try:
                    current = self._lazy.get_repo(repo).create_pull(
                        base=base, head=head, title=title, body=body
                    )
                except github.GithubException as exc:
                    if exc.status == 422 and "No commits between" in _detail(exc) and existing:
                        return self._ref(repo, existing[0], full=False, outcome="merged")
                    raise
                outcome = "created"
            self._label_and_review(current, labels, reviewers)
            # Created and edited PRs hold a full answer; an untouched list item would refetch itself.
            return self._ref(repo, current, full=outcome != "unchanged", outcome=outcome)

    def _label_and_review(self, p: PullRequest, labels: Sequence[str], reviewers: Sequence[str]) -> None:
        have = {label.name.lower() for label in p.labels}
        missing = [name for name in labels if name.lower() not in have]
        if missing:
            p.add_to_labels(*missing)
        author = p.user.login.lower()
        asked = {u.login.lower() for u in p.requested_reviewers}
        wanted = [r for r in reviewers if r.lower() != author and r.lower() not in asked]
        if wanted:
            p.create_review_request(reviewers=wanted)

    def pr_state(self, repo: str, number: int) -> PrRef:
        with self._call("read pull request", repo, number):
            return self._ref(repo, self._lazy.get_repo(repo).get_pull(number), full=True)

    def merge(self, pr: PrRef, sha: str, method: MergeMethod = "squash") -> str:
        """Merge only if the head is still ``sha``; 405 (not mergeable), 409 (head moved): GitHubConflict."""
        with self._call("merge pull request", pr.repo, pr.number):
            p = self._lazy.get_repo(pr.repo).get_pull(pr.number)
            return str(p.merge(sha=sha, merge_method=method).sha)

    def enable_automerge(self, pr: PrRef, method: MergeMethod = "squash") -> Literal["enabled", "merged"]:
        """Auto-merge once required checks pass; a PR that is already clean is merged now instead."""
        with self._call("enable auto-merge on", pr.repo, pr.number):
            p = self._lazy.get_repo(pr.repo).get_pull(pr.number)
            for _ in range(self._polls):
                if p.mergeable is not None or p.merged or p.state != "open":
                    break
                self._sleep(self._poll_interval_s)  # GitHub computes mergeability in the background
                p = self._lazy.get_repo(pr.repo).get_pull(pr.number)
            if p.merged:
                return "merged"
            if p.state != "open":
                raise errors.GitHubError(
                    f"enable auto-merge on {pr.repo}#{pr.number}: pull request is closed"
                )
            if p.head.sha != pr.head_sha:
                raise errors.GitHubConflict(
                    f"enable auto-merge on {pr.repo}#{pr.number}: head moved to {p.head.sha[:12]}",
                    url=f"{pr.repo}#{pr.number}",
                )
            if p.mergeable_state == "clean":
                p.merge(sha=pr.head_sha, merge_method=method)
                return "merged"
            try:
                p.enable_automerge(merge_method=method.upper(), expected_head_oid=pr.head_sha)
            except github.GithubException as exc:
                # The race GitHub documents: checks turned green between our read and the mutation.
                if "clean status" not in _detail(exc) and "clean status" not in str(exc.data):
                    raise
                p.merge(sha=pr.head_sha, merge_method=method)
                return "merged"
            return "enabled"

    def delete_branch(self, repo: str, branch: str) -> bool:
        """Delete ``refs/heads/branch``; False if it was already gone."""
        with self._call(f"delete branch {branch} in", repo):
            try:
                self._lazy.get_repo(repo).get_git_ref(f"heads/{branch}").delete()
            except github.GithubException as exc:
                if exc.status in (404, 422):
                    return False
                raise
            return True

    # ------------------------------------------------------------------ statuses, comments, issues

    def set_status(
        self, repo: str, sha: str, state: str, context: str, *, description: str = "", target_url: str = ""
    ) -> int:
        """Create a commit status; returns its id (GitHub numbers statuses in creation order)."""
        text = (
            description
            if len(description) <= DESCRIPTION_LIMIT
            else description[: DESCRIPTION_LIMIT - 3] + "..."
        )
        with self._call(f"set status {context}={state} on {sha[:12]} in", repo):
            commit = self._lazy.get_repo(repo).get_commit(sha)
            kwargs = {"description": text, "context": context}
            if target_url:
                kwargs["target_url"] = target_url
            return int(commit.create_status(state, **kwargs).id)

    def statuses(self, repo: str, sha: str, context: str) -> list[StatusRef]:
        """Every status of ``context`` on ``sha``, oldest first (the combined status shows only the last)."""
        with self._call(f"list statuses {context} of {sha[:12]} in", repo):
            items = self._lazy.get_repo(repo).get_commit(sha).get_statuses()
            found = [
                StatusRef(int(x.id), x.state, x.description or "") for x in items if x.context == context
            ]
            return sorted(found, key=lambda x: x.id)

    def combined_status(self, repo: str, sha: str) -> CombinedStatus:
        with self._call(f"read combined status of {sha[:12]} in", repo):
            combined = self._lazy.get_repo(repo).get_commit(sha).get_combined_status()
            contexts = tuple((s.context, s.state) for s in combined.statuses)
            return CombinedStatus(sha, combined.state, contexts)

    def comment(self, repo: str, number: int, body: str) -> int:
        with self._call("comment on", repo, number):
            return int(self._lazy.get_repo(repo).get_issue(number).create_comment(body).id)

    def issue_is_open(self, repo: str, number: int) -> bool:
        with self._call("read issue", repo, number):
            return bool(self._lazy.get_repo(repo).get_issue(number).state == "open")

    def open_or_update_issue(
        self, repo: str, title: str, body: str, labels: Sequence[str], marker: str
    ) -> IssueRef:
        """One open issue per incident, found by ``marker`` (hidden in the body) among open labelled ones."""
        tag = marker_tag(marker)
        text = body if tag in body else f"{body.rstrip()}\n\n{tag}\n"
        with self._call("open issue in", repo):
            r = self._lazy.get_repo(repo)
            candidates = (
                r.get_issues(state="open", labels=list(labels[:1])) if labels else r.get_issues(state="open")
            )
            for issue in candidates:
                if issue.pull_request is None and tag in (issue.body or ""):
                    changed = (issue.title, issue.body) != (title, text)
                    if changed:
                        issue.edit(title=title, body=text)
                    outcome = "updated" if changed else "unchanged"
                    return IssueRef(repo, issue.number, issue.html_url, issue.state, outcome)
            created = r.create_issue(title=title, body=text, labels=list(labels))
            return IssueRef(repo, created.number, created.html_url, created.state, "created")

    # ------------------------------------------------------------------ read-back for the guardrails

    def heal_prs(self, repo: str, prefix: str = "githeal/", limit: int = 100) -> list[tuple[PrRef, str]]:
        """The bot's PRs (head branch under ``prefix``), newest first, with their bodies."""
        out: list[tuple[PrRef, str]] = []
        with self._call("list heal PRs of", repo):
            pulls = self._lazy.get_repo(repo).get_pulls(state="all", sort="created", direction="desc")
            for p in pulls:
                if len(out) >= limit:
                    break
                if p.head.ref.startswith(prefix):
                    out.append((self._ref(repo, p, full=False), p.body or ""))
        return out

    def open_issues(self, repo: str, label: str) -> list[tuple[IssueRef, str]]:
        """Open issues (not PRs) carrying ``label``, with their bodies: the open escalations."""
        with self._call("list issues of", repo):
            return [
                (IssueRef(repo, i.number, i.html_url, i.state), i.body or "")
                for i in self._lazy.get_repo(repo).get_issues(state="open", labels=[label])
                if i.pull_request is None
            ]
