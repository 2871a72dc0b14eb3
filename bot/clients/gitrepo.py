"""The bot's only Git I/O: one persistent working clone per manifest repo, driven through GitPython.

Sync is fetch + hard reset + clean (never a re-clone); pushes never force the target branch (only
``githeal/...`` PR branches). Any failure resets the clone to the remote branch and surfaces as
``errors.GitError`` with credentials masked. It must not decide what to write or whether a heal is needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Literal

import git

from bot import errors

PR_BRANCH_PREFIX = "githeal/"
HEAL_ID_KEY = "Heal-Id"  # the dedupe key; record.trailers owns the full vocabulary
STDERR_LIMIT = 2000
_SECRET_IN_URL = re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
# one record per commit: \x1e starts it, \x1f separates fields; files follow the last \x1f
_LOG_FORMAT = "%x1e%H%x1f%P%x1f%an <%ae>%x1f%ct%x1f%B%x1f%(trailers:unfold,only)%x1f"


def mask(text: str) -> str:
    """Hide ``user:token@`` in any URL inside ``text``."""
    return _SECRET_IN_URL.sub(r"\1***@", text)


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    subject: str
    message: str
    author: str
    time: datetime  # committer time, UTC: when it landed on the branch
    files: tuple[str, ...] = ()
    trailers: tuple[tuple[str, str], ...] = ()  # as git parses them, in order
    parents: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        return self.sha[:7]

    def trailer_values(self, key: str) -> list[str]:
        return [v for k, v in self.trailers if k.lower() == key.lower()]

    def trailer(self, key: str) -> str | None:
        return next(iter(self.trailer_values(key)), None)


@dataclass(frozen=True)
class Signing:
    """Commit signing through git's own config (``commit.gpgsign``, ``gpg.format``, ``user.signingkey``)."""

    format: Literal["ssh", "gpg"]
    key: str  # ssh: path to the private key file; gpg: key id


@dataclass(frozen=True)
class PushResult:
    status: Literal["pushed", "already-done"]
    sha: str | None
    attempts: int


def _git_error(exc: git.CommandError, where: str, ref: str | None) -> errors.GitError:
    argv = exc.command if isinstance(exc.command, list | tuple) else str(exc.command).split()
    verb = next((str(a) for a in argv[1:] if not str(a).startswith("-") and "=" not in str(a)), "git")
    stderr = mask(str(exc.stderr or "")).strip().removeprefix("stderr:").strip(" '\n")
    return errors.GitError(
        f"git {verb} failed (exit {exc.status})" + (f" on {ref}" if ref else ""),
        url=mask(where),
        payload=stderr[:STDERR_LIMIT],
    )


def _run(cmd: git.Git, args: Sequence[str], *, where: str, ref: str | None = None) -> str:
    try:
        return str(cmd.execute(["git", *args]))
    except git.CommandError as exc:
        raise _git_error(exc, where, ref) from exc


def _parse_log(output: str) -> list[CommitInfo]:
    commits = []
    for record in output.split("\x1e"):
        fields = record.split("\x1f")
        if len(fields) < 7:
            continue
        sha, parents, author, stamp, body, trailer_text, files = fields[:7]
        pairs = [line.partition(":") for line in trailer_text.splitlines()]
        message = body.strip("\n")
        when = datetime.fromtimestamp(int(stamp), tz=UTC)
        names = tuple(f for f in files.splitlines() if f)
        found = tuple((k.strip(), v.strip()) for k, sep, v in pairs if sep)
        subject = message.split("\n", 1)[0]
        commits.append(
            CommitInfo(sha.strip(), subject, message, author, when, names, found, tuple(parents.split()))
        )
    return commits


def read_log(
    repo_path: str | Path,
    rev_range: str,
    *,
    paths: Sequence[str] = (),
    since: datetime | None = None,
    grep: str | None = None,
    max_count: int | None = None,
    env: Mapping[str, str] | None = None,
) -> list[CommitInfo]:
    """``git log`` newest first, of any repo (bare or not); ``since`` compares committer time."""
    cmd = git.Git(str(repo_path))
    if env:
        cmd.update_environment(**env)
    args = ["-c", "core.quotePath=false", "log", f"--format={_LOG_FORMAT}", "--name-only", "--no-renames"]
    if since is not None:
        args.append(f"--since={since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}")
    if grep:
        args += ["--fixed-strings", "--regexp-ignore-case", f"--grep={grep}"]
    if max_count:
        args.append(f"--max-count={max_count}")
    args += ["--end-of-options", rev_range, "--"]
    args += [p for p in paths if p not in ("", ".")]
    commits = _parse_log(_run(cmd, args, where=str(repo_path), ref=rev_range))
    # git applies --since as a walk cutoff; the exact committer-time filter is ours
    return [c for c in commits if since is None or c.time >= since]


