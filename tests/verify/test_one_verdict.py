"""One verdict per heal across replicas (issue 9 section 3), on the GitHub emulator over HTTP.

Two verifier replicas, each with its own GitHub client, judge the same heal commits and reach opposite
verdicts. The first terminal ``githeal/verify`` status GitHub created owns the verdict (status ids
grow in creation order); the other replica adopts it, writes no comment or issue, and, when it had
already written its own opposite status, puts the owner's back on top so the commit shows one verdict.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.clients import github as ghclient
from bot.record import metrics, verdicts
from bot.sandbox.github import server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "github"))
from ghkit import BOT, REPO, TOKEN, Workspace, make_github

CONTEXT = verdicts.CONTEXT


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[Workspace, server.GitHubEmulator]]:
    ws = Workspace(tmp_path)
    with server.GitHubEmulator({REPO: ws.bare}, tokens={TOKEN: BOT}) as emu:
        yield ws, emu


def replica(emu: server.GitHubEmulator) -> verdicts.Recorder:
    return verdicts.Recorder(ghclient.GitHubClient(make_github(emu.api_url)), metrics.Metrics(), ("githeal",))


def history(emu: server.GitHubEmulator, sha: str) -> list[str]:
    return [s["state"] for s in emu.state(REPO)["statuses"].get(sha, []) if s["context"] == CONTEXT]


def test_the_second_replica_reads_the_first_verdict(
    emulator: tuple[Workspace, server.GitHubEmulator],
) -> None:
    ws, emu = emulator
    sha = ws.sha("main")
    a, b = replica(emu), replica(emu)
    a.pending(REPO, sha, "waiting")
    b.pending(REPO, sha, "waiting")
    first = a.claim(REPO, sha, "failure", "SLO still burning")
    second = b.claim(REPO, sha, "success", "SLO within its page threshold")
    assert first.owned and first.state == "failure"
    assert not second.owned and (second.state, second.description) == ("failure", "SLO still burning")
    assert history(emu, sha) == ["pending", "pending", "failure"]
    assert b.recorded(REPO, sha) == verdicts.Verdict("failure", "SLO still burning", owned=False)


def test_a_lost_race_puts_the_owners_verdict_back_on_top(
    emulator: tuple[Workspace, server.GitHubEmulator],
) -> None:
    """Both replicas read "no verdict" and wrote: the later writer must restore the earlier verdict."""
    ws, emu = emulator
    sha = ws.sha("main")
    a, b = replica(emu), replica(emu)
    assert a.github is not None
    # replica A's write lands between B's read and B's write (the race a read-then-write leaves open)
    a.github.set_status(REPO, sha, "failure", CONTEXT, description="SLO still burning")
    b.github = _WriteFirst(b.github, already_read=True)
    v = b.claim(REPO, sha, "success", "SLO within its page threshold")
    assert not v.owned and v.state == "failure"
    assert history(emu, sha) == ["failure", "success", "failure"]
    assert a.github.combined_status(REPO, sha).of(CONTEXT) == "failure"


class _WriteFirst(ghclient.GitHubClient):
    """A real client whose first verdict read happened before another replica wrote (a stale read)."""

    def __init__(self, inner: ghclient.GitHubClient, *, already_read: bool) -> None:
        self.__dict__.update(inner.__dict__)
        self._stale = already_read

    def statuses(self, repo: str, sha: str, context: str) -> list[ghclient.StatusRef]:
        if self._stale:
            self._stale = False
            return []  # what this replica saw before the other one wrote
        return super().statuses(repo, sha, context)


def test_two_replicas_racing_on_twenty_heals_leave_one_verdict_each(
    emulator: tuple[Workspace, server.GitHubEmulator],
) -> None:
    ws, emu = emulator
    shas = [ws.push_branch(f"heal/{i}", {"f.txt": f"{i}\n"}) for i in range(20)]
    a, b = replica(emu), replica(emu)
    owned: dict[str, list[str]] = {sha: [] for sha in shas}
    lock = threading.Lock()

    def judge(name: str, rec: verdicts.Recorder, state: str, gate: threading.Barrier) -> None:
        for sha in shas:
            gate.wait()
            v = rec.claim(REPO, sha, state, f"{name} says {state}")
            if v.owned:
                with lock:
                    owned[sha].append(name)

    gate = threading.Barrier(2)
    threads = [
        threading.Thread(target=judge, args=("a", a, "failure", gate)),
        threading.Thread(target=judge, args=("b", b, "success", gate)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    state = emu.state(REPO)["statuses"]
    for sha in shas:
        assert len(owned[sha]) == 1, (sha, owned[sha])
        mine = [s for s in state[sha] if s["context"] == CONTEXT]
        first = next(s for s in mine if s["state"] in verdicts.TERMINAL)
        assert mine[-1]["state"] == first["state"] and mine[-1]["description"] == first["description"]
        assert first["description"].startswith(owned[sha][0])
