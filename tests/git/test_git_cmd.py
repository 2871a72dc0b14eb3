"""``gitcmd.Git``: one git command through ``subprocess`` (what GitPython's ``Git.execute`` did for us):
stdout with one final newline cut, bytes kept whole, stdin closed, failures as ``GitError`` with git's
own stderr and no secret, and a working directory that is gone is an error, never this process's
directory (GitPython silently ran the command in the current directory then)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot import errors
from bot.clients import gitcmd


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path / "r")], check=True)
    (tmp_path / "r" / "f.txt").write_bytes(b"line\n\xff\n")  # not UTF-8
    return tmp_path / "r"


def test_text_cuts_one_newline_and_output_keeps_bytes(repo: Path) -> None:
    g = gitcmd.Git(repo)
    assert g.text(["rev-parse", "--is-inside-work-tree"]) == "true"
    blob = g.text(["hash-object", "-w", "f.txt"])
    assert g.output(["cat-file", "blob", blob]) == b"line\n\xff\n"
    assert g.output(["cat-file", "--batch"], stdin=f"{blob}\n".encode()).endswith(b"line\n\xff\n\n")


def test_stdin_is_closed_so_a_command_reading_it_never_hangs(repo: Path) -> None:
    # with no input, hash-object --stdin reads EOF at once and hashes the empty blob
    assert gitcmd.Git(repo).text(["hash-object", "--stdin"]) == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def test_a_failure_is_a_git_error_with_gits_stderr_and_no_secret(repo: Path) -> None:
    secret = "hunter2-token"
    with pytest.raises(errors.GitError) as caught:
        gitcmd.run(
            gitcmd.Git(repo),
            ["-c", f"http.extraHeader=Authorization: {secret}", "rev-parse", "--verify", "nope"],
            where=str(repo),
            ref="nope",
            redact=lambda text: text.replace(secret, "***"),
        )
    err = caught.value
    assert "git rev-parse failed (exit 128) on nope" in str(err)
    assert "Needed a single revision" in str(err) and secret not in str(err)


def test_a_missing_working_directory_is_an_error_not_the_current_directory(tmp_path: Path) -> None:
    with pytest.raises(errors.GitError) as caught:
        gitcmd.run(gitcmd.Git(tmp_path / "gone"), ["status"], where="gone")
    assert "(exit -1)" in str(caught.value)
