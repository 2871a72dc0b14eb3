"""Config loading at fleet size: ``settings.load`` of a valid config with N apps, and of one broken app.

A valid config takes the fast path (LibYAML events, no line lookup); the broken one shows what
locating the error costs (ruamel round-trip). Figures are printed for people; nothing is judged.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot import errors, settings

SIZES = (1_000, 10_000)
ENV = {"BENCH_ARGO_TOKEN": "bench-token"}

HEAD = """\
prometheus:
  url: http://127.0.0.1:9090
  timeout: 20s
argocd:
  url: http://127.0.0.1:8081
  token: {env: BENCH_ARGO_TOKEN}
repos:
  manifests:
    url: ./manifests
slos:
  - name: avail
    objective: 99.9
    ratio:
      errors: http_requests_total{code=~"5.."}
      total: http_requests_total
  - name: latency
    objective: 99.0
    threshold:
      query: histogram_quantile(0.99, sum by (le, app) (rate(http_request_duration_seconds_bucket[5m])))
      threshold: 0.5
policies:
  - name: rollback
    apps: ["app-*"]
    when: {slo: {tier: page}}
    do: {rollback: {}}
    mode: auto
    merge: direct
apps:
"""

APP = """\
  app-{i:05d}:
    argocd_app: app-{i:05d}-prod
    paths: [apps/app-{i:05d}/]
    slos: [avail, latency]
    containers: [app-{i:05d}]
    scaling: {{min: 1, max: 10}}
"""


def fleet_config(n: int, *, broken: bool = False) -> str:
    """A valid config with ``n`` apps; ``broken`` misspells one key of the last app."""
    apps = "".join(APP.format(i=i) for i in range(n))
    if broken:
        apps = (
            apps[: apps.rindex("    containers:")]
            + "    container: [x]\n"
            + apps[apps.rindex("    scaling:") :]
        )
    return HEAD + apps


def _time(path: Path, repeats: int) -> tuple[float, str]:
    times, outcome = [], "ok"
    for _ in range(repeats):
        started = time.perf_counter()
        try:
            settings.load(path, env=ENV)
        except errors.ConfigError as exc:
            outcome = str(exc.problems[0])
        times.append(time.perf_counter() - started)
    return statistics.median(times), outcome


def main(sizes: Sequence[int] = SIZES, *, repeats: int = 3, out: TextIO) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    out.write("config: settings.load of N apps (median seconds)\n")
    out.write(f"  {'apps':>6}  {'bytes':>9}  {'valid s':>8}  {'broken s':>8}  first problem\n")
    with tempfile.TemporaryDirectory(prefix="githeal-bench-config-") as tmp:
        for n in sizes:
            good, bad = Path(tmp) / f"good-{n}.yaml", Path(tmp) / f"bad-{n}.yaml"
            good.write_text(fleet_config(n))
            bad.write_text(fleet_config(n, broken=True))
            valid, outcome = _time(good, repeats)
            broken, problem = _time(bad, repeats)
            assert outcome == "ok", outcome
            problem = problem.removeprefix(f"{tmp}/")
            out.write(f"  {n:>6}  {good.stat().st_size:>9}  {valid:>8.3f}  {broken:>8.3f}  {problem}\n")
            rows.append({"apps": n, "bytes": good.stat().st_size, "valid_s": valid, "broken_s": broken})
    return rows
