"""GitHub client: the only module that talks to GitHub, through an injected ``github.Github`` (PyGithub).

It opens or updates one PR per head branch (never reopening one a human closed), lands it the way
the repository allows (``land``: merge now, enable auto-merge, or leave it for a human with the
reason), posts commit statuses and comments, and keeps one issue per incident found by a hidden
body marker. It honours GitHub's rate limits (``X-RateLimit-Remaining``, ``Retry-After``, secondary
limits: no request is sent while backing off) and reads the bot's PRs with conditional requests.
Every PyGithub/requests failure is translated into the ``errors.GitHubError`` subtree naming the
repo and PR. It decides nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from bot import errors
from bot.clients import deferred, githubcalls

if TYPE_CHECKING:
    import github
    from github.PullRequest import PullRequest

    from bot.clients import githubauth
else:
    github = deferred.module("github")  # PyGithub: loaded when a GitHub call is made

PrState = Literal["open", "closed", "merged"]
MergeMethod = Literal["merge", "squash", "rebase"]
METHODS: tuple[MergeMethod, ...] = ("merge", "squash", "rebase")
DESCRIPTION_LIMIT = 140  # GitHub rejects longer commit-status descriptions with 422
HEAL_LABEL = "githeal"  # on every heal PR: the ledger finds them with one labelled list call
MERGEABLE_NOW = ("clean", "unstable")  # unstable: only checks that are not required are pending/failing


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
    notes: tuple[str, ...] = ()  # what GitHub refused besides the PR itself (e.g. a review request)

    @property
    def rejected(self) -> bool:
        return self.outcome == "rejected"


@dataclass(frozen=True)
class MergeSettings:
    """What a repository allows (``GET /repos/{o}/{r}``: ``allow_auto_merge``, ``allow_*_merge``)."""

    allow_auto_merge: bool
    methods: tuple[MergeMethod, ...]

    def pick(self, wanted: MergeMethod | None) -> MergeMethod | None:
        """``wanted`` if the repo allows it; with none configured, the first allowed one."""
        if wanted is not None:
            return wanted if wanted in self.methods else None
        return self.methods[0] if self.methods else None


@dataclass(frozen=True)
class Landing:
    """What ``land`` did: ``merged`` now, auto-merge ``enabled``, or ``left`` for a human (``reason``)."""

    status: Literal["merged", "enabled", "left"]
    method: MergeMethod | None = None
    reason: str = ""
    merge_commit_sha: str | None = None


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


def _when(stamp: object) -> datetime | None:
    """GitHub's ``2024-01-02T03:04:05Z`` timestamps."""
    if not isinstance(stamp, str) or not stamp:
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def marker_tag(marker: str) -> str:
    """``heal-id=abc`` -> ``<!-- githeal:heal-id=abc -->``; a ready-made HTML comment is kept as is."""
    return marker if marker.startswith("<!--") else f"<!-- githeal:{marker} -->"


def _now_mergeable(exc: github.GithubException) -> bool:
    """GitHub refuses auto-merge on a PR it would merge right now ("... is in clean/unstable status")."""
    text = githubcalls.graphql_detail(exc)
    return any(f"{state} status" in text for state in MERGEABLE_NOW)


def _review(p: PullRequest, logins: list[str]) -> None:
    p.create_review_request(reviewers=logins)


