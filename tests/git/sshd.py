"""A real OpenSSH server on a loopback port for the tests (Debian ``openssh-server``: /usr/sbin/sshd).

Its own host key, its own ``authorized_keys`` (one client key made here), no PAM, no passwords: git
reaches a bare repo through it as ``ssh://USER@127.0.0.1:PORT/abs/path.git``, exactly as with a host.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    port: int
    user: str
    client_key: str  # private key text (what the bot's config holds)
    known_hosts: Path  # a known_hosts file that trusts this server's host key
    host_line: str

    def url(self, repo: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{repo}"


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path)], check=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(tmp: Path) -> Iterator[Sshd]:
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("sshd/ssh not installed (Debian: apt-get install openssh-server; make test does it)")
    tmp.mkdir(parents=True, exist_ok=True)
    tmp.chmod(0o700)
    if os.geteuid() == 0:
        # sshd's privilege separation directory, which Debian's ssh.service creates at start
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    keygen(tmp / "host_ed25519")
    keygen(tmp / "client_ed25519")
    (tmp / "authorized_keys").write_text((tmp / "client_ed25519.pub").read_text())
    (tmp / "authorized_keys").chmod(0o600)
    port = _free_port()
    config = tmp / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_ed25519'}\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nPidFile {tmp / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel ERROR\n"
    )
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read() if proc.stderr else ""
                    pytest.skip(f"sshd did not start: {err.strip()[:300]}")
                time.sleep(0.05)
        host_line = f"[127.0.0.1]:{port} {(tmp / 'host_ed25519.pub').read_text().split(' ')[0]} "
        host_line += (tmp / "host_ed25519.pub").read_text().split(" ")[1]
        known = tmp / "known_hosts"
        known.write_text(host_line + "\n")
        yield Sshd(port, getpass.getuser(), (tmp / "client_ed25519").read_text(), known, host_line)
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()
