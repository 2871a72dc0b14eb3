"""Running one git command and reading ``git log``: errors translated (secrets redacted), commits parsed.

The plumbing under ``gitrepo.WorkingClone``; callers outside ``clients`` use it through ``gitrepo``
(``gitrepo.read_log``, ``gitrepo.CommitInfo``). It must not hold state or know about credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import git

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


def git_error(
    exc: git.CommandError, where: str, ref: str | None, redact: Callable[[str], str] = gitauth.mask
) -> errors.GitError:
    argv = exc.command if isinstance(exc.command, list | tuple) else str(exc.command).split()
    words = iter(str(a) for a in argv[1:])
    verb = "git"
    for word in words:
        if word == "-c":
            next(words, None)
        elif not word.startswith("-") and "=" not in word:
            verb = word
            break
    stderr = redact(str(exc.stderr or "")).strip().removeprefix("stderr:").strip(" '\n")
    return errors.GitError(
        redact(f"git {verb} failed (exit {exc.status})" + (f" on {ref}" if ref else "")),
        url=redact(where),
        payload=stderr[:STDERR_LIMIT],
    )


def run(
    cmd: git.Git,
    args: Sequence[str],
    *,
    where: str,
    ref: str | None = None,
    env: Mapping[str, str] | None = None,
    redact: Callable[[str], str] = gitauth.mask,
) -> str:
    try:
        return str(cmd.execute(["git", *args], env=dict(env) if env else None))
    except git.CommandError as exc:
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
    cmd = git.Git(str(repo_path))
    if env:
        cmd.update_environment(**env)
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
