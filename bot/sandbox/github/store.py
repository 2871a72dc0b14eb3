"""In-memory state of the GitHub emulator: repos, issues and PRs, labels, comments, statuses, apps.

Git content (branches, commits) is NOT stored here: it lives in the real bare repositories and is
read through ``gitops.BareRepo``. Everything here is guarded by ``Store.lock``; this module must
not do HTTP or build JSON.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.sandbox.github import gitops


class ApiError(Exception):
    """GitHub's own error answer (status + message), rendered as JSON by the server.

    Deliberately outside ``bot.errors``: it never leaves the emulator, it is its HTTP output.
    """

    def __init__(self, status: int, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors
        self.headers: dict[str, str] = {}


def node_id(kind: str, ident: int) -> str:
    """GitHub's legacy global node id, e.g. ``011:PullRequest1436215`` base64-encoded."""
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


@dataclass
class User:
    login: str
    id: int
    type: str = "User"

    @property
    def identity(self) -> gitops.Identity:
        return gitops.Identity(self.login, f"{self.id}+{self.login}@users.noreply.github.com")


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class Comment:
    id: int
    issue_number: int
    body: str
    user: User
    created_at: datetime
    updated_at: datetime


@dataclass
class Status:
    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: User
    created_at: datetime


@dataclass
class AutoMerge:
    enabled_by: User
    merge_method: str
    commit_title: str | None = None
    commit_message: str | None = None


@dataclass
class Pull:
    head: str
    base: str
    head_sha: str
    base_sha: str
    draft: bool = False
    maintainer_can_modify: bool = True
    merged_at: datetime | None = None
    merged_by: User | None = None
    merge_commit_sha: str | None = None
    auto_merge: AutoMerge | None = None
    requested_reviewers: list[User] = field(default_factory=list)
    approvals: dict[str, str] = field(default_factory=dict)  # reviewer login -> head sha approved
    node_id: str = ""
    id: int = 0


@dataclass
class Issue:
    number: int
    id: int
    title: str
    body: str | None
    user: User
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    state_reason: str | None = None
    closed_at: datetime | None = None
    closed_by: User | None = None
    labels: list[Label] = field(default_factory=list)
    assignees: list[User] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    pull: Pull | None = None
    locked: bool = False


@dataclass
class Protection:
    """A classic branch protection rule (what ``PUT /branches/{b}/protection`` sets).

    ``contexts``: required status checks; ``strict``: the head must contain the base tip;
    ``reviews``: required approving reviews. Any rule also means "changes through a pull request":
    a direct push is refused with GH006 (see ``hooks``).
    """

    contexts: list[str] = field(default_factory=list)
    strict: bool = False
    reviews: int = 0


@dataclass
class Repo:
    owner: User
    name: str
    id: int
    git: gitops.BareRepo
    default_branch: str
    created_at: datetime
    # GitHub's defaults for a new repository: auto-merge off, all three merge methods on.
    allow_auto_merge: bool = False
    allow_merge_commit: bool = True
    allow_squash_merge: bool = True
    allow_rebase_merge: bool = True
    delete_branch_on_merge: bool = False
    has_issues: bool = True
    # branch -> its protection rule; a branch listed here counts as protected.
    protection: dict[str, Protection] = field(default_factory=dict)
    # logins with access besides the owner: only they can be asked for a review (else 422)
    collaborators: set[str] = field(default_factory=set)
    labels: dict[str, Label] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    statuses: dict[str, list[Status]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    def is_collaborator(self, login: str) -> bool:
        return login.lower() == self.owner.login.lower() or login.lower() in self.collaborators

    def next_number(self) -> int:
        return max(self.issues, default=0) + 1

    def pulls(self) -> list[Issue]:
        return [i for i in self.issues.values() if i.pull is not None]


@dataclass
class Installation:
    id: int
    app_id: int
    account: User
    permissions: dict[str, str]
    repositories: list[str] | None  # None: all repositories of the account
    created_at: datetime

    def covers(self, repo: Repo) -> bool:
        if self.repositories is not None:
            return repo.full_name.lower() in {r.lower() for r in self.repositories}
        return repo.owner.login.lower() == self.account.login.lower()


@dataclass
class App:
    id: int
    slug: str
    public_key_pem: str | None


@dataclass
class Token:
    login: str
    expires_at: datetime | None = None
    installation_id: int | None = None


class Store:
    """All mutable emulator state plus id allocation; callers hold ``lock`` around compound updates."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.repos: dict[str, Repo] = {}
        self.users: dict[str, User] = {}
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, Token] = {}
        self._next_id = 1000
        # Called with (repo, issue, action, sender) after PR transitions: the webhook hook.
        self.on_pull_event: Callable[[Repo, Issue, str, User], None] | None = None

    def new_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    def user(self, login: str, kind: str = "User") -> User:
        with self.lock:
            key = login.lower()
            if key not in self.users:
                self.users[key] = User(login, self.new_id(), kind)
            return self.users[key]

    def add_repo(
        self, full_name: str, path: Path, default_branch: str | None = None, **settings: object
    ) -> Repo:
        owner, _, name = full_name.partition("/")
        if not owner or not name:
            raise ValueError(f"repository must be owner/name, got {full_name!r}")
        git = gitops.BareRepo(path)
        with self.lock:
            repo = Repo(
                self.user(owner), name, self.new_id(), git, default_branch or git.head_branch(), self.clock()
            )
            for key, value in settings.items():
                if not hasattr(repo, key):
                    raise ValueError(f"unknown repository setting {key!r}")
                setattr(repo, key, value)
            self.repos[full_name.lower()] = repo
            return repo

    def repo(self, owner: str, name: str) -> Repo:
        found = self.repos.get(f"{owner}/{name}".lower())
        if found is None:
            raise ApiError(404, "Not Found")
        return found

    def issue(self, repo: Repo, number: int) -> Issue:
        found = repo.issues.get(number)
        if found is None:
            raise ApiError(404, "Not Found")
        return found

    def pull(self, repo: Repo, number: int) -> tuple[Issue, Pull]:
        found = repo.issues.get(number)
        if found is None or found.pull is None:
            raise ApiError(404, "Not Found")
        return found, found.pull

    def find_node(self, ident: str) -> tuple[Repo, Issue] | None:
        for repo in self.repos.values():
            for issue in repo.issues.values():
                if issue.pull is not None and issue.pull.node_id == ident:
                    return repo, issue
        return None

    def label(self, repo: Repo, name: str) -> Label:
        """GitHub creates a missing label when it is added to an issue."""
        for existing in repo.labels.values():
            if existing.name.lower() == name.lower():
                return existing
        created = Label(self.new_id(), name)
        repo.labels[name] = created
        return created

    def issue_token(self, installation: Installation, slug: str, lifetime: timedelta) -> tuple[str, Token]:
        token = "ghs_" + secrets.token_urlsafe(27)[:36]
        record = Token(f"{slug}[bot]", self.clock() + lifetime, installation.id)
        self.user(record.login, "Bot")
        self.tokens[token] = record
        return token, record
