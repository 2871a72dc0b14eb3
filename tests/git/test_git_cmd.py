"""``gitcmd.Git``: one git command through ``subprocess`` (what GitPython's ``Git.execute`` did for us):
stdout with one final newline cut, bytes kept whole, stdin closed, failures as ``GitError`` with git's
own stderr and no secret, and a working directory that is gone is an error, never this process's
directory (GitPython silently ran the command in the current directory then)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bot import errors
from bot.clients import gitcmd, gitrepo


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


def _cmdlines_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and "pytest" not in cmd:
            found.append(cmd)
    return found


def test_a_remote_that_never_answers_is_killed_at_the_network_timeout(tmp_path: Path) -> None:
    """A remote that accepts the connection and then says nothing (a hung proxy, a stalled server)
    used to hang ``git clone``/``fetch`` for ever, and with it every cycle: no timeout anywhere."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    held: list[socket.socket] = []

    def hold() -> None:
        while True:
            try:
                held.append(server.accept()[0])  # accepted, never answered
            except OSError:
                return

    threading.Thread(target=hold, daemon=True).start()
    url = f"http://127.0.0.1:{port}/stalled.git"
    clone = gitrepo.WorkingClone(url, "main", tmp_path / "work", network_timeout=2.0)
    started = time.monotonic()
    try:
        with pytest.raises(errors.GitError) as caught:
            clone.sync()
        elapsed = time.monotonic() - started
    finally:
        server.close()
        for conn in held:
            conn.close()
    assert "no answer within 2s: killed" in str(caught.value)
    assert elapsed < 20
    assert held, "git never reached the stalled remote"
    assert _cmdlines_mentioning(f"127.0.0.1:{port}") == []  # git-remote-http went with it
