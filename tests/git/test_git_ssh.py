"""SSH key auth against a real sshd on loopback serving the bare repo (issue 8 §4).

The key used to be passed as ``ssh -i <PEM text>`` (ssh reads ``-i`` as a file name, so SSH never
worked, and the whole key sat in GIT_SSH_COMMAND of every git child). Now it is a 0600 file in a 0700
directory; git(1): "GIT_SSH_COMMAND ... is used instead of ssh when git needs to connect"; ssh_config(5):
"IdentitiesOnly ... use only the configured authentication identity", "StrictHostKeyChecking ...
accept-new ... will automatically add new host keys to the user known hosts files, but will not permit
connections to hosts with changed host keys", ``yes`` (our default) refuses unknown hosts.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sshd
from githelp import remote_head
from httpremote import ProcScan

from bot import errors
from bot.clients import gitauth, gitrepo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd.Sshd]:
    with sshd.running(tmp_path_factory.mktemp("sshd")) as s:
        yield s


def _clone(server: sshd.Sshd, remote: Path, work: Path, **kw: object) -> gitrepo.WorkingClone:
    key = gitauth.SshKey(server.client_key, **kw)  # type: ignore[arg-type]
    return gitrepo.WorkingClone(
        server.url(remote), "main", work, identity=("githeal-bot", "githeal@example.com"), credentials=key
    )


def _key_lines(server: sshd.Sshd) -> list[str]:
    return [line for line in server.client_key.splitlines() if line and not line.startswith("-----")]


def test_clone_fetch_push_over_ssh_with_a_key_file(server: sshd.Sshd, remote: Path, tmp_path: Path) -> None:
    wc = _clone(server, remote, tmp_path / "work", known_hosts=str(server.known_hosts))
    wc.sync()
    wc.fetch()
    wc.write_files({"apps/checkout/prod/note.yaml": b"a: 1\n"})
    wc.commit("heal over ssh\n\nHeal-Id: 00000000ss01")
    with ProcScan(os.getpid()) as scan:
        pushed = wc.push()
    assert pushed.status == "pushed" and remote_head(remote) == pushed.sha
    assert any(c.startswith("ssh ") for c in scan.commands), scan.commands
    secret = _key_lines(server)
    assert [t for t in scan.texts if any(line in t for line in secret)] == []
    key_file = Path(wc._auth.dir or "") / "id_githeal"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    ssh_command = wc._env["GIT_SSH_COMMAND"]
    assert f"-i {key_file}" in ssh_command and "IdentitiesOnly=yes" in ssh_command


def test_unknown_host_is_refused_by_default_and_the_error_holds_no_key(
    server: sshd.Sshd, remote: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    wc = _clone(server, remote, tmp_path / "work", known_hosts=str(empty))
    with pytest.raises(errors.GitError) as info:
        wc.sync()
    text = f"{info.value} {info.value.payload} {info.value.__cause__}"
    assert "Host key verification failed" in text
    assert not any(line in text for line in _key_lines(server))


def test_accept_new_learns_the_host_key_once(server: sshd.Sshd, remote: Path, tmp_path: Path) -> None:
    learned = tmp_path / "known_hosts"
    wc = _clone(server, remote, tmp_path / "work", known_hosts=str(learned), host_keys="accept-new")
    wc.sync()
    assert server.host_line.split(" ", 1)[1] in learned.read_text()
    # a changed host key is still refused (accept-new only trusts hosts it has never seen)
    sshd.keygen(tmp_path / "other_host")
    other = (tmp_path / "other_host.pub").read_text().split(" ")
    learned.write_text(f"[127.0.0.1]:{server.port} {other[0]} {other[1]}\n")
    changed = r"Host key verification failed|HOST IDENTIFICATION HAS CHANGED"
    with pytest.raises(errors.GitError, match=changed):
        wc.fetch()
