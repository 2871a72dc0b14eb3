"""Benchmark P1/P2 (issue 10): one cycle over a discovered fleet against the raw cost of its HTTP requests.

For each size N: a Fleet of N Argo CD Applications picked up by ONE ``apps`` entry with ``discover``,
N apps of backfilled history, one SLO with two burn-rate tiers. It measures, side by side:
- engine: ``Engine.run_once(dry_run=True)`` in process (median of the timed cycles);
- raw: the very requests that cycle sent (recorded at the wire), replayed by a minimal httpx script
  (Prometheus queries four at a time, as the engine does), reading the bodies and decoding the JSON,
  plus the one ``git fetch`` a cycle needs to see new commits; over one client kept open between
  runs (the engine keeps its own), with this process's other objects frozen out of the collector;
- process: ``githeal once --dry-run --at END`` as a whole process vs the raw script as a process
  (interleaved, medians; githeal's modules byte-compiled as an install leaves them), with the
  child's peak RSS (``wait4``).
Ratios are printed, never asserted. ``--quick`` runs tiny sizes only (CI smoke).
"""

from __future__ import annotations

import compileall
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

from bench import fleet
from bot.service import cycle

SIZES = (100, 1_000, 10_000)

RAW_SCRIPT = """
import json, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
import httpx
plan = json.load(open(sys.argv[1]))
def send(client, r):
    resp = client.request(r["method"], r["url"], content=r["body"].encode() if r["body"] else None,
                          headers=r["headers"])
    return json.loads(resp.content)
first = [r for r in plan if "/api/v1/query" not in r["url"]]
prom = [r for r in plan if "/api/v1/query" in r["url"]]
fetch = ["git", "-C", sys.argv[2], "fetch", "-q", "origin"]
with httpx.Client(timeout=60) as c:
    if len(sys.argv) > 3:  # overlap: git, the Argo CD requests and the Prometheus queries all at once
        with ThreadPoolExecutor(6) as pool:
            done = [pool.submit(subprocess.run, fetch, check=True)]
            done.append(pool.submit(lambda: [send(c, r) for r in first]))
            done += [pool.submit(send, c, r) for r in prom]
            [f.result() for f in done]
    else:
        subprocess.run(fetch, check=True)
        for r in first:
            send(c, r)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda r: send(c, r), prom))
"""


@dataclass(frozen=True)
class Row:
    apps: int
    engine: float
    raw: float
    process: float
    raw_process: float
    rss_mib: float
    raw_rss_mib: float
    requests: int
    # the same requests overlapped as the engine overlaps them (git, Argo CD and Prometheus at once):
    # the floor of the I/O itself, a stricter reference than the script above
    raw_overlap: float = float("nan")
    raw_overlap_process: float = float("nan")

    @property
    def ratio(self) -> float:
        return self.engine / self.raw

    @property
    def process_ratio(self) -> float:
        return self.process / self.raw_process

    @property
    def ratio_overlap(self) -> float:
        return self.engine / self.raw_overlap

    @property
    def process_ratio_overlap(self) -> float:
        return self.process / self.raw_overlap_process


def _record(engine: cycle.Engine) -> list[dict[str, Any]]:
    """Run one cycle with request hooks on the engine's clients; the requests, as replayable dicts."""
    seen: list[dict[str, Any]] = []

    def hook(request: httpx.Request) -> None:
        body = request.read().decode() if request.method != "GET" else ""
        keep = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        seen.append({"method": request.method, "url": str(request.url), "body": body, "headers": keep})

    clients = [engine.rt.argocd.http, engine.rt.prometheus.http]
    for c in clients:
        c.event_hooks["request"].append(hook)
    try:
        engine.run_once(dry_run=True)
    finally:
        for c in clients:
            c.event_hooks["request"].remove(hook)
    return seen


def _replay(plan: Sequence[dict[str, Any]], clone: Path, c: httpx.Client, *, overlap: bool = False) -> float:
    """The recorded requests again, over a client kept open between runs as the engine keeps its own.
    The objects this benchmark process already holds (the emulator's, the engine's) are frozen out of
    the garbage collector meanwhile: a raw script's collections scan only the little it holds itself."""
    gc.collect()
    gc.freeze()
    try:
        started = time.perf_counter()
        fetch = ["git", "-C", str(clone), "fetch", "-q", "origin"]
        first = [r for r in plan if "/api/v1/query" not in r["url"]]
        prom = [r for r in plan if "/api/v1/query" in r["url"]]

        def send(r: dict[str, Any]) -> Any:
            body = r["body"].encode() if r["body"] else None
            return json.loads(c.request(r["method"], r["url"], content=body, headers=r["headers"]).content)

        if overlap:
            with ThreadPoolExecutor(6) as pool:
                done = [pool.submit(subprocess.run, fetch, check=True)]
                done.append(pool.submit(lambda: [send(r) for r in first]))
                done += [pool.submit(send, r) for r in prom]
                for f in done:
                    f.result()
        else:
            subprocess.run(fetch, check=True)
            for r in first:
                send(r)
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(send, prom))
        return time.perf_counter() - started
    finally:
        gc.unfreeze()


# A small parent for each measured child: Linux carries a parent's RSS high-water mark into a forked
# child's ru_maxrss, so forking straight from this (large) benchmark process would inflate every figure.
_MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


