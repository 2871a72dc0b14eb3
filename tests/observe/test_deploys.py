"""The regression trigger's data on a real Prometheus: counts since a deploy and in a baseline before it,
batched per deploy age, with stale or missing data reported as unusable (issue 12 §1)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slodefs import ERRORS, HAVE_PROMETHEUS, TOTAL

from bot import model
from bot.clients import prometheus as promclient
from bot.decide import regression as rg
from bot.observe import deploys
from bot.sandbox import prometheus as promserver

END = 1_793_491_200
DEPLOY = END - 600  # every deployed app went live ten minutes before END
SCRAPE = 5

SLO = model.SLO(
    name="availability",
    objective=0.999,
    period=30 * 86400.0,
    error_query=ERRORS,
    total_query=TOTAL,
    scrape_interval=SCRAPE,
)

# app -> (requests/s, error share before the deploy, after it, last sample offset from END)
APPS = {
    "bad": (20.0, 0.001, 0.30, 0),
    "good": (20.0, 0.001, 0.001, 0),
    "sick": (20.0, 0.20, 0.30, 0),  # failing before the deploy too
    "gone": (20.0, 0.001, 0.30, -300),  # target went away five minutes ago
}


def _history(path: Path) -> None:
    lines: list[str] = []
    for app, (rps, before, after, stop) in APPS.items():
        ok = bad = 0.0
        for t in range(END - 3600, END + stop + 1, SCRAPE):
            share = before if t <= DEPLOY else after
            ok += rps * SCRAPE * (1 - share)
            bad += rps * SCRAPE * share
            lines.append(f'http_requests_total{{app="{app}",code="200"}} {math.floor(ok)} {t}')
            lines.append(f'http_requests_total{{app="{app}",code="500"}} {math.floor(bad)} {t}')
    lines.sort(key=lambda line: (line.split(" ")[0], int(line.split(" ")[-1])))  # series by series
    path.write_text("# TYPE http_requests counter\n" + "\n".join(lines) + "\n# EOF\n")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[promclient.PrometheusClient]:
    if not HAVE_PROMETHEUS:
        pytest.skip("prometheus/promtool not installed (make prometheus)")
    om = tmp_path_factory.mktemp("deploys") / "deploys.om"
    _history(om)
    with (
        promserver.PrometheusServer(backfill=[om]) as server,
        promclient.PrometheusClient.connect(server.url, timeout=10.0) as c,
    ):
        yield c


def _deploys(*apps: str, at: float = DEPLOY) -> dict[str, deploys.Deploy]:
    return {a: deploys.Deploy(a, "abc123", at) for a in apps}


def _collect(client: promclient.PrometheusClient, at: float, found: dict[str, deploys.Deploy]) -> dict:
    got = deploys.collect(client, [SLO], found, at, step=SCRAPE, window=900, baseline=1800)
    return {e.app: e.data for e in got}


def test_counts_and_verdicts_ten_minutes_after_the_deploys(client: promclient.PrometheusClient) -> None:
    found = _deploys("bad", "good", "sick", "gone")
    data = _collect(client, END, found)
    rules = rg.Rules(alpha=0.001, looks=180, budget=SLO.budget)

    bad = data["bad"]
    assert bad.error == "" and bad.since is not None and bad.baseline is not None
    assert bad.since.total == pytest.approx(20 * 600, rel=0.05)
    assert bad.since.ratio == pytest.approx(0.30, abs=0.02)
    assert bad.baseline.ratio == pytest.approx(0.001, abs=0.001)
    assert rg.judge(bad.baseline, bad.since, rules).verdict is rg.Verdict.REGRESSED

    good = data["good"]
    assert good.since is not None and good.baseline is not None
    assert rg.judge(good.baseline, good.since, rules).verdict is rg.Verdict.CLEAN

    sick = data["sick"]
    assert sick.since is not None and sick.baseline is not None
    assert rg.judge(sick.baseline, sick.since, rules).verdict is rg.Verdict.BASELINE_BAD

    assert data["gone"].error.startswith("stale")  # never judged on a target that stopped reporting
    assert data["gone"].since is None


def test_a_bad_deploy_is_seen_a_minute_after_it_went_live(client: promclient.PrometheusClient) -> None:
    data = _collect(client, DEPLOY + 60, _deploys("bad", "good"))
    rules = rg.Rules(alpha=0.001, looks=180, budget=SLO.budget)
    verdicts = {app: rg.judge(d.baseline, d.since, rules).verdict for app, d in data.items()}
    assert verdicts == {"bad": rg.Verdict.REGRESSED, "good": rg.Verdict.CLEAN}
    assert data["bad"].deployed_at == datetime.fromtimestamp(DEPLOY, UTC)


def test_queries_are_batched_by_deploy_age_not_by_app() -> None:
    many = {f"app-{i}": deploys.Deploy(f"app-{i}", "r", DEPLOY - (i % 3) * SCRAPE) for i in range(300)}
    groups = deploys.plan([SLO], many, END, step=SCRAPE, window=900, baseline=1800)
    assert len(groups) == 3  # three distinct ages among 300 apps
    assert sum(len(g.apps) for g in groups) == 300
    too_old = {"old": deploys.Deploy("old", "r", END - 3600), "fresh": deploys.Deploy("fresh", "r", END - 1)}
    assert deploys.plan([SLO], too_old, END, step=SCRAPE, window=900, baseline=1800) == ()


def test_last_deploy_reads_history_then_the_operation() -> None:
    when = datetime.fromtimestamp(DEPLOY, UTC)
    status = model.AppStatus(
        name="a", project="p", repo_url="u", path="p", target_revision="HEAD",
        sync=model.SyncStatus.SYNCED, health=model.HealthStatus.HEALTHY, revision="r2",
        history=(model.Deployment(1, "r1", datetime.fromtimestamp(DEPLOY - 900, UTC)),
                 model.Deployment(2, "r2", when)),
    )  # fmt: skip
    assert deploys.last_deploy(status) == deploys.Deploy("a", "r2", DEPLOY)
    no_history = model.AppStatus(
        name="a", project="p", repo_url="u", path="p", target_revision="HEAD",
        sync=model.SyncStatus.SYNCED, health=model.HealthStatus.HEALTHY, revision="r2",
        operation_phase="Succeeded", operation_revision="r2", operation_finished_at=when,
    )  # fmt: skip
    assert deploys.last_deploy(no_history) == deploys.Deploy("a", "r2", DEPLOY)
    unknown = model.AppStatus(
        name="a", project="p", repo_url="u", path="p", target_revision="HEAD",
        sync=model.SyncStatus.SYNCED, health=model.HealthStatus.HEALTHY, revision="r2",
    )  # fmt: skip
    assert deploys.last_deploy(unknown) is None
