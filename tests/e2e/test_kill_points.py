"""Crash safety of one heal (issue 9 §2): `githeal run` as a real process is SIGKILLed (its whole process
group, as when a pod dies) at one step of a heal, then restarted. Afterwards: exactly one heal commit
for the incident, at most one PR, no stray `githeal/` branch without a PR, the heal verified, the
working clone usable.

Kill points come from the real systems, not from the bot: git hooks in the bot's clone (post-commit:
after the local commit; pre-push: during the push), the remote's post-receive hook (after the push
landed), and the GitHub emulator's state (after the PR was created, after it merged, during
verification). The incident is a live drift of catalog, healed by an adopt commit or PR.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import healkit
import httpx
import pytest
from ruamel.yaml import YAML

from bot.sandbox import world as sandbox

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]

GITHEAL = str(Path(sys.executable).parent / "githeal")


def config(w: sandbox.World, home: Path, merge: str) -> Path:
    cfg = w.config()
    cfg["policies"] = [
        {
            "name": "adopt-drift",
            "apps": ["catalog"],
            "when": {"out_of_sync": {"for": "0s"}},
            "do": {"reconcile": {"mode": "adopt"}},
            "mode": "auto",
            "merge": merge,
            "cooldown": "1s",
        }
    ]
    cfg["repos"]["manifests"]["workdir"] = str(home / "work")
    # a PR branch without its PR (pr-after-branch-push) is another replica's for this long, then a
    # leftover to replace; the default minute would only make the test wait
    cfg["repos"]["manifests"]["stray_branch_after"] = "5s"
    cfg["schedule"] = {"interval": "1s"}
    cfg["verify"] = {"timeout": "60s", "period": "3s"}
    cfg["log"] = {"format": "json", "level": "info"}
    home.mkdir(parents=True, exist_ok=True)
    path = home / "githeal.yaml"
    with path.open("w") as fh:
        YAML().dump(cfg, fh)
    return path


def start(path: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("a") as sink:
        return subprocess.Popen(
            [GITHEAL, "run", "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            start_new_session=True,  # its own process group: the kill takes git children too
        )


def kill_hook(pidfile: Path) -> str:
    # fires once: removes itself, then kills the whole service (git included) like a dying pod
    return f'#!/bin/sh\nrm -f -- "$0"\nkill -9 -"$(cat {pidfile})"\nsleep 5\nexit 1\n'


def install(hook: Path, pidfile: Path) -> None:
    hook.write_text(kill_hook(pidfile))
    hook.chmod(0o755)


def heal_commits(w: sandbox.World) -> list[tuple[str, str]]:
    out = healkit.bare_git(w, "log", "main", "--format=%H %(trailers:key=Heal-Id,valueonly,separator=)")
    return [(line.split()[0], line.split()[1]) for line in out.splitlines() if len(line.split()) > 1]


def verdict(w: sandbox.World, sha: str) -> str:
    states = [
        s["state"] for s in w.github_state()["statuses"].get(sha, []) if s["context"] == "githeal/verify"
    ]
    return states[-1] if states else ""


POINTS = {  # kill point -> merge mode
    "after-local-commit": "direct",
    "during-push": "direct",
    "after-push": "direct",
    "pr-after-branch-push": "pr-automerge",
    "after-pr-created": "pr",
    "after-merge": "pr-automerge",
    "during-verification": "direct",
    "inside-git-commit": "direct",  # pre-commit hook: git holds .git/index.lock when it dies
}


def heal_after_kill(tmp_path: Path, point: str) -> None:
    """Kill the service at ``point``, restart it, and check what the heal left behind."""
    (tmp_path / "world").mkdir()
    options = sandbox.Options(manual_sync=frozenset({"catalog"}))
    with sandbox.World(options, workdir=tmp_path / "world") as w:
        path = config(w, tmp_path / "bot", POINTS[point])
        log, pidfile = tmp_path / "githeal.log", tmp_path / "githeal.pid"
        proc = start(path, log)
        pidfile.write_text(str(proc.pid))
        try:
            clones = tmp_path / "bot" / "work"
            assert w.wait(lambda: any(clones.glob("*/.git/HEAD")), timeout=30), log.read_text()[-2000:]
            clone = next(clones.glob("*/.git")).parent
            if point == "after-local-commit":
                install(clone / ".git/hooks/post-commit", pidfile)
            elif point == "inside-git-commit":
                install(clone / ".git/hooks/pre-commit", pidfile)
            elif point == "during-push":
                install(clone / ".git/hooks/pre-push", pidfile)
            elif point in ("after-push", "pr-after-branch-push"):
                install(w.bare / "hooks/post-receive", pidfile)
            w.drift("catalog", {"workload": "catalog", "replicas": 5})
            if point == "after-pr-created":
                assert w.wait(lambda: bool(healkit.pulls(w)), timeout=40)
            elif point == "after-merge":
                assert w.wait(lambda: any(p["merged"] for p in healkit.pulls(w)), timeout=40)
            elif point == "during-verification":
                assert w.wait(lambda: any(verdict(w, c) == "pending" for c, _ in heal_commits(w)), timeout=40)
            if point in ("after-pr-created", "after-merge", "during-verification"):
                os.killpg(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=40) == -signal.SIGKILL, log.read_text()[-2000:]
            for hook in (
                clone / ".git/hooks/pre-commit",
                clone / ".git/hooks/post-commit",
                clone / ".git/hooks/pre-push",
                w.bare / "hooks/post-receive",
            ):
                hook.unlink(missing_ok=True)
            if point == "after-pr-created":  # a human merges the proposal while the bot is down
                number = healkit.pulls(w)[0]["number"]
                r = httpx.put(
                    f"{w.github.api_url}/repos/{sandbox.GITHUB_REPO}/pulls/{number}/merge",
                    headers={"Authorization": f"token {sandbox.GITHUB_TOKEN}"},
                    json={"merge_method": "merge"},
                )
                assert r.status_code == 200, r.text

            proc = start(path, log)
            pidfile.write_text(str(proc.pid))

            def done() -> bool:
                heals = heal_commits(w)
                return bool(heals) and all(verdict(w, c) in ("success", "failure", "error") for c, _ in heals)

            # a branch left without its PR is replaced as a stray only after stray_branch_after
            # (another replica may be about to open the PR)
            assert w.wait(done, timeout=120, step=0.5), log.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
        heals = heal_commits(w)
        assert len(heals) == 1 and len({h for _, h in heals}) == 1, heals
        assert verdict(w, heals[0][0]) == "success"
        pulls = healkit.pulls(w)
        assert len(pulls) <= 1, pulls
        with_pr = {p["head"] for p in pulls}
        branches = [
            b.split("refs/heads/", 1)[1]
            for b in healkit.bare_git(w, "for-each-ref", "--format=%(refname)", "refs/heads/githeal").split()
        ]
        assert [b for b in branches if b not in with_pr] == [], "stray heal branches"
        fsck = subprocess.run(
            ["git", "-C", str(clone), "fsck", "--no-progress"], capture_output=True, check=False
        )
        assert fsck.returncode == 0, fsck.stderr
        assert "Traceback" not in log.read_text()
        if point == "pr-after-branch-push":  # the branch without its PR was replaced, not left or reused
            assert '"heal.stray_branch"' in log.read_text()


TEST = "test_a_heal_survives_sigkill"
SIDE_BY_SIDE = 4  # cases at once: each mostly waits on real time (cycles, syncs, verification)


@pytest.fixture(scope="module")
def kills(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[None]]]:
    """Every selected kill point, run in a pool of threads: each case has its own World (Prometheus and
    emulators on free ports, its own temp dir), its own githeal process group and hooks, so the cases
    share nothing but the machine. Each test then waits for its own case and re-raises its failure."""
    healkit.require_prometheus()
    wanted = [
        str(item.callspec.params["point"])
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.originalname == TEST and item.module is request.module
    ]
    pool = ThreadPoolExecutor(max_workers=max(1, min(SIDE_BY_SIDE, len(wanted))), thread_name_prefix="kill")
    futures = {p: pool.submit(heal_after_kill, tmp_path_factory.mktemp(f"kill-{p}"), p) for p in wanted}
    try:
        yield futures
    finally:
        pool.shutdown(wait=True)


@pytest.mark.parametrize("point", list(POINTS))
def test_a_heal_survives_sigkill(kills: dict[str, Future[None]], point: str) -> None:
    kills[point].result(timeout=280)
