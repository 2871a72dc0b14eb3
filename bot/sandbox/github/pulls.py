"""Pull-request behaviour of the GitHub emulator: create, mergeability, merge, close, auto-merge.

Mergeability comes from a real trial merge in the bare repo plus the statuses and required
contexts in the store; merges are real commits moved onto the base branch with a compare-and-swap.
Callers hold ``Store.lock``. This module must not build JSON or speak HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.sandbox.github import gitops, store

GITHUB = gitops.Identity("GitHub", "noreply@github.com")
METHODS = {"merge": "Merge commits", "squash": "Squash merges", "rebase": "Rebase merges"}
FAILED = {"failure", "error"}


class GraphQLError(Exception):
    """A GraphQL error entry (HTTP 200 with ``errors``); never leaves the emulator."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Mergeability:
    mergeable: bool | None
    state: str  # clean, dirty, blocked, unstable, draft, unknown
    reason: str = ""


def combined(repo: store.Repo, sha: str) -> tuple[str, list[store.Status]]:
    """Latest status per context and GitHub's combined state (no statuses at all: pending)."""
    latest: dict[str, store.Status] = {}
    for status in sorted(repo.statuses.get(sha, []), key=lambda s: s.id):
        latest[status.context] = status
    statuses = sorted(latest.values(), key=lambda s: s.id, reverse=True)
    states = {s.state for s in statuses}
    if states & FAILED:
        return "failure", statuses
    if not statuses or "pending" in states:
        return "pending", statuses
    return "success", statuses


