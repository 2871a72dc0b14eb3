"""Two githeal replicas race over many incidents (issue 9 §3): real processes, each with its own clone
of the same bare remote, the same emulators and Prometheus, and two overlapping policies that both
answer catalog's live drift. Every incident must be healed exactly once: one heal commit per Heal-Id
on main, at most one PR per incident (PR mode), none lost; with `githeal run` services and with
`githeal once` loops (a cron on two hosts).

GITHEAL_RACE_INCIDENTS sets the number of incidents per case (default 4 to keep CI short; the issue asks 20).
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import healkit
import pytest
from ruamel.yaml import YAML

from bot.sandbox import world as sandbox

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]

INCIDENTS = int(os.environ.get("GITHEAL_RACE_INCIDENTS", "4"))
GITHEAL = str(Path(sys.executable).parent / "githeal")


def config(w: sandbox.World, home: Path, merge: str) -> Path:
    cfg = w.config()
    adopt = {"reconcile": {"mode": "adopt"}}
    mode = {"mode": "auto", "merge": merge, "cooldown": "1s"}
    cfg["policies"] = [  # both answer one incident: the same Heal-Id, whichever policy wins
        {
            "name": "adopt-drift",
            "apps": ["catalog"],
            "when": {"out_of_sync": {"for": "0s"}},
            "do": adopt,
            **mode,
        },
        {
            "name": "adopt-any",
            "apps": ["catalog", "cart"],
            "when": {"out_of_sync": {"for": "0s"}},
            "do": adopt,
            **mode,
        },
    ]
    cfg["repos"]["manifests"]["workdir"] = str(home / "work")
    cfg["schedule"] = {"interval": "1s"}
    cfg["verify"] = {"timeout": "60s", "period": "1s"}
    cfg["guardrails"]["commit_budget"] = {"count": 500, "per": "10m"}
    cfg["log"] = {"format": "json", "level": "info"}
    home.mkdir(parents=True, exist_ok=True)
    path = home / "githeal.yaml"
    with path.open("w") as fh:
        YAML().dump(cfg, fh)
    return path


@contextmanager
def services(paths: list[Path]) -> Iterator[None]:
    """`githeal run` per replica, stopped with SIGTERM."""
    procs = []
    for path in paths:
        with (path.parent / "githeal.log").open("w") as sink:
            procs.append(
                subprocess.Popen(
                    [GITHEAL, "run", "--config", str(path)], stdout=subprocess.DEVNULL, stderr=sink
                )
            )
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@contextmanager
def once_loops(paths: list[Path]) -> Iterator[None]:
    """`githeal once` in a loop per replica, as a cron on two hosts would run it."""
    stop = threading.Event()

    def loop(path: Path) -> None:
        with (path.parent / "githeal.log").open("w") as sink:
            while not stop.is_set():
                cmd = [GITHEAL, "once", "--config", str(path), "--output", "json"]
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=sink, timeout=120, check=False)

    threads = [threading.Thread(target=loop, args=(p,), daemon=True) for p in paths]
    for t in threads:
        t.start()
    try:
        yield
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=130)


def heal_ids(w: sandbox.World) -> list[str]:
    """The Heal-Id of every heal commit on main, one entry per commit."""
    out = healkit.bare_git(w, "log", "main", "--format=%(trailers:key=Heal-Id,valueonly,separator=%x2C)%x00")
    return [v.strip() for v in out.split("\0") if v.strip()]


def heal_commits(w: sandbox.World) -> list[str]:
    out = healkit.bare_git(w, "log", "main", "--format=%H %(trailers:key=Heal-Id,valueonly,separator=)")
    return [line.split()[0] for line in out.splitlines() if len(line.split()) > 1]


def verified(w: sandbox.World) -> bool:
    """Every heal has its verdict: its verification (which syncs a manual app) is over."""
    statuses = w.github_state()["statuses"]
    for sha in heal_commits(w):
        states = [s["state"] for s in statuses.get(sha, []) if s["context"] == "githeal/verify"]
        if not states or states[-1] == "pending":
            return False
    return True


def synced(w: sandbox.World) -> bool:
    a = w.argo_app("catalog")
    return a["sync"] == "Synced" and bool(a["revision"]) and w.contains(str(a["revision"]), w.head())


def story(paths: list[Path]) -> str:
    """The replicas' last heal and plan events, for a failure message."""
    out = []
    for path in paths:
        lines = (path.parent / "githeal.log").read_text().splitlines()
        keep = [x[:300] for x in lines if '"event": "heal.' in x or '"event": "plan.' in x or "error" in x]
        out.append(f"== {path.parent.name}\n" + "\n".join(keep[-12:]))
    return "\n".join(out)


