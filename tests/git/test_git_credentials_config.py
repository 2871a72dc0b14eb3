"""Repo credentials from the settings tree to the git client: what each config shape becomes."""

from __future__ import annotations

from pathlib import Path

from bot.clients import gitauth
from bot.service import wiring
from bot.settings import tree

KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def _repo(**kw: object) -> tree.RepoSettings:
    return tree.RepoSettings(
        name="deploy", url="https://git.example/acme/deploy.git", branch="main", workdir=Path("/tmp/w"), **kw
    )  # type: ignore[arg-type]


def test_token_is_a_callable_and_stays_out_of_the_url(tmp_path: Path) -> None:
    repo = _repo(token=tree.Secret("env:GIT_TOKEN", "ghp_secret123456"), token_username="bot")
    creds = wiring.git_credentials(repo)
    assert (
        isinstance(creds, gitauth.Token) and creds.username == "bot" and creds.token() == "ghp_secret123456"
    )
    wc = wiring.working_clone(repo)
    assert wc.remote_url == "https://git.example/acme/deploy.git"


def test_a_token_source_overrides_the_configured_token() -> None:
    """The seam for GitHub App installation tokens (1 h): asked on each git operation."""
    issued = iter(["ghs_first", "ghs_second"])
    creds = wiring.git_credentials(_repo(), token=lambda: next(issued))
    assert isinstance(creds, gitauth.Token)
    assert [creds.token(), creds.token()] == ["ghs_first", "ghs_second"]


def test_ssh_key_with_known_hosts_and_default_strict_checking(tmp_path: Path) -> None:
    repo = _repo(ssh_key=tree.Secret("file:/k", KEY), known_hosts=tmp_path / "known_hosts")
    creds = wiring.git_credentials(repo)
    assert creds == gitauth.SshKey(KEY, known_hosts=str(tmp_path / "known_hosts"), host_keys="strict")
    session = gitauth.Session(creds)
    command = session.env["GIT_SSH_COMMAND"]
    assert "StrictHostKeyChecking=yes" in command and "b3BlbnNzaC1rZXkt" not in command
    assert "b3BlbnNzaC1rZXkt" not in session.redact(f"error: {KEY}")
    accept = wiring.git_credentials(
        _repo(ssh_key=tree.Secret("file:/k", KEY), host_key_checking="accept-new")
    )
    assert isinstance(accept, gitauth.SshKey) and accept.host_keys == "accept-new"


def test_no_credentials() -> None:
    assert wiring.git_credentials(_repo()) is None
