"""HTTPS token auth against a real authenticated git remote (``git http-backend`` behind Basic auth).

Issue 8 §4: the token used to be embedded in the remote URL, so it sat in ``.git/config`` and in the
argv of ``git remote-http`` (world-readable through ``ps``). Now git gets it from a credential helper
fed by this process. Facts from git's docs this relies on, gitcredentials(7): "If the helper string
begins with '!', it is considered a shell snippet", and "If credential.helper is configured to the
empty string, this resets the helper list to empty" (so a user's ``store`` helper never saves it);
git-config(1) ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_<n>``/``GIT_CONFIG_VALUE_<n>`` set config from the
environment, not argv.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from githelp import git, remote_head
from httpremote import GitHttpRemote, ProcScan

from bot import errors
from bot.clients import gitauth, gitrepo

TOKEN = "ghs_TESTtoken0123456789abcdefSECRET"


@pytest.fixture
def http(remote: Path, tmp_path: Path) -> Iterator[GitHttpRemote]:
    with GitHttpRemote(remote.parent, "x-access-token", TOKEN).running() as server:
        yield server


def _clone(http: GitHttpRemote, tmp_path: Path, token: object, name: str = "work") -> gitrepo.WorkingClone:
    source = token if callable(token) else (lambda: str(token))
    return gitrepo.WorkingClone(
        f"{http.url}/remote.git",
        "main",
        tmp_path / name,
        identity=("githeal-bot", "githeal@example.com"),
        credentials=gitauth.Token(source),
        sleep=lambda _s: None,
    )


def _heal(wc: gitrepo.WorkingClone, text: str) -> None:
    wc.write_files({"apps/checkout/prod/note.yaml": text.encode()})
    wc.commit(f"heal: {text}\n\nHeal-Id: {text}")


def test_clone_fetch_push_with_the_token_and_no_copy_of_it_anywhere(
    http: GitHttpRemote, remote: Path, tmp_path: Path
) -> None:
    # a user's own `store` helper would write the token to disk; the empty helper entry resets it
    store = tmp_path / "git-credentials"
    with (tmp_path / "gitconfig-global").open("a") as fh:
        fh.write(f"[credential]\n\thelper = store --file={store}\n")
    wc = _clone(http, tmp_path, TOKEN)
    wc.sync()
    http.receive_delay = 0.3  # git-remote-http stays alive long enough to be sampled
    with ProcScan(os.getpid()) as scan:
        wc.fetch()
        _heal(wc, "0000000000a1")
        pushed = wc.push()
    assert pushed.status == "pushed" and remote_head(remote) == pushed.sha
    assert any("remote-http" in c for c in scan.commands), f"the scan saw no git-remote-http: {scan.commands}"
    leaks = [t for t in scan.texts if TOKEN in t]
    assert leaks == [], "token visible in argv or environ of a git child"
    assert TOKEN not in (wc.path / ".git" / "config").read_text()
    assert not store.exists(), "a configured credential helper received the token"
    assert any(line.startswith("POST /remote.git/git-receive-pack x-access-token 200") for line in http.seen)
    leftovers = [p for p in Path(wc._auth.dir or "/nonexistent").iterdir()]
    assert leftovers == [], "the credential FIFO lives only as long as one git command"


def test_token_is_asked_on_every_operation_so_a_refreshed_token_works(
    http: GitHttpRemote, remote: Path, tmp_path: Path
) -> None:
    current = {"token": TOKEN}
    calls: list[str] = []

    def token() -> str:
        calls.append(current["token"])
        return current["token"]

    wc = _clone(http, tmp_path, token)
    wc.sync()
    # the GitHub App installation token expired: the host now accepts only the new one
    http.tokens = {"ghs_REFRESHEDtoken9876543210zyx"}
    current["token"] = "ghs_REFRESHEDtoken9876543210zyx"
    _heal(wc, "0000000000b2")
    assert wc.push().status == "pushed"
    assert calls == [TOKEN, "ghs_REFRESHEDtoken9876543210zyx"]  # clone, then push
    wc.sync()
    assert len(calls) == 3


def test_wrong_token_is_a_clear_git_error_without_the_secret(http: GitHttpRemote, tmp_path: Path) -> None:
    wrong = "ghs_WRONGtoken_never_to_be_printed_42"
    wc = _clone(http, tmp_path, wrong)
    with pytest.raises(errors.GitError) as info:
        wc.sync()
    text = f"{info.value} {info.value.payload} {info.value.url} {info.value.__cause__}"
    assert "Authentication failed" in text
    assert wrong not in text and TOKEN not in text
    assert not wc.path.exists()


def test_token_in_the_url_is_moved_out_of_it(http: GitHttpRemote, remote: Path, tmp_path: Path) -> None:
    url = http.url.replace("http://", f"http://x-access-token:{TOKEN}@") + "/remote.git"
    wc = gitrepo.WorkingClone(url, "main", tmp_path / "w", identity=("b", "b@example.com"))
    wc.sync()
    assert TOKEN not in (wc.path / ".git" / "config").read_text()
    assert TOKEN not in wc.remote_url
    _heal(wc, "0000000000c3")
    assert wc.push().status == "pushed"


def test_concurrent_clones_each_get_their_token(remote: Path, tmp_path: Path) -> None:
    """Two clones in two threads (two repos in one process): each FIFO serves its own token."""
    with GitHttpRemote(remote.parent, "x-access-token", TOKEN).running() as server:
        server.tokens.add("ghs_SECONDtoken_abcdefghijkl")
        a = _clone(server, tmp_path, TOKEN, "a")
        b = _clone(server, tmp_path, "ghs_SECONDtoken_abcdefghijkl", "b")
        failures: list[BaseException] = []

        def run(wc: gitrepo.WorkingClone) -> None:
            try:
                for _ in range(3):
                    wc.sync()
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=run, args=(wc,)) for wc in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert failures == []
        status = subprocess.run(["git", "-C", str(a.path), "status"], capture_output=True, check=False)
        assert status.returncode == 0


def test_a_token_with_a_line_break_is_refused_before_git_sees_it(http: GitHttpRemote, tmp_path: Path) -> None:
    wc = _clone(http, tmp_path, TOKEN + "\nusername=evil")
    with pytest.raises(errors.GitError, match="line break") as info:
        wc.sync()
    assert TOKEN not in str(info.value)


def test_a_revoked_token_fails_the_push_cleanly(http: GitHttpRemote, remote: Path, tmp_path: Path) -> None:
    wc = _clone(http, tmp_path, TOKEN)
    wc.sync()
    before = remote_head(remote)
    http.tokens = set()  # revoked on the host
    _heal(wc, "0000000000d4")
    with pytest.raises(errors.GitError) as info:
        wc.push()
    text = f"{info.value} {info.value.payload} {info.value.url} {info.value.__cause__}"
    assert "Authentication failed" in text and TOKEN not in text
    assert remote_head(remote) == before
    assert git(wc.path, "status", "--porcelain") == "" and wc.head() == before  # the clone is reset
