"""The bot's only Git I/O: one persistent working clone per manifest repo, driven through the git CLI
(``gitcmd``).

Sync is fetch + (only when something differs) hard reset + clean; a clone left broken by a crash (stale
locks, a rebase or merge in progress, a corrupt index) is repaired or re-made, and said so. Pushes never
force the target branch (only ``githeal/...`` PR branches). Failures surface as ``errors.GitError`` with
no secret in them (``gitauth`` owns credentials). It must not decide what to write or whether to heal.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from bot import errors, process
from bot.clients import gitauth, gitcmd, gitrepair

PR_BRANCH_PREFIX = "githeal/"
NETWORK_TIMEOUT = 300.0  # seconds a command talking to the remote may take (repos.<name>.network_timeout)
_Status = tuple[str | None, str | None, bool]  # branch, HEAD sha, clean: what ``git status`` says
HEAL_ID_KEY = "Heal-Id"  # the dedupe key; record.trailers owns the full vocabulary
COMMIT_HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit")
HEAL_HORIZON = timedelta(days=30)  # find_heal looks no further back (issue 10 P3: no whole-history walk)

mask = gitauth.mask  # kept here for callers: hide ``user:token@`` in any URL inside a text
CommitInfo = gitcmd.CommitInfo
read_log = gitcmd.read_log
Event = Callable[..., None]  # bot.record.log.event's shape: (name, level, **fields)


def _stdlib_event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    logging.getLogger("githeal").log(level, "%s %s", name, fields)


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


_SECTION = re.compile(r'^\[([A-Za-z0-9.-]+)(?:\s+"([^"\\]*)")?\]$')
_ENTRY = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)\s*=\s*([^\"\\;#]*?)\s*$")


def _local_config(path: Path) -> dict[str, str]:
    """The plain ``section[.sub].key = value`` entries of a clone's own config file, as git spells
    them after ``git config``. Anything this reader does not fully understand (includes, quoting,
    escapes, comments after a value, a key set twice) is left out, so the caller writes it again."""
    found: dict[str, str] = {}
    seen: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return found
    section = ""
    for raw in lines:
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        head = _SECTION.match(line)
        if head:
            name = head.group(1).lower()
            if name.startswith("include"):  # another file may set anything: trust none of this one
                return {}
            section = name + (f".{head.group(2)}" if head.group(2) else "")
            continue
        entry = _ENTRY.match(line)
        if not section or entry is None:
            continue
        key = f"{section}.{entry.group(1).lower()}"
        if key in seen:
            found.pop(key, None)
            continue
        seen.add(key)
        found[key] = entry.group(2)
    return found


def _slug(url: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))
    return f"{name or 'repo'}-{hashlib.sha256(mask(url).encode()).hexdigest()[:8]}"


class WorkingClone:
    """A persistent clone of ``branch`` of ``remote_url`` at ``workdir/<slug>``; ``sync()`` before use.

    ``credentials`` (``gitauth.Token`` or ``gitauth.SshKey``) authenticate every network command; a
    password inside ``remote_url`` is taken out of it and used as a token. ``on_event`` logs repairs
    (``bot.record.log.event``; clients sit below ``record`` in the layers, so it is injected).
    """

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
        max_push_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        credentials: gitauth.Credentials | None = None,
        on_event: Event | None = None,
        heal_horizon: timedelta = HEAL_HORIZON,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        network_timeout: float | None = NETWORK_TIMEOUT,
    ) -> None:
        url, user, password = gitauth.split_userinfo(remote_url)
        if password and credentials is None:
            secret = password
            credentials = gitauth.Token(lambda: secret, user or "x-access-token")
        self.remote_url = url
        self.branch = branch
        self.path = Path(workdir) / _slug(url)
        self.identity = identity
        self.signing = signing
        self.remote = remote
        self.max_push_attempts = max(1, max_push_attempts)
        self.heal_horizon = heal_horizon
        self.network_timeout = network_timeout
        self._sleep = sleep
        self._clock = clock
        self._event = on_event or _stdlib_event
        self._auth = gitauth.Session(credentials)
        self._env = {"GIT_TERMINAL_PROMPT": "0", **(env or {}), **self._auth.env}
        self._cmd = gitcmd.Git(self.path, self._env)
        self._configured = False
        # The tree is clean at this sha because only our own staging + commit (+ push) ran since a
        # verified reset: the next reset() may skip its status walk once (issue 10 P3). Memory is a
        # shortcut for one heal, never the truth: any failure or any other reset forgets it.
        self._clean_head: str | None = None
        self._reset_seen = False
        # HEAD's sha while nothing but our own reset/commit moved it since we learnt it (saves a
        # rev-parse per step); None: ask git.
        self._head: str | None = None
        self._hooks: Path | None = None  # the hooks directory, once asked
        self._remote: str | None = None  # remote_ref's sha as the last reset read it; None: ask git
        self._heals: dict[str, CommitInfo] = {}  # Heal-Id -> commit, on remote_ref since _heals_from
        self._heals_tip: str | None = None
        self._heals_from: datetime | None = None

    @property
    def remote_ref(self) -> str:
        return f"refs/remotes/{self.remote}/{self.branch}"

    def redact(self, text: str) -> str:
        """``text`` without any credential of this clone (for messages built outside this module)."""
        return self._auth.redact(text)

    def _error(self, message: str, cls: type[errors.GitError] = errors.GitError) -> errors.GitError:
        return cls(self.redact(message), url=self.redact(self.remote_url))

    def _git(self, *args: str, ref: str | None = None) -> str:
        return gitcmd.run(self._cmd, args, where=self.remote_url, ref=ref or self.branch, redact=self.redact)

    def _net(self, *args: str, ref: str | None = None, cwd: Path | None = None) -> str:
        """A git command that talks to the remote: credentials are served for its lifetime only."""
        cmd = self._cmd if cwd is None else gitcmd.Git(cwd, self._env)
        with self._auth.network() as env:
            return gitcmd.run(
                cmd,
                args,
                where=self.remote_url,
                ref=ref or self.branch,
                env={**self._env, **env},
                redact=self.redact,
                timeout=self.network_timeout,
            )

    # ------------------------------------------------------------------ lifecycle

    def sync(self) -> str:
        """Clone the first time, afterwards repair + fetch; then back to the remote branch; its sha."""
        seen: Future[_Status] | None = None
        if not (self.path / ".git").is_dir():
            self._clone()
        else:
            self._repair()
            # The tree check reads only the index and the work tree, the fetch only objects and remote
            # refs: run them side by side (issue 10 P3) and judge the tree against the fetched tip.
            early = process.beside("githeal-git-status", self._status) if self._clean_head is None else None
            try:
                self.fetch()
            except errors.GitError as exc:
                if early is not None:
                    wait([early])  # its answer is stale now, but its git must be done
                early = None
                self._fetch_again(exc)
            seen = early
        self._configure()
        self.reset(seen)
        return self._head or self.head()

    def _fetch_again(self, failed: errors.GitError) -> None:
        """A fetch failed: repair what is local and retry, re-make a broken clone, or blame the remote."""
        if gitrepair.index_corrupt(str(failed.payload)):
            self._drop_index()
            self.fetch()
            return
        try:
            self._git("rev-parse", "--verify", "--quiet", "HEAD")
        except errors.GitError:  # the clone itself is broken, not the remote
            self.remake(f"fetch failed in a broken clone: {failed}")
            return
        raise failed

    def _drop_index(self) -> None:
        (self.path / ".git" / "index").unlink(missing_ok=True)  # the next reset --hard rebuilds it
        self._repaired(["corrupt index"])

    def _clone(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        args = ["clone", "--quiet", "--no-tags", "--branch", self.branch, "--origin", self.remote]
        try:
            self._net(*args, "--", self.remote_url, str(self.path), cwd=self.path.parent)
        except errors.GitError:
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        self._configured = False
        self._heals_tip = None
        self._head = None
        self._remote = None

    def remake(self, why: str) -> None:
        """Throw the clone away and clone again (the clone is disposable: the remote is the truth)."""
        repo, reason = self.redact(self.remote_url), self.redact(why)
        self._event("git.clone_remade", logging.WARNING, repo=repo, reason=reason)
        self._clone()
        self._configure()

    def fetch(self) -> None:
        self._remote = None
        self._net("fetch", "--prune", "--no-tags", self.remote)

    def _configure(self) -> None:
        if self._configured:
            return
        have = _local_config(self.path / ".git" / "config")
        if have.get(f"remote.{self.remote}.url") != self.remote_url:
            self._git("remote", "set-url", self.remote, self.remote_url)  # never a URL with userinfo
        settings = [("user.name", self.identity[0]), ("user.email", self.identity[1])]
        settings.append(("commit.gpgsign", "true" if self.signing else "false"))
        if self.signing is not None:
            settings.append(("gpg.format", "ssh" if self.signing.format == "ssh" else "openpgp"))
            settings.append(("user.signingkey", self.signing.key))
        for key, value in settings:
            if have.get(key) != value:  # a process start writes only what the clone lacks (issue 10 P1)
                self._git("config", key, value)
        self._configured = True

    def _repaired(self, found: list[str]) -> None:
        if found:
            self._event(
                "git.clone_repaired", logging.WARNING, repo=self.redact(self.remote_url), repaired=found
            )

    def _repair(self) -> None:
        """Undo what a killed git leaves behind: lock files and half-done operations (file checks only)."""
        self._repaired(gitrepair.clear(self.path / ".git"))

    def _status(self) -> _Status:
        """(branch, HEAD sha, clean?) of the work tree: untracked and ignored files count as dirt."""
        status = "status", "--porcelain=v2", "--branch", "--untracked-files=all", "--ignored"
        return gitrepair.parse_status(self._git(*status))

    def reset(self, seen: Future[_Status] | None = None) -> None:
        """Back to exactly the remote branch: no staged, untracked or in-progress state, no local branches.

        Cheap when already there (one status, one for-each-ref; after our own commit just the latter);
        a full reset + clean otherwise. ``seen``: a status taken since the last change to the tree."""
        self._repair()
        self._head = None
        ours, self._clean_head = self._clean_head, None
        if ours is not None:
            remote, local = self._refs()
            self._remote = remote
            if local == [self.branch]:
                if ours != remote:  # e.g. a PR branch was pushed: only the branch moves back
                    self._git("checkout", "--force", "--quiet", "-B", self.branch, self.remote_ref)
                self._head = remote
                return
        try:
            branch, head, clean = seen.result() if seen is not None else self._status()
        except errors.GitError as exc:
            if not gitrepair.index_corrupt(str(exc.payload)):
                raise
            self._drop_index()
            branch, head, clean = None, None, False
        remote, local = self._refs()
        self._remote = remote
        self._reset_seen = True
        if clean and branch == self.branch and head == remote and local == [self.branch]:
            self._head = remote
            return
        if branch is None and head is not None:
            self._repaired(["detached HEAD"])
        try:
            self._git("reset", "--hard", "--quiet")
            self._git("checkout", "--force", "--quiet", "-B", self.branch, self.remote_ref)
            self._git("clean", "-ffdxq")
            for name in local:
                if name != self.branch:
                    self._git("branch", "-D", name)
        except errors.GitError as exc:
            self.remake(f"reset failed: {exc}")

    def _refs(self) -> tuple[str | None, list[str]]:
        refs = self._git("for-each-ref", "--format=%(refname) %(objectname)", self.remote_ref, "refs/heads")
        return gitrepair.parse_refs(refs, self.remote_ref)

    @contextlib.contextmanager
    def _failsafe(self) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            self._clean_head = None
            self._head = None
            self._reset_seen = False
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
            self._cmd.output(args)
        except gitcmd.Failed as exc:
            if exc.status == 1:
                return False
            raise gitcmd.git_error(exc, self.remote_url, ref or self.branch, self.redact) from exc
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
            return self._cmd.output(["cat-file", "blob", meta[2]])
        except gitcmd.Failed as exc:
            raise gitcmd.git_error(exc, self.remote_url, f"{rev}:{path}", self.redact) from exc

    def list_files(self, rev: str, path: str = "") -> list[str]:
        """Files under ``path`` (a directory or a file; "" = the whole tree) at ``rev``."""
        args = ["ls-tree", "-r", "-z", "--name-only", "--end-of-options", rev]
        if path not in ("", "."):
            args += ["--", path]
        return [f for f in self._git(*args, ref=rev).split("\0") if f]

    def blobs(self, rev: str, path: str = "") -> dict[str, str]:
        """path -> blob id of every file under ``path`` ("" = the whole tree) at ``rev``, in one
        ``ls-tree`` (submodules and other non-blob entries are left out)."""
        args = ["ls-tree", "-r", "-z", "--end-of-options", rev]
        if path not in ("", "."):
            args += ["--", path]
        out: dict[str, str] = {}
        for entry in self._git(*args, ref=rev).split("\0"):
            meta, tab, name = entry.partition("\t")
            fields = meta.split()
            if tab and len(fields) >= 3 and fields[1] == "blob":
                out[name] = fields[2]
        return out

    def read_blobs(self, ids: Sequence[str]) -> dict[str, bytes]:
        """The bytes of each blob id, all through one ``git cat-file --batch`` (not two commands a file)."""
        if not ids:
            return {}
        try:
            out = self._cmd.output(["cat-file", "--batch"], stdin="".join(f"{i}\n" for i in ids).encode())
        except gitcmd.Failed as exc:
            raise gitcmd.git_error(exc, self.remote_url, self.branch, self.redact) from exc
        return _batch(out)

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

    def staged(self) -> tuple[str, str]:
        """(patch, stat) of what ``commit`` would record, in one git command (``--stat --patch``: the
        stat block, an empty line, then the patch)."""
        out = self._git("diff", "--cached", "--no-color", "--no-ext-diff", "--stat", "--patch")
        stat, _, patch = out.partition("\n\n")
        return patch, stat

    def staged_diff(self) -> str:
        """The exact patch that ``commit`` would record (what a dry run prints)."""
        return self._git("diff", "--cached", "--no-color", "--no-ext-diff")

    def find_heal(self, heal_id: str, since: datetime | None = None) -> CommitInfo | None:
        """The commit on the (last fetched) remote branch carrying ``Heal-Id: heal_id``: the dedupe check.

        Bounded (issue 10 P3): heal commits since ``heal_horizon`` (or ``since``) are indexed once, then
        only the commits fetched since are read; a rewritten branch is indexed again."""
        floor = self._clock() - self.heal_horizon
        start = floor if since is None or since < floor else since
        tip = self._remote or self.resolve(self.remote_ref)
        known = self._heals_tip
        fresh = self._heals_from is None or start < self._heals_from
        if fresh or known is None or (known != tip and not self.is_ancestor(known, tip)):
            self._heals, self._heals_from = {}, start
            self._index_heals(self.remote_ref, start)
        elif known != tip:
            self._index_heals(f"{known}..{tip}", self._heals_from)
        self._heals_tip = tip
        found = self._heals.get(heal_id)
        return found if found is not None and found.time >= start else None

    def _index_heals(self, rev_range: str, since: datetime | None) -> None:
        grep = f"{HEAL_ID_KEY}:"
        for commit in reversed(
            read_log(self.path, rev_range, since=since, grep=grep, env=self._env, files=False)
        ):
            for heal in commit.trailer_values(HEAL_ID_KEY):
                self._heals[heal] = commit  # oldest first: the newest carrying it wins, as before

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
                    with contextlib.suppress(errors.GitError):
                        self._git("revert", "--abort")  # our own conflict, not a crash to repair
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
            if self.signing is not None or self._commit_hooks():
                sha = self._porcelain_commit(message, allow_empty)
            else:
                sha = self._plumbing_commit(message, allow_empty)
            # everything our staging methods touched was staged, so the commit left the tree clean
            self._clean_head = sha if self._reset_seen else None
            self._head = sha
            return sha

    def _commit_hooks(self) -> bool:
        """Does the clone have commit hooks (an operator's, or a test's kill point)? Then ``git commit``
        runs them; plumbing would silently skip them."""
        if self._hooks is None:
            self._hooks = self.path / ".git" / "hooks"
            with contextlib.suppress(errors.GitError):
                self._hooks = self.path / self._git("rev-parse", "--git-path", "hooks")  # core.hooksPath
        return any(os.access(self._hooks / name, os.X_OK) for name in COMMIT_HOOKS)

    def _porcelain_commit(self, message: str, allow_empty: bool) -> str:
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

    def _plumbing_commit(self, message: str, allow_empty: bool) -> str:
        """What ``git commit --cleanup=whitespace`` records, without its refresh of every file's stat
        (issue 10 P3: that walk costs more than the rest of the commit on a 10,000-file tree): the
        index as a tree, a commit of it on HEAD, HEAD moved only if it is still that parent."""
        tree = self._git("write-tree")
        parent, parent_tree = self._git("rev-parse", "HEAD", "HEAD^{tree}").split()
        if tree == parent_tree and not allow_empty:
            raise self._error("nothing to commit: the heal changes nothing")
        text = stripspace(message)
        msg = self.path / ".git" / "GITHEAL_COMMIT_MSG"
        msg.write_text(text, encoding="utf-8")
        try:
            sha = self._git("commit-tree", tree, "-p", parent, f"-F{msg}")
        finally:
            msg.unlink(missing_ok=True)
        subject = text.split("\n", 1)[0]
        self._git("update-ref", "-m", f"commit: {subject}", "HEAD", sha, parent)
        return sha

    def push(self, branch: str | None = None, *, recheck: Callable[[], bool] | None = None) -> PushResult:
        """Fast-forward push of HEAD; if the branch moved: fetch, ``recheck()`` (still needed?), rebase."""
        target = branch or self.branch
        tracking = f"refs/remotes/{self.remote}/{target}"
        self._remote = None  # a push moves the remote-tracking ref
        with self._failsafe():
            for attempt in range(1, self.max_push_attempts + 1):
                try:
                    self._net("push", "--quiet", self.remote, f"HEAD:refs/heads/{target}", ref=target)
                    sha = self._head or self.head()
                    if self._clean_head is not None:
                        self._clean_head = sha  # a rebase of a clean tree leaves it clean
                    return PushResult("pushed", sha, attempt)
                except errors.GitError as exc:
                    if not _moved(str(exc.payload)):
                        raise
                self.fetch()
                if recheck is not None and not recheck():
                    self.reset()
                    return PushResult("already-done", None, attempt)
                self._head = None  # the rebase moves HEAD
                try:
                    self._git("rebase", "--quiet", tracking, ref=target)
                except errors.GitError as exc:
                    with contextlib.suppress(errors.GitError):
                        self._git("rebase", "--abort")  # our own half-done rebase is no crash to repair
                    msg = f"{target} moved and the heal no longer rebases cleanly onto it; re-plan"
                    raise self._error(msg, errors.PushRejected) from exc
                if self.head() == self.resolve(tracking):
                    self.reset()  # the same change already landed upstream: rebase dropped ours
                    return PushResult("already-done", None, attempt)
                if attempt < self.max_push_attempts:
                    # jittered: replicas (shards) that collided once must not retry in lockstep
                    self._sleep(0.2 * attempt * random.uniform(0.5, 1.5))
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
            self._net("push", "--quiet", "--force", self.remote, f"HEAD:refs/heads/{self._own_branch(name)}")
            return self._head or self.head()

    def delete_remote_branch(self, name: str) -> bool:
        """Delete a ``githeal/...`` branch on the remote; False when it was not there."""
        ref = f"refs/heads/{self._own_branch(name)}"
        if not self._net("ls-remote", self.remote, ref):
            return False  # some servers only warn when deleting a missing ref
        try:
            self._net("push", "--quiet", self.remote, "--delete", ref)
        except errors.GitError as exc:
            if "remote ref does not exist" in str(exc.payload):
                return False
            raise
        return True


def _batch(out: bytes) -> dict[str, bytes]:
    """``git cat-file --batch`` output: ``<id> <type> <size>\\n<content>\\n`` per object found,
    ``<id> missing\\n`` per object not."""
    found: dict[str, bytes] = {}
    at = 0
    while at < len(out):
        end = out.index(b"\n", at)
        head = out[at:end].split()
        at = end + 1
        if len(head) != 3:
            continue  # "<id> missing" (or ambiguous): no content follows
        size = int(head[2])
        found[head[0].decode()] = out[at : at + size]
        at += size + 1
    return found


def stripspace(message: str) -> str:
    """``git stripspace`` (``--cleanup=whitespace``): trailing blanks off every line, runs of empty
    lines made one, none at either end, one final newline."""
    out: list[str] = []
    for raw in message.split("\n"):
        line = raw.rstrip(" \t\n\v\f\r")  # git's isspace(), not Python's (no Unicode spaces)
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def bare_clone(url: str, dest: str | Path, credentials: gitauth.Credentials | None = None) -> Path:
    """A throwaway bare clone (for reading history of a repo given by URL)."""
    plain, user, password = gitauth.split_userinfo(url)
    if password and credentials is None:
        credentials = gitauth.Token(lambda: password, user or "x-access-token")
    auth = gitauth.Session(credentials)
    with auth.network() as env:
        args = ["clone", "--quiet", "--bare", "--", plain, str(dest)]
        prompt = {"GIT_TERMINAL_PROMPT": "0", **env}
        gitcmd.run(gitcmd.Git(), args, where=plain, env=prompt, redact=auth.redact, timeout=NETWORK_TIMEOUT)
    return Path(dest)


def _moved(payload: str) -> bool:
    """The push lost to another push of the same ref: behind ("[rejected] (non-fast-forward)"), or
    racing it inside receive-pack ("[remote rejected] (failed to update ref)", "cannot lock ref ... is
    at X but expected Y"). Both mean fetch, rebase, push again; anything else is an error."""
    return any(
        s in payload for s in ("[rejected]", "non-fast-forward", "failed to update ref", "cannot lock ref")
    )