def _child(cmd: Sequence[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-S", "-c", _MEASURE, *cmd], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    maxrss, code = proc.stdout.split()[-2:] if proc.stdout.strip() else ("0", "1")
    if proc.returncode or code != "0":
        raise RuntimeError(f"{cmd[:3]} exited {code}: {proc.stderr[-400:]}")
    return seconds, int(maxrss) / 1024


def _installed() -> None:
    """Bytecode for githeal's modules, as ``pip install`` leaves it: an editable checkout run with
    PYTHONDONTWRITEBYTECODE would otherwise compile ~150 modules in every measured process, a cost
    the raw script (its imports come compiled from site-packages) never pays."""
    compileall.compile_dir(str(Path(cycle.__file__).resolve().parents[1]), quiet=1)


def measure(n: int, *, repeats: int = 5) -> Row:
    with fleet.Fleet(n, long_history=False, discover=True) as f:
        rt = f.runtime()
        engine = cycle.Engine(rt)
        try:
            engine.run_once(dry_run=True)  # warm-up: the first cycle clones the repo
            plan = _record(engine)
            clone = next(iter(rt.clones.values())).path
            engines, raws, overlaps = [], [], []
            with httpx.Client(timeout=60) as raw_client:
                _replay(plan, clone, raw_client, overlap=True)  # untimed: opens the raw client's connections
                for _ in range(repeats):
                    started = time.perf_counter()
                    rep = engine.run_once(dry_run=True)
                    engines.append(time.perf_counter() - started)
                    raws.append(_replay(plan, clone, raw_client))
                    overlaps.append(_replay(plan, clone, raw_client, overlap=True))
            if rep.errors or len(rep.snapshot.apps) != n:
                raise RuntimeError(f"{len(rep.snapshot.apps)} apps, errors: {rep.errors[:3]}")
        finally:
            engine.close()
            rt.close()
        with tempfile.TemporaryDirectory() as tmp:
            plan_file = Path(tmp) / "plan.json"
            plan_file.write_text(json.dumps(plan))
            at = str(int(fleet.end().timestamp()) + 30)
            githeal = str(Path(sys.executable).with_name("githeal"))
            once = [githeal, "once", "--config", str(f.dir / "githeal.yaml"), "--dry-run", "--at", at,
                    "--output", "json"]  # fmt: skip
            raw = [sys.executable, "-c", RAW_SCRIPT, str(plan_file), str(clone)]
            raw_overlap = [*raw, "overlap"]
            _installed()
            _child(once), _child(raw), _child(raw_overlap)  # untimed: files from a warm page cache
            procs, raw_procs, overlap_procs = [], [], []
            for _ in range(repeats if repeats >= 3 else 3):
                procs.append(_child(once))  # interleaved: a burst of load hits all alike
                raw_procs.append(_child(raw))
                overlap_procs.append(_child(raw_overlap))
    return Row(
        apps=n,
        engine=statistics.median(engines),
        raw=statistics.median(raws),
        process=statistics.median(p[0] for p in procs),
        raw_process=statistics.median(p[0] for p in raw_procs),
        rss_mib=max(p[1] for p in procs),
        raw_rss_mib=max(p[1] for p in raw_procs),
        requests=len(plan),
        raw_overlap=statistics.median(overlaps),
        raw_overlap_process=statistics.median(p[0] for p in overlap_procs),
    )


def slope(rows: Sequence[Row]) -> tuple[float, float]:
    """Least-squares (ms per app of the engine cycle, KiB of peak RSS per app) over the sizes."""
    if len(rows) < 2:
        return float("nan"), float("nan")
    xs = [r.apps for r in rows]
    time_slope = statistics.linear_regression(xs, [r.engine * 1000 for r in rows]).slope
    rss_slope = statistics.linear_regression(xs, [r.rss_mib * 1024 for r in rows]).slope
    return time_slope, rss_slope


def report(rows: Sequence[Row], out: TextIO) -> None:
    out.write("scale: one dry-run cycle over a discovered fleet vs the same HTTP requests in a raw script\n")
    out.write(
        f"  {'apps':>6} {'reqs':>5} {'engine s':>9} {'raw s':>7} {'ratio':>6} {'once s':>7} "
        f"{'raw proc s':>10} {'ratio':>6} {'RSS MiB':>8} {'raw RSS':>8} {'overlap ratios':>15}\n"
    )
    for r in rows:
        out.write(
            f"  {r.apps:>6} {r.requests:>5} {r.engine:>9.3f} {r.raw:>7.3f} {r.ratio:>5.2f}x "
            f"{r.process:>7.2f} {r.raw_process:>10.2f} {r.process_ratio:>5.2f}x "
            f"{r.rss_mib:>8.1f} {r.raw_rss_mib:>8.1f} "
            f"{r.ratio_overlap:>6.2f}x {r.process_ratio_overlap:>6.2f}x\n"
        )
    t, m = slope(rows)
    out.write(f"  growth: {t:.3f} ms and {m:.1f} KiB peak RSS per app (least squares over the sizes)\n")
    out.write("  targets: P1 engine <= 1.2x raw, once <= 1.5x raw process at 1,000 apps; ")
    out.write("P2 <= 1.3x raw and <= 200 MB RSS at 10,000 apps\n")
    out.write(
        "  overlap ratios: engine and once against the same requests all sent at once (a stricter floor)\n"
    )


def main(sizes: Sequence[int] = SIZES, repeats: int = 5, out: TextIO = sys.stdout) -> list[Row]:
    rows = [measure(n, repeats=repeats) for n in sizes]
    report(rows, out)
    return rows