def incidents(w: sandbox.World, n: int, paths: list[Path]) -> list[float]:
    """Drift catalog ``n`` times, each once the previous heal landed and synced; seconds per heal."""
    took = []
    for i in range(n):
        assert w.wait(lambda: synced(w), timeout=30), w.argo_app("catalog")
        # the last heal's verification syncs the (manual) app: the next drift comes after it
        assert w.wait(lambda: verified(w), timeout=30), f"not verified\n{story(paths)}"
        time.sleep(2)  # the other replica's verification of the same heal, too
        before = len(set(heal_ids(w)))
        started = time.monotonic()
        w.drift("catalog", {"workload": "catalog", "replicas": 4 + i % 2})
        assert w.wait(lambda n=before: len(set(heal_ids(w))) > n, timeout=45, step=0.2), (
            f"incident {i} not healed\n{story(paths)}\n{w.argo_app('catalog')}"
        )
        took.append(time.monotonic() - started)
    assert w.wait(lambda: synced(w), timeout=30)
    time.sleep(3)  # a late duplicate, if any, has time to land
    return took


def events(paths: list[Path]) -> list[collections.Counter[str]]:
    import json

    out = []
    for path in paths:
        names: collections.Counter[str] = collections.Counter()
        for line in (path.parent / "githeal.log").read_text().splitlines():
            if line.startswith("{"):
                names[json.loads(line)["event"]] += 1
        out.append(names)
    return out


RUNNERS: dict[str, Callable[[list[Path]], Any]] = {"run": services, "once": once_loops}


@dataclass
class Race:
    """What one case left behind, read before its World stopped."""

    ids: list[str]
    seen: list[collections.Counter[str]]
    pulls: list[dict[str, Any]]
    took: list[float]


def race(tmp_path: Path, runner: str, merge: str) -> Race:
    (tmp_path / "world").mkdir()
    # catalog without automated sync, as in the demo: Argo CD auto-syncs a revision it has not synced
    # yet, so on an automated app the next drift after an adopt commit is erased by Argo CD itself
    options = sandbox.Options(manual_sync=frozenset({"catalog"}))
    with sandbox.World(options, workdir=tmp_path / "world") as w:  # kept with the logs for a post-mortem
        paths = [config(w, tmp_path / name, merge) for name in ("a", "b")]
        with RUNNERS[runner](paths):
            took = incidents(w, INCIDENTS, paths)
        return Race(heal_ids(w), events(paths), healkit.pulls(w), took)


TEST = "test_two_replicas_heal_each_incident_exactly_once"


@pytest.fixture(scope="module")
def races(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Race]]]:
    """Every selected case, started at once, each in its own thread with its own World (Prometheus and
    emulators on free ports, its own temp dir) and its own two githeal replicas. A case spends nearly
    all its time waiting on real time (syncs, verifications, cycles), so the cases run side by side
    instead of one after the other; each test then judges its own case."""
    healkit.require_prometheus()
    wanted = [
        item.callspec.params
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.originalname == TEST and item.module is request.module
    ]
    pool = ThreadPoolExecutor(max_workers=max(1, len(wanted)), thread_name_prefix="race")
    futures = {
        f"{p['merge']}-{p['runner']}": pool.submit(
            race, tmp_path_factory.mktemp(f"race-{p['merge']}-{p['runner']}"), p["runner"], p["merge"]
        )
        for p in wanted
    }
    try:
        yield futures
    finally:
        pool.shutdown(wait=True)


@pytest.mark.parametrize("runner", ["run", "once"])
@pytest.mark.parametrize("merge", ["direct", "pr-automerge"])
def test_two_replicas_heal_each_incident_exactly_once(
    races: dict[str, Future[Race]], runner: str, merge: str
) -> None:
    got = races[f"{merge}-{runner}"].result(timeout=280)
    ids, seen = got.ids, got.seen
    dupes = {h: c for h, c in collections.Counter(ids).items() if c > 1}
    figures = f"{runner}/{merge}: {len(ids)} heal commits, {len(set(ids))} incidents, per replica {seen}"
    assert dupes == {}, figures
    assert len(set(ids)) == INCIDENTS, figures
    if merge == "direct":  # each heal claimed by exactly one replica (the other's push was rejected)
        assert sum(names["heal.committed"] for names in seen) == INCIDENTS, figures
    else:
        heads = collections.Counter(p["head"] for p in got.pulls)
        assert len(heads) == INCIDENTS and max(heads.values()) == 1, heads
        assert all(p["merged"] for p in got.pulls)
    for names in seen:
        assert names["cycle.done"] > 0 and "Traceback" not in str(names)
    print(f"{figures}; seconds per heal: max {max(got.took):.1f}")