def _slug(url: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))
    return f"{name or 'repo'}-{hashlib.sha256(mask(url).encode()).hexdigest()[:8]}"


class WorkingClone:
    """A persistent clone of ``branch`` of ``remote_url`` at ``workdir/<slug>``; ``sync()`` before use."""

    def __init__(
        self,
        remote_url: str,
        branch: str,
        workdir: str | Path,
        *,
        identity: tuple[str, str] = ("githeal", "githeal@users.noreply.localhost"),
        signing: Signing | None = None,
        env: Mapping[str, str] | None = None,
        remote: str = "origin",
        max_push_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.remote_url = remote_url
        self.branch = branch
        self.path = Path(workdir) / _slug(remote_url)
        self.identity = identity
        self.signing = signing
        self.remote = remote
        self.max_push_attempts = max(1, max_push_attempts)
        self._sleep = sleep
        self._env = {"GIT_TERMINAL_PROMPT": "0", **(env or {})}
        self._cmd = git.Git(str(self.path))
        self._cmd.update_environment(**self._env)

    @property
    def remote_ref(self) -> str:
        return f"refs/remotes/{self.remote}/{self.branch}"

    def _error(self, message: str, cls: type[errors.GitError] = errors.GitError) -> errors.GitError:
        return cls(message, url=mask(self.remote_url))

    def _git(self, *args: str, ref: str | None = None) -> str:
        return _run(self._cmd, args, where=self.remote_url, ref=ref or self.branch)

    # ------------------------------------------------------------------ lifecycle

    def sync(self) -> str:
        """Clone the first time, afterwards fetch; then reset hard to the remote branch. Returns its sha."""
        if not (self.path / ".git").is_dir():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                git.Repo.clone_from(
                    self.remote_url, str(self.path), branch=self.branch, env=self._env, no_tags=True
                )
            except git.CommandError as exc:
                shutil.rmtree(self.path, ignore_errors=True)
                raise _git_error(exc, self.remote_url, self.branch) from exc
        else:
            self._git("remote", "set-url", self.remote, self.remote_url)
            self.fetch()
        self._configure()
        self.reset()
        return self.head()

    def fetch(self) -> None:
        self._git("fetch", "--prune", "--no-tags", self.remote)

    def _configure(self) -> None:
        settings = [("user.name", self.identity[0]), ("user.email", self.identity[1])]
        settings.append(("commit.gpgsign", "true" if self.signing else "false"))
        if self.signing is not None:
            settings.append(("gpg.format", "ssh" if self.signing.format == "ssh" else "openpgp"))
            settings.append(("user.signingkey", self.signing.key))
        for key, value in settings:
            self._git("config", key, value)

    def reset(self) -> None:
        """Back to exactly the remote branch: no staged, untracked or in-progress state, no local branches."""
        for marker, verb in (("rebase-merge", "rebase"), ("rebase-apply", "rebase"), ("sequencer", "revert")):
            if (self.path / ".git" / marker).exists():
                with contextlib.suppress(errors.GitError):
                    self._git(verb, "--abort" if verb == "rebase" else "--quit")
        self._git("reset", "--hard", "--quiet")
        self._git("checkout", "--force", "--quiet", "-B", self.branch, self.remote_ref)
        self._git("clean", "-ffdxq")
        for name in self._git("for-each-ref", "--format=%(refname:short)", "refs/heads").split():
            if name != self.branch:
                self._git("branch", "-D", name)

    @contextlib.contextmanager
    def _failsafe(self) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            try:
                self.reset()
            except errors.GitError as reset_exc:
                exc.add_note(f"and resetting the working clone failed too: {reset_exc}")
            raise

    # ------------------------------------------------------------------ reads

    def head(self) -> str:
        return self._git("rev-parse", "HEAD")

    def resolve(self, rev: str) -> str:
        return self._git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", ref=rev)

    def _yes(self, *args: str, ref: str | None = None) -> bool:
        """Exit status 0 -> True, 1 -> False (git's yes/no commands), anything else is an error."""
        try:
            self._cmd.execute(["git", *args])
        except git.GitCommandError as exc:
            if exc.status == 1:
                return False
            raise _git_error(exc, self.remote_url, ref or self.branch) from exc
        return True

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self._yes("merge-base", "--is-ancestor", ancestor, descendant, ref=f"{ancestor}..{descendant}")

    def show(self, rev: str, path: str) -> bytes | None:
        """The file's bytes at ``rev``; None when it does not exist there (or is a directory)."""
        entry = self._git("ls-tree", "--end-of-options", rev, "--", path, ref=rev)
        meta = entry.split("\t", 1)[0].split()
        if not entry or len(meta) < 3 or meta[1] != "blob":
            return None
        try:
            out = self._cmd.execute(
                ["git", "cat-file", "blob", meta[2]], stdout_as_string=False, strip_newline_in_stdout=False
            )
        except git.CommandError as exc:
            raise _git_error(exc, self.remote_url, f"{rev}:{path}") from exc
        return out if isinstance(out, bytes) else str(out).encode()

    def list_files(self, rev: str, path: str = "") -> list[str]:
        """Files under ``path`` (a directory or a file; "" = the whole tree) at ``rev``."""
        args = ["ls-tree", "-r", "-z", "--name-only", "--end-of-options", rev]
        if path not in ("", "."):
            args += ["--", path]
        return [f for f in self._git(*args, ref=rev).split("\0") if f]

    def log_paths(self, since_rev: str | None, until_rev: str, paths: Sequence[str] = ()) -> list[CommitInfo]:
        """Commits in ``since_rev..until_rev`` (since excluded) touching ``paths``, newest first."""
        rng = f"{since_rev}..{until_rev}" if since_rev else until_rev
        return read_log(self.path, rng, paths=paths, env=self._env)

    def commit_info(self, rev: str) -> CommitInfo:
        return read_log(self.path, rev, max_count=1, env=self._env)[0]

    def files_changed(self, sha: str) -> list[str]:
        out = self._git("diff-tree", "--no-commit-id", "--name-only", "--no-renames", "-r", "--root", sha)
        return [f for f in out.splitlines() if f]

    def staged_stat(self) -> str:
        return self._git("diff", "--cached", "--stat")

    def staged_diff(self) -> str:
        """The exact patch that ``commit`` would record (what a dry run prints)."""
        return self._git("diff", "--cached", "--no-color", "--no-ext-diff")

    def find_heal(self, heal_id: str, since: datetime | None = None) -> CommitInfo | None:
        """The commit on the (last fetched) remote branch carrying ``Heal-Id: heal_id``: the dedupe check."""
        for commit in read_log(self.path, self.remote_ref, since=since, grep=heal_id, env=self._env):
            if heal_id in commit.trailer_values(HEAL_ID_KEY):
                return commit
        return None

    # ------------------------------------------------------------------ writes

    def _inside(self, rel: str) -> Path:
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts or parts[0] == ".git":
            raise self._error(f"refusing to write {rel!r}: outside the working tree")
        return self.path.joinpath(*parts)

    def write_files(self, files: Mapping[str, bytes | None]) -> None:
        """Write (or, for None, delete) files and stage them."""
        with self._failsafe():
            present, gone = [], []
            for rel, data in files.items():
                target = self._inside(rel)
                if data is None:
                    target.unlink(missing_ok=True)
                    gone.append(rel)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    present.append(rel)
            if present:
                self._git("add", "--", *present)
            if gone:
                self._git("rm", "--cached", "--ignore-unmatch", "--quiet", "--", *gone)

    def restore_paths(self, good_rev: str, paths: Sequence[str]) -> None:
        """Make ``paths`` exactly as at ``good_rev`` (files added since are removed), staged."""
        with self._failsafe():
            for path in paths:
                self._git("rm", "-r", "--quiet", "--ignore-unmatch", "--", path)
                if self.list_files(good_rev, path):
                    self._git("checkout", good_rev, "--", path, ref=good_rev)

    def revert(self, shas: Sequence[str]) -> None:
        """Stage the revert of ``shas`` (newest first) for ONE commit; a conflict raises RollbackError."""
        with self._failsafe():
            for sha in shas:
                try:
                    self._git("revert", "--no-commit", "--no-edit", sha, ref=sha)
                except errors.GitError as exc:
                    conflicted = self._conflicted()
                    subject = self.commit_info(sha).subject
                    self.reset()
                    why = f"conflicts with later changes in {', '.join(conflicted)}"
                    if not conflicted:
                        why = f"cannot be reverted: {errors.truncate(exc.payload, 200)}"
                    raise errors.RollbackError(f"reverting {sha[:12]} ({subject!r}) {why}") from exc

    def _conflicted(self) -> list[str]:
        with contextlib.suppress(errors.GitError):
            return self._git("diff", "--name-only", "--diff-filter=U").split()
        return []

    def commit(self, message: str, *, allow_empty: bool = False) -> str:
        """Commit what is staged with the configured identity (and signing); returns the new sha.

        ``allow_empty`` records an audit-only commit (e.g. an Argo CD sync enforcing Git's state)."""
        with self._failsafe():
            if not allow_empty and self._yes("diff", "--cached", "--quiet"):
                raise self._error("nothing to commit: the heal changes nothing")
            msg = self.path / ".git" / "GITHEAL_COMMIT_MSG"
            msg.write_text(message, encoding="utf-8")
            try:
                extra = ["--allow-empty"] if allow_empty else []
                self._git("commit", "--quiet", "--cleanup=whitespace", *extra, f"--file={msg}")
            finally:
                msg.unlink(missing_ok=True)
            return self.head()

    def push(self, branch: str | None = None, *, recheck: Callable[[], bool] | None = None) -> PushResult:
        """Fast-forward push of HEAD; if the branch moved: fetch, ``recheck()`` (still needed?), rebase."""
        target = branch or self.branch
        tracking = f"refs/remotes/{self.remote}/{target}"
        with self._failsafe():
            for attempt in range(1, self.max_push_attempts + 1):
                try:
                    self._git("push", "--quiet", self.remote, f"HEAD:refs/heads/{target}", ref=target)
                    return PushResult("pushed", self.head(), attempt)
                except errors.GitError as exc:
                    payload = str(exc.payload)
                    if "[rejected]" not in payload and "non-fast-forward" not in payload:
                        raise
                self.fetch()
                if recheck is not None and not recheck():
                    self.reset()
                    return PushResult("already-done", None, attempt)
                try:
                    self._git("rebase", "--quiet", tracking, ref=target)
                except errors.GitError as exc:
                    msg = f"{target} moved and the heal no longer rebases cleanly onto it; re-plan"
                    raise self._error(msg, errors.PushRejected) from exc
                if self.head() == self.resolve(tracking):
                    self.reset()  # the same change already landed upstream: rebase dropped ours
                    return PushResult("already-done", None, attempt)
                if attempt < self.max_push_attempts:
                    self._sleep(0.2 * attempt)
            msg = f"push to {target} rejected {self.max_push_attempts} times: the branch keeps moving"
            raise self._error(msg, errors.PushRejected)

    def _own_branch(self, name: str) -> str:
        if not name.startswith(PR_BRANCH_PREFIX) or name == self.branch:
            raise self._error(
                f"refusing to force-push or delete {name!r}: only {PR_BRANCH_PREFIX}* are the bot's"
            )
        return name

    def push_branch(self, name: str) -> str:
        """Force-push HEAD to the bot's own PR branch ``githeal/...``; returns the pushed sha."""
        with self._failsafe():
            self._git("push", "--quiet", "--force", self.remote, f"HEAD:refs/heads/{self._own_branch(name)}")
            return self.head()

    def delete_remote_branch(self, name: str) -> bool:
        """Delete a ``githeal/...`` branch on the remote; False when it was not there."""
        ref = f"refs/heads/{self._own_branch(name)}"
        if not self._git("ls-remote", self.remote, ref):
            return False  # some servers only warn when deleting a missing ref
        try:
            self._git("push", "--quiet", self.remote, "--delete", ref)
        except errors.GitError as exc:
            if "remote ref does not exist" in str(exc.payload):
                return False
            raise
        return True


def bare_clone(url: str, dest: str | Path) -> Path:
    """A throwaway bare clone (for reading history of a repo given by URL)."""
    try:
        git.Repo.clone_from(url, str(dest), bare=True, env={"GIT_TERMINAL_PROMPT": "0"})
    except git.CommandError as exc:
        raise _git_error(exc, url, None) from exc
    return Path(dest)