class GitHubClient:
    def __init__(
        self,
        gh: github.Github,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        mergeable_polls: int = 5,
        poll_interval_s: float = 1.0,
        reserve: int = 5,
        heal_label: str = HEAL_LABEL,
        token_source: githubauth.TokenSource | None = None,
    ) -> None:
        self._gh = gh
        # The live token (renewed installation token or PAT): git over HTTPS takes the same callable.
        self.token_source = token_source
        # Lazy objects cost no request until an attribute is read: merges, comments and statuses
        # only need the URL, which keeps us well inside the rate limit.
        self._lazy = gh.withLazy(True)
        self._sleep = sleep
        self._clock = clock
        self._polls = mergeable_polls
        self._poll_interval_s = poll_interval_s
        self.heal_label = heal_label
        self._calls = githubcalls.Calls(self._lazy.requester, clock, reserve)
        self._call = self._calls.call
        self._translate = self._calls.translate

    @property
    def rate_remaining(self) -> int | None:
        """``X-RateLimit-Remaining`` of the last API answer (None before the first)."""
        return self._calls.remaining

    def close(self) -> None:
        """Close the HTTP sessions (keep-alive connections would outlive the service otherwise)."""
        self._lazy.close()
        self._gh.close()

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
        new_head: bool = False,
    ) -> PrRef:
        """One PR per head branch: edit the open one in place, never reopen one a human closed.
        ``new_head``: the caller has just created ``head`` (a push without force), so no PR can stand
        on it and none is looked up (a racing one still fails the create with GitHub's 422)."""
        with self._call(f"open pull request {head} -> {base} in", repo):
            existing = [] if new_head else self._pulls_for(repo, head, "all")
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
                    if exc.status == 422 and "No commits between" in githubcalls.detail(exc) and existing:
                        return self._ref(repo, existing[0], full=False, outcome="merged")
                    raise
                outcome = "created"
            ref = self._ref(repo, current, full=outcome != "unchanged", outcome=outcome)
        # The PR exists from here on: labels and reviewers are extras that must never cost it.
        notes = self._label_and_review(repo, current, [self.heal_label, *labels], reviewers)
        return replace(ref, notes=notes) if notes else ref

    def _label_and_review(
        self, repo: str, p: PullRequest, labels: Sequence[str], reviewers: Sequence[str]
    ) -> tuple[str, ...]:
        """Add missing labels and ask for reviews; failures become notes (the PR stands regardless)."""
        notes: list[str] = []
        have = {label.name.lower() for label in p.labels}
        missing = list(dict.fromkeys(n for n in labels if n.lower() not in have))
        if missing:
            notes += self._extra(f"add labels {', '.join(missing)} to", repo, p, p.add_to_labels, *missing)
        author = p.user.login.lower()
        asked = {u.login.lower() for u in p.requested_reviewers}
        wanted = [r for r in reviewers if r.lower() != author and r.lower() not in asked]
        if not wanted:
            return tuple(notes)
        refused = self._extra(f"request review from {', '.join(wanted)} on", repo, p, _review, p, wanted)
        if refused and len(wanted) > 1:
            # GitHub refuses the whole request when one login is not a collaborator (422 "Reviews
            # may only be requested from collaborators"): ask one by one so a typo costs only itself.
            refused = []
            for login in wanted:
                refused += self._extra(f"request review from {login} on", repo, p, _review, p, [login])
        return tuple(notes + refused)

    def _extra(self, what: str, repo: str, p: PullRequest, fn: Callable[..., Any], *args: Any) -> list[str]:
        try:
            with self._call(what, repo, p.number):
                fn(*args)
        except errors.GitHubError as exc:
            return [str(exc.message)]
        return []

    def pr_state(self, repo: str, number: int) -> PrRef:
        with self._call("read pull request", repo, number):
            return self._ref(repo, self._lazy.get_repo(repo).get_pull(number), full=True)

    def merge(
        self, pr: PrRef, sha: str, method: MergeMethod = "squash", *, title: str = "", message: str = ""
    ) -> str:
        """Merge only if the head is still ``sha``; 405 (not mergeable), 409 (head moved): GitHubConflict."""
        with self._call("merge pull request", pr.repo, pr.number):
            p = self._lazy.get_repo(pr.repo).get_pull(pr.number)
            return self._merge_now(p, sha, method, title, message)

    def _merge_now(self, p: PullRequest, sha: str, method: MergeMethod, title: str, message: str) -> str:
        kw: dict[str, Any] = {"sha": sha, "merge_method": method}
        if title:
            kw["commit_title"] = title
        if message:
            kw["commit_message"] = message
        return str(p.merge(**kw).sha)

    def merge_settings(self, repo: str) -> MergeSettings:
        """The repository's ``allow_auto_merge`` and allowed merge methods (one ``GET /repos/{o}/{r}``)."""
        with self._call("read merge settings of", repo):
            r = self._lazy.get_repo(repo)
            allowed = (r.allow_merge_commit, r.allow_squash_merge, r.allow_rebase_merge)
            return MergeSettings(
                bool(r.allow_auto_merge), tuple(m for m, ok in zip(METHODS, allowed, strict=True) if ok)
            )

    def _settled(self, pr: PrRef) -> PullRequest:
        """The PR once GitHub has computed its mergeability (``mergeable`` is null until then)."""
        p = self._lazy.get_repo(pr.repo).get_pull(pr.number)
        for _ in range(self._polls):
            if p.mergeable is not None or p.merged or p.state != "open":
                break
            self._sleep(self._poll_interval_s)  # GitHub computes mergeability in the background
            p = self._lazy.get_repo(pr.repo).get_pull(pr.number)
        if p.state != "open" and not p.merged:
            raise errors.GitHubError(f"land {pr.repo}#{pr.number}: pull request is closed")
        if not p.merged and p.head.sha != pr.head_sha:
            raise errors.GitHubConflict(
                f"land {pr.repo}#{pr.number}: head moved to {p.head.sha[:12]}", url=f"{pr.repo}#{pr.number}"
            )
        return p

    def enable_automerge(self, pr: PrRef, method: MergeMethod = "squash") -> Literal["enabled", "merged"]:
        """Auto-merge once required checks pass; a PR GitHub would merge now is merged now instead."""
        with self._call("enable auto-merge on", pr.repo, pr.number):
            p = self._settled(pr)
            if p.merged:
                return "merged"
            if p.mergeable_state in MERGEABLE_NOW:
                self._merge_now(p, pr.head_sha, method, "", "")
                return "merged"
            try:
                p.enable_automerge(merge_method=method.upper(), expected_head_oid=pr.head_sha)
            except github.GithubException as exc:
                # The race GitHub documents: checks turned green between our read and the mutation.
                if not _now_mergeable(exc):
                    raise
                self._merge_now(p, pr.head_sha, method, "", "")
                return "merged"
            return "enabled"

    def land(
        self, pr: PrRef, method: MergeMethod | None = None, *, title: str = "", message: str = ""
    ) -> Landing:
        """Merge now, enable auto-merge, or leave the PR for a human; never fails for a repo setting.

        ``method``: the configured merge method, or None for the first the repo allows. ``title`` and
        ``message`` are the squash commit's (so a squash keeps the heal's trailers).
        """
        settings = self.merge_settings(pr.repo)
        chosen = settings.pick(method)
        if chosen is None:
            allowed = ", ".join(settings.methods) or "none"
            why = f"the repository does not allow {method or 'any'} merges (allowed: {allowed})"
            return Landing("left", None, why)
        squash = (title, message) if chosen == "squash" else ("", "")
        where = f"{pr.repo}#{pr.number}"
        with self._call("land pull request", pr.repo, pr.number):
            p = self._settled(pr)
            if p.merged:
                return Landing("merged", chosen, merge_commit_sha=p.merge_commit_sha)
            state = str(p.mergeable_state)
            if state in MERGEABLE_NOW:
                return Landing(
                    "merged", chosen, merge_commit_sha=self._merge_now(p, pr.head_sha, chosen, *squash)
                )
            if state == "dirty":
                return Landing("left", chosen, "it conflicts with the base branch")
            if not settings.allow_auto_merge:
                why = f"GitHub reports it {state} and auto-merge is disabled in the repository settings"
                return Landing("left", chosen, why)
            head = pr.head_sha
            if state == "behind" and p.update_branch(head):
                # Strict protection: GitHub merges the base into the head and the checks run again;
                # auto-merge then lands it (it never updates a branch by itself).
                p = self._lazy.get_repo(pr.repo).get_pull(pr.number)
                head = p.head.sha
            kw: dict[str, Any] = {"merge_method": chosen.upper(), "expected_head_oid": head}
            if squash[0]:
                kw.update(commit_headline=squash[0], commit_body=squash[1])
            try:
                p.enable_automerge(**kw)
            except github.GithubException as exc:
                if _now_mergeable(exc):
                    sha = self._merge_now(p, head, chosen, *squash)
                    return Landing("merged", chosen, merge_commit_sha=sha)
                if exc.status in (400, 403, 405, 422):  # GraphQL's refusal comes back as a synthetic 400
                    return Landing(
                        "left",
                        chosen,
                        f"GitHub refused auto-merge: {githubcalls.graphql_detail(exc)}",
                    )
                raise self._translate(exc, f"enable auto-merge on {where}", where) from exc
            return Landing("enabled", chosen, f"GitHub reports it {state}")

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

    def heal_prs(self, repo: str, limit: int = 100) -> list[tuple[PrRef, str]]:
        """The bot's PRs (labelled ``heal_label``), newest first, with their bodies: ONE request.

        Listing every PR of the repo (``state=all``) would cost a request per 30 PRs each cycle; the
        issues API filters by label server-side and includes PRs. Head/base/sha are not in that
        answer and stay empty.
        """
        params = {"labels": self.heal_label, "state": "all", "sort": "created", "direction": "desc"}
        params["per_page"] = str(min(max(limit, 1), 100))
        out: list[tuple[PrRef, str]] = []
        with self._call("list heal PRs of", repo):
            for item in self._calls.conditional_page(repo, "/issues", params):
                pull = item.get("pull_request")
                if not isinstance(pull, dict):
                    continue
                merged = _when(pull.get("merged_at"))
                state: PrState = "merged" if merged else "open" if item.get("state") == "open" else "closed"
                at = merged or _when(item.get("closed_at") if state == "closed" else item.get("created_at"))
                ref = PrRef(repo, int(item["number"]), "", "", "", state, str(item.get("html_url", "")))
                out.append(
                    (replace(ref, title=str(item.get("title") or ""), at=at), str(item.get("body") or ""))
                )
        return out

    def open_issues(self, repo: str, label: str) -> list[tuple[IssueRef, str]]:
        """Open issues (not PRs) carrying ``label``, with their bodies: the open escalations (one request)."""
        params = {"labels": label, "state": "open", "sort": "created", "direction": "desc", "per_page": "100"}
        with self._call("list issues of", repo):
            return [
                (
                    IssueRef(repo, int(i["number"]), str(i.get("html_url", "")), "open"),
                    str(i.get("body") or ""),
                )
                for i in self._calls.conditional_page(repo, "/issues", params)
                if "pull_request" not in i
            ]
