"""Git credentials that leave no copy behind: HTTPS tokens through a credential helper fed by a FIFO,
SSH keys as a 0600 file named by ``GIT_SSH_COMMAND``, and the redaction of both from error text.

A token is never in argv, ``.git/config``, a file, or the environment of a git child: git's credential
helper (set through ``GIT_CONFIG_*`` variables) ``cat``s a FIFO in a private 0700 directory, written by a
thread of this process that asks the token callable afresh for each network command (GitHub App
installation tokens live 1 h). This module must not run git itself or decide which remote to use.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from bot import errors

_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
_MIN_SECRET = 6  # shorter "secrets" would redact ordinary words


@dataclass(frozen=True)
class Token:
    """HTTPS: ``token()`` is asked on every fetch/push/clone, so a refreshed token is used at once."""

    token: Callable[[], str]
    username: str = "x-access-token"


@dataclass(frozen=True)
class SshKey:
    """SSH: the private key's text; host keys from ``known_hosts`` (default: ssh's own files)."""

    private_key: str
    known_hosts: str | None = None
    host_keys: Literal["strict", "accept-new"] = "strict"


Credentials = Token | SshKey


def mask(text: str) -> str:
    """Hide ``user:token@`` (any userinfo) in every URL inside ``text``."""
    return _USERINFO.sub(r"\1***@", text)


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """``https://user:pw@host/x`` -> (``https://host/x``, user, pw); other URLs are returned unchanged."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return url, None, None
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host)), parts.username, parts.password


class _Pipe:
    """A FIFO answering every reader with ``payload`` until closed (one git command's lifetime)."""

    def __init__(self, path: Path, payload: bytes) -> None:
        self.path = path
        os.mkfifo(path, 0o600)
        self._payload = payload
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="git-credential", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            fd = os.open(self.path, os.O_WRONLY)  # blocks until a reader (the helper's cat) opens it
            try:
                if self._closing.is_set():
                    return
                with contextlib.suppress(OSError):
                    os.write(fd, self._payload)
            finally:
                os.close(fd)

    def close(self) -> None:
        self._closing.set()
        while self._thread.is_alive():  # a reader of our own unblocks the writer's open()
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            self._thread.join(0.05)
            os.close(fd)
        self.path.unlink(missing_ok=True)


class Session:
    """The private directory, environment and known secrets of one working clone's credentials."""

    def __init__(self, credentials: Credentials | None) -> None:
        self.credentials = credentials
        self.env: dict[str, str] = {}
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self.dir: Path | None = None
        if credentials is not None:
            self.dir = Path(tempfile.mkdtemp(prefix="githeal-git-"))  # mkdtemp: mode 0700
            weakref.finalize(self, shutil.rmtree, self.dir, True)
        if isinstance(credentials, SshKey):
            self.env["GIT_SSH_COMMAND"] = self._ssh(credentials)

    def _ssh(self, key: SshKey) -> str:
        text = key.private_key.strip() + "\n"
        self._secrets.add(text.strip())
        self._secrets.update(line for line in text.splitlines() if not line.startswith("-----"))
        assert self.dir is not None
        path = self.dir / "id_githeal"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        opts = [f"-i {shlex.quote(str(path))}", "-o IdentitiesOnly=yes", "-o IdentityAgent=none"]
        opts += [
            "-o BatchMode=yes",
            f"-o StrictHostKeyChecking={'accept-new' if key.host_keys == 'accept-new' else 'yes'}",
        ]
        if key.known_hosts:
            opts.append(f"-o UserKnownHostsFile={shlex.quote(key.known_hosts)}")
        return "ssh " + " ".join(opts)

    @contextlib.contextmanager
    def network(self) -> Iterator[dict[str, str]]:
        """The environment for one git command that talks to the remote."""
        if not isinstance(self.credentials, Token) or self.dir is None:
            yield dict(self.env)
            return
        token = self.credentials.token()
        self._secrets.add(token)
        if any(c in token for c in "\n\r\0") or "\n" in self.credentials.username:
            # gitcredentials(7): the helper speaks "key=value" lines; a newline would forge attributes
            raise errors.GitError("the git token or user name contains a line break")
        payload = f"username={self.credentials.username}\npassword={token}\n".encode()
        with self._lock:  # one FIFO at a time: the clone runs one git command at a time anyway
            pipe = _Pipe(self.dir / "credential", payload)
            helper = f'!f() {{ test "$1" = get && cat {shlex.quote(str(pipe.path))}; }}; f'
            # gitcredentials(7): an empty credential.helper resets the list, so no configured helper
            # (e.g. ``store``, which writes ~/.git-credentials in plain text) ever sees our token.
            env = {
                **self.env,
                "GIT_CONFIG_COUNT": "2",
                "GIT_CONFIG_KEY_0": "credential.helper",
                "GIT_CONFIG_VALUE_0": "",
                "GIT_CONFIG_KEY_1": "credential.helper",
                "GIT_CONFIG_VALUE_1": helper,
            }
            try:
                yield env
            finally:
                pipe.close()

    def redact(self, text: str) -> str:
        """``text`` without URL userinfo or any secret this session has handled."""
        text = mask(text)
        for secret in sorted(self._secrets, key=len, reverse=True):
            if len(secret) >= _MIN_SECRET:
                text = text.replace(secret, "***")
        return text
