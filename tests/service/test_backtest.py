"""``githeal backtest`` on a real Prometheus backfilled with two days of history and known incidents.

The history is generated here (piecewise-constant traffic, counters the exact integral, 60 s samples)
and backfilled with promtool, as fixtures/prometheus/generate.py does for the SLO engine. Known truth:
``incidents`` fails 30% of requests for 20 minutes on day one and 20% for 15 minutes on day two,
``flappy`` fails in three 5-minute bursts 10 minutes apart, ``clean`` never burns its budget.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from bot import cli, model
from bot.clients import prometheus as promclient
from bot.decide import backtest as core
from bot.observe import replay
from bot.sandbox import prometheus as promserver

pytestmark = pytest.mark.prometheus

END = 1_793_491_200  # 2026-11-01T00:00:00Z
HOUR, MIN = 3600, 60
START = END - 48 * HOUR
SCRAPE = 60
RPS = 5.0
# (start, end, error share) of each app's incidents; the rest of the time 0.05% of requests fail
DAY1, DAY2, BURSTS = START + 10 * HOUR, END - 21 * HOUR, END - 6 * HOUR
INCIDENTS = {
    "clean": [],
    "incidents": [(DAY1, DAY1 + 20 * MIN, 0.30), (DAY2, DAY2 + 15 * MIN, 0.20)],
    "flappy": [(BURSTS + k * 15 * MIN, BURSTS + k * 15 * MIN + 5 * MIN, 0.30) for k in range(3)],
}
BASE_ERRORS = 0.0005


def share(app: str, t: float) -> float:
    return next((e for s, f, e in INCIDENTS[app] if s <= t < f), BASE_ERRORS)


def openmetrics() -> str:
    """Cumulative counters sampled every minute: the exact integral of the traffic, floored."""
    lines = ["# TYPE http_requests counter", "# HELP http_requests Requests served, by app and code."]
    first = START - 2 * HOUR  # windows up to 1h must be full at START
    for app in INCIDENTS:
        for code in ("200", "500"):
            ok, failed = 0.0, 0.0
            for t in range(first, END + 1, SCRAPE):
                if t > first:
                    e = share(app, t - SCRAPE)
                    ok += RPS * SCRAPE * (1 - e)
                    failed += RPS * SCRAPE * e
                value = math.floor(ok if code == "200" else failed)
                lines.append(f'http_requests_total{{app="{app}",code="{code}"}} {value} {t}')
    return "\n".join([*lines, "# EOF"]) + "\n"


@pytest.fixture(scope="module")
def prom() -> Iterator[promserver.PrometheusServer]:
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        pytest.skip("prometheus/promtool not installed (make prometheus)")
    with promserver.PrometheusServer(openmetrics=[openmetrics()]) as server:
        yield server


def write_config(d: Path, prom_url: str) -> Path:
    (d / "argocd-token").write_text("t")
    ratio = {"errors": 'http_requests_total{code=~"5.."}', "total": "http_requests_total"}
    data: dict[str, Any] = {
        "version": 1,
        "prometheus": {"url": prom_url, "step": "60s", "offset": "0s", "scrape_interval": "60s"},
        "argocd": {"url": "http://127.0.0.1:9", "token": {"file": str(d / "argocd-token")}},
        "repos": {"manifests": {"url": str(d / "repo.git"), "branch": "main", "workdir": str(d / "w")}},
        "apps": {a: {"paths": [f"apps/{a}/**"], "slos": ["availability"]} for a in INCIDENTS},
        "slos": [
            {
                "name": "availability",
                "objective": 99.9,
                "period": "30d",
                "ratio": ratio,
                "windows": [{"severity": "page", "long": "1h", "short": "5m", "factor": 14.4}],
            }
        ],
        "policies": [
            {
                "name": "rollback-on-burn",
                "apps": ["*"],
                "when": {"slo": {"tier": "page", "cycles": 2}},
                "do": {"rollback": {"strategy": "revert"}},
                "mode": "auto",
                "merge": "direct",
                "cooldown": "30m",
            },
            {
                "name": "restart-degraded",
                "apps": ["*"],
                "when": {"health": {"status": ["Degraded"], "for": "5m"}},
                "do": {"restart": {}},
                "mode": "auto",
                "merge": "direct",
            },
        ],
        "log": {"level": "error"},
    }
    path = d / "githeal.yaml"
    with path.open("w") as f:
        YAML().dump(data, f)
    return path


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def backtest(config: Path, *args: str) -> Any:
    return CliRunner().invoke(cli.main, ["backtest", "--config", str(config), *args])


@pytest.fixture(scope="module")
def replayed(prom: promserver.PrometheusServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("backtest")
    config = write_config(d, prom.url)
    res = backtest(config, "--since", "2d", "--until", iso(END), "--output", "json", "--svg", str(d / "svg"))
    assert res.exit_code == 0, res.output
    data: dict[str, Any] = json.loads(res.stdout)
    data["_dir"] = str(d)
    return data


def result(data: dict[str, Any], app: str, policy: str = "rollback-on-burn") -> dict[str, Any]:
    return next(r for r in data["results"] if r["app"] == app and r["policy"] == policy)


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_every_incident_found_and_nothing_on_clean_days(replayed: dict[str, Any]) -> None:
    found = result(replayed, "incidents")
    assert len(found["intervals"]) == 2, found
    for interval, (start, end, _) in zip(found["intervals"], INCIDENTS["incidents"], strict=True):
        # fires once the 1h window passes 14.4x the budget (1.44%: about 3 min at 30% errors, 4.3 min
        # at 20%) and 2 cycles held; clears after the 5m short window has drained the incident
        assert start <= ts(interval["start"]) <= start + 8 * MIN
        assert end <= ts(interval["end"]) <= end + 10 * MIN
        assert not interval["open"]
    assert len(found["heals"]) == 2  # one heal per incident: the incidents are a day apart
    assert found["flaps"] == 0
    assert result(replayed, "clean")["intervals"] == []
    assert result(replayed, "clean")["heals"] == []


def test_flapping_counted_and_cooldown_respected(replayed: dict[str, Any]) -> None:
    flappy = result(replayed, "flappy")
    assert len(flappy["intervals"]) == 3, flappy
    assert flappy["flaps"] == 2  # fired again twice within 30m of clearing
    # bursts 15 minutes apart, cooldown 30m: the first and the third heal, never the second
    heals = [ts(h["at"]) for h in flappy["heals"]]
    assert len(heals) == 2 and heals[1] - heals[0] >= 30 * MIN


def test_json_shape_and_argo_triggers_not_replayable(replayed: dict[str, Any]) -> None:
    assert replayed["since"] == iso(START) and replayed["until"] == iso(END)
    assert replayed["step_seconds"] == 60 and replayed["errors"] == []
    assert replayed["queries"] == 2  # one range query per SLO x window, whatever the number of apps
    keys = {"app", "policy", "action", "replayable", "note", "fired_seconds", "intervals", "flaps", "heals"}
    assert all(keys <= set(r) for r in replayed["results"])
    health = result(replayed, "clean", "restart-degraded")
    assert health["replayable"] is False and "Argo CD" in health["note"]
    assert result(replayed, "incidents")["heals"][0]["action"] == "rollback"


def test_svg_timeline_per_app(replayed: dict[str, Any]) -> None:
    svg = (Path(replayed["_dir"]) / "svg" / "incidents.svg").read_text()
    root = ElementTree.fromstring(svg)  # well-formed XML, an SVG document
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(re.findall(r'class="fire"', svg)) == 2
    assert 'class="threshold"' in svg and 'class="sli"' in svg
    assert len(re.findall(r'class="fire"', (Path(replayed["_dir"]) / "svg" / "clean.svg").read_text())) == 0


def test_table_and_filters(prom: promserver.PrometheusServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, prom.url)
    only = ["--app", "flappy", "--policy", "rollback-on-burn"]
    res = backtest(config, "--since", "2d", "--until", iso(END), *only)
    assert res.exit_code == 0, res.output
    rows = [line.split() for line in res.stdout.splitlines()[2:]]
    assert [r[:6] for r in rows] == [["flappy", "rollback-on-burn", "3", rows[0][3], "2", "2"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since"),
        (["--since", "1h", "--until", "soon"], "--until"),
        (["--since", "1h", "--output", "yaml"], "--output"),
        (["--since", "1h", "--policy", "nope"], "no policy named 'nope'"),
        (["--since", "1h", "--app", "nope"], "no app named 'nope'"),
        (["--since", "1h", "--flap-window", "often"], "--flap-window"),
        (["--since", "2026-11-02T00:00:00Z", "--until", "2026-11-01T00:00:00Z"], "does not start before"),
    ],
)
def test_bad_options_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    res = backtest(config, *args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output


def test_flaps_counts_refires_within_the_window() -> None:
    spans = [core.Interval(0, 100), core.Interval(200, 300), core.Interval(5000, 5100)]
    assert core.flaps(spans, 1800) == 1
    assert core.flaps(spans, 100) == 1
    assert core.flaps(spans, 99) == 0


def test_long_spans_are_cut_below_the_servers_point_cap(prom: promserver.PrometheusServer) -> None:
    """Prometheus refuses a range query of more than 11,000 points per series ("exceeded maximum
    resolution of 11,000 points per timeseries", web/api/v1/api.go): 2 days at 15 s are 11,521 steps,
    so each (SLO x window) query is sent in two chunks and every step still gets its answer."""
    slo = model.SLO(
        name="availability",
        objective=0.999,
        period=30 * 86400.0,
        error_query='sum by (app) (rate(http_requests_total{code=~"5.."}[{window}]))',
        total_query="sum by (app) (rate(http_requests_total[{window}]))",
        windows=(model.BurnWindow(model.Severity.PAGE, 3600.0, 300.0, 14.4),),
        scrape_interval=60.0,
    )
    with promclient.PrometheusClient.connect(prom.url, timeout=20.0) as client:
        history = replay.read(client, [slo], {"clean": ["availability"]}, START, END, 15.0)
    assert history.errors == ()
    assert len(history.times) == 48 * 240 + 1 and history.queries == 4
    states = {history.reports[t]["clean"][0].state for t in history.times}
    assert states == {model.SampleState.OK}


def test_instants_and_chunks() -> None:
    assert replay.instants(100, 400, 60) == (120, 180, 240, 300, 360)
    assert replay.instants(400, 100, 60) == ()
    times = replay.instants(0, 25 * 60, 60)
    assert replay.chunks(times, 10) == [(0, 540), (600, 1140), (1200, 1500)]


def test_load_triggers_replay_from_the_load_query(prom: promserver.PrometheusServer, tmp_path: Path) -> None:
    """With ``prometheus.load_query`` the load per replica is read at every step too (here the 5xx
    rate stands in for load, so it rises above 1.2/s only in the 30% incidents: 1.5/s)."""
    config = write_config(tmp_path, prom.url)
    yaml = YAML()
    data = yaml.load(config.read_text())
    data["prometheus"]["load_query"] = 'sum by (app) (rate(http_requests_total{code=~"5.."}[5m]))'
    data["policies"] = [
        {
            "name": "page-on-load",
            "apps": ["*"],
            "when": {"load": {"per_replica_above": 1.2, "cycles": 1}},
            "do": {"notify": {}},
            "cooldown": "1h",
        }
    ]
    with config.open("w") as f:
        yaml.dump(data, f)
    res = backtest(config, "--since", "2d", "--until", iso(END), "--output", "json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["queries"] == 3  # 2 SLO windows + the load query
    assert len(result(out, "incidents", "page-on-load")["intervals"]) == 1  # the 30% one, not the 20%
    assert len(result(out, "flappy", "page-on-load")["intervals"]) == 3
    assert len(result(out, "flappy", "page-on-load")["heals"]) == 1  # cooldown 1h
    assert result(out, "clean", "page-on-load")["intervals"] == []