class Pulls:
    def __init__(self, db: store.Store, merge_identity: gitops.Identity | None = None) -> None:
        self.db = db
        self.merge_identity = merge_identity

    def refresh(self, repo: store.Repo, issue: store.Issue) -> None:
        """An open PR follows its branches (the bot pushes straight to the bare repo)."""
        pull = issue.pull
        if pull is None or issue.state != "open":
            return
        pull.head_sha = repo.git.resolve(f"refs/heads/{pull.head}") or pull.head_sha
        pull.base_sha = repo.git.resolve(f"refs/heads/{pull.base}") or pull.base_sha

    def refresh_all(self, repo: store.Repo) -> None:
        """``refresh`` for every open PR with a single ref listing (list endpoints stay cheap)."""
        heads = {name.removeprefix("refs/heads/"): sha for name, sha in repo.git.refs("refs/heads/")}
        for issue in repo.issues.values():
            if issue.pull is not None and issue.state == "open":
                issue.pull.head_sha = heads.get(issue.pull.head, issue.pull.head_sha)
                issue.pull.base_sha = heads.get(issue.pull.base, issue.pull.base_sha)

    def create(
        self,
        repo: store.Repo,
        user: store.User,
        *,
        head: str,
        base: str,
        title: str,
        body: str | None,
        draft: bool = False,
    ) -> store.Issue:
        owner, _, branch = head.rpartition(":")
        if owner and owner.lower() != repo.owner.login.lower():
            raise store.ApiError(422, "Validation Failed", [_invalid("head")])
        base_sha = repo.git.resolve(f"refs/heads/{base}")
        if base_sha is None:
            raise store.ApiError(422, "Validation Failed", [_invalid("base")])
        head_sha = repo.git.resolve(f"refs/heads/{branch}")
        if head_sha is None:
            raise store.ApiError(422, "Validation Failed", [_invalid("head")])
        for other in repo.pulls():
            assert other.pull is not None
            if other.state == "open" and other.pull.head == branch and other.pull.base == base:
                message = f"A pull request already exists for {repo.owner.login}:{branch}."
                raise store.ApiError(422, "Validation Failed", [_custom(message)])
        if not repo.git.commits_between(base_sha, head_sha):
            message = f"No commits between {base} and {branch}"
            raise store.ApiError(422, "Validation Failed", [_custom(message)])
        now = self.db.clock()
        ident = self.db.new_id()
        pull = store.Pull(branch, base, head_sha, base_sha, draft=draft, id=ident)
        pull.node_id = store.node_id("PullRequest", ident)
        issue = store.Issue(repo.next_number(), self.db.new_id(), title, body, user, now, now, pull=pull)
        repo.issues[issue.number] = issue
        self._emit(repo, issue, "opened", user)
        return issue

    def mergeability(self, repo: store.Repo, issue: store.Issue) -> Mergeability:
        pull = issue.pull
        if pull is None or issue.state != "open":
            return Mergeability(None, "unknown")
        self.refresh(repo, issue)
        if repo.git.trial_merge(pull.base_sha, pull.head_sha) is None:
            return Mergeability(False, "dirty", "Pull Request is not mergeable")
        if pull.draft:
            return Mergeability(True, "draft", "Pull Request is still a draft")
        _, statuses = combined(repo, pull.head_sha)
        by_context = {s.context: s.state for s in statuses}
        rule = repo.protection.get(pull.base)
        if rule is not None:
            for context in rule.contexts:
                state = by_context.get(context)
                if state != "success":
                    verb = "is failing" if state in FAILED else "is expected"
                    return Mergeability(True, "blocked", f'Required status check "{context}" {verb}.')
            if len(pull.approvals) < rule.reviews:
                reviews = f"{rule.reviews} approving review{'s' if rule.reviews > 1 else ''}"
                why = f"At least {reviews} is required by reviewers with write access."
                return Mergeability(True, "blocked", why)
            if rule.strict and not repo.git.is_ancestor(pull.base_sha, pull.head_sha):
                return Mergeability(True, "behind", "Head branch is not up to date with the base branch")
        # Checks that are not required (pending or failing) leave the PR mergeable: "unstable".
        if any(state != "success" for state in by_context.values()):
            return Mergeability(True, "unstable")
        return Mergeability(True, "clean")

    def merge(
        self,
        repo: store.Repo,
        issue: store.Issue,
        user: store.User,
        *,
        method: str = "merge",
        sha: str | None = None,
        title: str | None = None,
        message: str | None = None,
        enforce_checks: bool = True,
    ) -> str:
        pull = issue.pull
        if pull is None or issue.state != "open":
            raise store.ApiError(405, "Pull Request is not mergeable")
        self.refresh(repo, issue)
        if sha and sha != pull.head_sha:
            raise store.ApiError(409, "Head branch was modified. Review and try the merge again.")
        if method not in METHODS:
            raise store.ApiError(422, "Validation Failed", [_invalid("merge_method")])
        if not _allowed(repo, method):
            raise store.ApiError(405, f"{METHODS[method]} are not allowed on this repository.")
        state = self.mergeability(repo, issue)
        if state.state == "dirty" or (enforce_checks and state.state in ("blocked", "behind", "draft")):
            raise store.ApiError(405, state.reason)
        for _ in range(3):
            base_sha = repo.git.resolve(f"refs/heads/{pull.base}") or pull.base_sha
            new_sha = self._commit(
                repo, issue, user, method=method, base_sha=base_sha, title=title, message=message
            )
            try:
                repo.git.update_ref(f"refs/heads/{pull.base}", new_sha, base_sha)
                break
            except gitops.GitOpFailed:
                continue  # the base moved under us (a concurrent push): merge again onto the new tip
        else:
            raise store.ApiError(409, "Base branch was modified. Review and try the merge again.")
        now = self.db.clock()
        issue.state, issue.closed_at, issue.updated_at, issue.closed_by = "closed", now, now, user
        pull.merged_at, pull.merged_by, pull.merge_commit_sha, pull.auto_merge = now, user, new_sha, None
        pull.base_sha = base_sha
        if repo.delete_branch_on_merge and not self._branch_in_use(repo, pull.head):
            repo.git.delete_ref(f"refs/heads/{pull.head}")
        self._emit(repo, issue, "closed", user)
        return new_sha

    def _commit(
        self,
        repo: store.Repo,
        issue: store.Issue,
        user: store.User,
        *,
        method: str,
        base_sha: str,
        title: str | None,
        message: str | None,
    ) -> str:
        pull = issue.pull
        assert pull is not None
        author = self.merge_identity or user.identity
        committer = self.merge_identity or GITHUB
        now = self.db.clock()
        if method == "rebase":
            rebased = repo.git.rebase(base_sha, pull.head_sha, committer, now)
            if rebased is None:
                raise store.ApiError(405, "Pull Request is not mergeable")
            return rebased
        tree = repo.git.trial_merge(base_sha, pull.head_sha)
        if tree is None:
            raise store.ApiError(405, "Pull Request is not mergeable")
        if method == "squash":
            subjects = []
            for sha in repo.git.commits_between(base_sha, pull.head_sha):
                info = repo.git.commit_info(sha)
                subjects.append(f"* {info.message.splitlines()[0] if info and info.message else sha}")
            text = f"{title or f'{issue.title} (#{issue.number})'}\n\n{message or chr(10).join(subjects)}"
            return repo.git.commit_tree(tree, [base_sha], text, author=author, committer=committer, when=now)
        default = f"Merge pull request #{issue.number} from {repo.owner.login}/{pull.head}"
        text = f"{title or default}\n\n{message if message is not None else issue.title}"
        return repo.git.commit_tree(
            tree, [base_sha, pull.head_sha], text, author=author, committer=committer, when=now
        )

    def _branch_in_use(self, repo: store.Repo, branch: str) -> bool:
        return any(i.state == "open" and i.pull and i.pull.head == branch for i in repo.issues.values())

    def close(self, repo: store.Repo, issue: store.Issue, user: store.User) -> None:
        if issue.state == "closed":
            return
        self.refresh(repo, issue)
        now = self.db.clock()
        issue.state, issue.closed_at, issue.updated_at, issue.closed_by = "closed", now, now, user
        if issue.pull is not None:
            issue.pull.auto_merge = None
            self._emit(repo, issue, "closed", user)

    def reopen(self, repo: store.Repo, issue: store.Issue, user: store.User) -> None:
        if issue.state == "open":
            return
        if issue.pull is not None:
            if issue.pull.merged_at is not None:
                raise store.ApiError(422, "Validation Failed", [_custom("Cannot reopen a merged PR")])
            if repo.git.resolve(f"refs/heads/{issue.pull.head}") is None:
                gone = "state cannot be changed. The head branch was deleted."
                raise store.ApiError(422, "Validation Failed", [_custom(gone)])
        issue.state, issue.closed_at, issue.closed_by, issue.updated_at = "open", None, None, self.db.clock()
        if issue.pull is not None:
            self._emit(repo, issue, "reopened", user)

    def enable_automerge(
        self,
        repo: store.Repo,
        issue: store.Issue,
        user: store.User,
        *,
        method: str,
        expected_head: str | None,
        title: str | None = None,
        message: str | None = None,
    ) -> None:
        pull = issue.pull
        assert pull is not None
        if not repo.allow_auto_merge:
            raise GraphQLError("UNPROCESSABLE", "Pull request Auto merge is not allowed for this repository")
        if issue.state != "open":
            raise GraphQLError("UNPROCESSABLE", "Pull request Pull request is closed")
        self.refresh(repo, issue)
        if expected_head and expected_head != pull.head_sha:
            raise GraphQLError("UNPROCESSABLE", "Pull request Head sha didn't match expected head sha")
        if not _allowed(repo, method.lower()):
            raise GraphQLError(
                "UNPROCESSABLE", f"Pull request {METHODS.get(method.lower(), method)} are not allowed"
            )
        if pull.base not in repo.protection:
            unprotected = "Pull request Protected branch rules not configured for this branch"
            raise GraphQLError("UNPROCESSABLE", unprotected)
        state = self.mergeability(repo, issue).state
        if state in ("clean", "unstable"):
            # GitHub refuses auto-merge on a PR that could merge right now; callers must merge instead.
            raise GraphQLError("UNPROCESSABLE", f"Pull request Pull request is in {state} status")
        pull.auto_merge = store.AutoMerge(user, method.lower(), title, message)

    def recheck_automerge(self, repo: store.Repo, sha: str | None = None) -> list[int]:
        """Merge every auto-merge PR (on ``sha`` if given) whose required checks now pass."""
        merged = []
        for issue in list(repo.issues.values()):
            pull = issue.pull
            if pull is None or pull.auto_merge is None or issue.state != "open":
                continue
            self.refresh(repo, issue)
            if sha is not None and pull.head_sha != sha:
                continue
            if self.mergeability(repo, issue).state not in ("clean", "unstable"):
                continue
            auto = pull.auto_merge
            try:
                self.merge(
                    repo,
                    issue,
                    auto.enabled_by,
                    method=auto.merge_method,
                    title=auto.commit_title,
                    message=auto.commit_message,
                )
            except store.ApiError:
                continue  # stays enabled; a later status or push re-triggers it
            merged.append(issue.number)
        return merged

    def _emit(self, repo: store.Repo, issue: store.Issue, action: str, sender: store.User) -> None:
        if self.db.on_pull_event is not None:
            self.db.on_pull_event(repo, issue, action, sender)


def _allowed(repo: store.Repo, method: str) -> bool:
    """The repo settings ``allow_merge_commit`` / ``allow_squash_merge`` / ``allow_rebase_merge``."""
    return method in METHODS and bool(
        getattr(repo, f"allow_{'merge_commit' if method == 'merge' else method + '_merge'}")
    )


def _invalid(fieldname: str) -> dict[str, str]:
    return {"resource": "PullRequest", "field": fieldname, "code": "invalid"}


def _custom(message: str) -> dict[str, str]:
    return {"resource": "PullRequest", "code": "custom", "message": message}
