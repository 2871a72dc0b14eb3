"""Running one git command and reading ``git log``: errors translated (secrets redacted), commits parsed.

The plumbing under ``gitrepo.WorkingClone``; callers outside ``clients`` use it through ``gitrepo``
(``gitrepo.read_log``, ``gitrepo.CommitInfo``). It must not hold state or know about credentials.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot import errors
from bot.clients import gitauth

STDERR_LIMIT = 2000
# one record per commit: \x1e starts it, \x1f separates fields; files follow the last \x1f
_LOG_FORMAT = "%x1e%H%x1f%P%x1f%an <%ae>%x1f%ct%x1f%B%x1f%(trailers:unfold,only)%x1f"


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


class Failed(Exception):
    """A git command that exited non-zero (or could not start: ``status`` -1), its stderr as git wrote it."""

    def __init__(self, argv: Sequence[str], status: int, stderr: str) -> None:
        super().__init__(f"{' '.join(argv[:2])} exited {status}")
        self.argv = tuple(argv)
        self.status = status
        self.stderr = stderr


class Git:
    """``git`` run in ``cwd`` (None: this process's directory), with ``env`` over this process's
    environment, stdin closed and messages in English (``LC_ALL=C``: some are read, e.g. a lost push).

    The subprocess module, not GitPython: the bot only ever ran whole git commands through
    ``git.Git.execute``, and GitPython costs every process ~25 ms of imports plus two ``git version``
    runs, and says of itself that it "is not suited for long-running processes (like daemons) as it
    tends to leak system resources" (its README, "Leakage of System Resources")."""

    __slots__ = ("cwd", "env")

    def __init__(self, cwd: str | Path | None = None, env: Mapping[str, str] | None = None) -> None:
        self.cwd = cwd
        self.env = dict(env or {})

    def output(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """stdout of ``git args`` (fed ``stdin``), as bytes, whole; :class:`Failed` unless it exits 0.

        ``timeout``: past it the command and every process it started (``git-remote-https``, ``ssh``)
        are killed, and it fails: a remote that accepts a connection and never answers must not hang
        the caller."""
        argv = ["git", *args]
        full = {**os.environ, "LANGUAGE": "C", "LC_ALL": "C", **self.env, **(env or {})}
        try:
            proc = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=full,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=timeout is not None,  # its own group: killed with its helpers
            )
        except OSError as exc:  # no git, or the working directory is gone
            raise Failed(argv, -1, str(exc)) from exc
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise Failed(argv, -1, f"no answer within {timeout:g}s: killed") from None
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.returncode:
            raise Failed(argv, proc.returncode, err.decode(errors="replace"))
        return out

    def text(
        self, args: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> str:
        """stdout of ``git args`` decoded (undecodable bytes kept as surrogates), one final newline cut."""
        out = self.output(args, env=env, timeout=timeout).decode(errors="surrogateescape")
        return out[:-1] if out.endswith("\n") else out


def git_error(
    exc: Failed, where: str, ref: str | None, redact: Callable[[str], str] = gitauth.mask
) -> errors.GitError:
    words = iter(exc.argv[1:])
    verb = "git"
    for word in words:
        if word == "-c":
            next(words, None)
        elif not word.startswith("-") and "=" not in word:
            verb = word
            break
    stderr = redact(exc.stderr).strip()
    return errors.GitError(
        redact(f"git {verb} failed (exit {exc.status})" + (f" on {ref}" if ref else "")),
        url=redact(where),
        payload=stderr[:STDERR_LIMIT],
    )


def run(
    cmd: Git,
    args: Sequence[str],
    *,
    where: str,
    ref: str | None = None,
    env: Mapping[str, str] | None = None,
    redact: Callable[[str], str] = gitauth.mask,
    timeout: float | None = None,
) -> str:
    try:
        return cmd.text(args, env=env, timeout=timeout)
    except Failed as exc:
        raise git_error(exc, where, ref, redact) from exc


def parse_log(output: str) -> list[CommitInfo]:
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
    files: bool = True,
) -> list[CommitInfo]:
    """``git log`` newest first, of any repo (bare or not); ``since`` compares committer time."""
    cmd = Git(repo_path, env)
    args = ["-c", "core.quotePath=false", "log", f"--format={_LOG_FORMAT}"]
    args += ["--name-only", "--no-renames"] if files else []
    if since is not None:
        args.append(f"--since={since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}")
    if grep:
        args += ["--fixed-strings", "--regexp-ignore-case", f"--grep={grep}"]
    if max_count:
        args.append(f"--max-count={max_count}")
    args += ["--end-of-options", rev_range, "--"]
    args += [p for p in paths if p not in ("", ".")]
    commits = parse_log(run(cmd, args, where=str(repo_path), ref=rev_range))
    # git applies --since as a walk cutoff; the exact committer-time filter is ours
    return [c for c in commits if since is None or c.time >= since]
