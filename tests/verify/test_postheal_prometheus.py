"""Verification with the default SRE-workbook tiers, judged by a real Prometheus on backfilled history.

The incident: 5% errors for 2h, then a rollback is Synced + Healthy at ``HEALED`` (40 min before the
fixtures' END). With the default tiers the 6h/30m page pair's short window still holds ~29 minutes of
the incident after a rollback that worked (slo-math.md 1.3/1.4: reset 29.8 min at 100% errors), so a
watcher that judges on burn-rate windows reports a false failure. Recovery must be judged on data from
after the heal took effect, with the page threshold (6 x 0.1% = 0.6%) and its minimum-events guard
(ceil(3 / 0.006) = 500 events, slo-math.md 8.4), within ``verify.period`` plus the offset and a scrape.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest

from bot import model
from bot.clients import prometheus as promclient
from bot.observe import burnrate, collect
from bot.sandbox import prometheus as promserver
from bot.verify import postheal, verdict, watcher

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "observe"))
from slodefs import FIXTURES, HAVE_PROMETHEUS

pytestmark = pytest.mark.prometheus


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("om_generate", FIXTURES / "generate.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["om_generate"] = mod
    spec.loader.exec_module(mod)
    return mod


gen = _generator()
MIN, HOUR = 60, 3600
END = gen.END
HEALED = -40 * MIN  # offset from END at which Argo CD reports Synced + Healthy at the heal commit
GRID = ((-7 * HOUR, 60), (-60 * MIN, 15))  # 15 s scrapes around the heal
INCIDENT = gen.steady(10, 0.05, start=HEALED - 2 * HOUR, end=HEALED)
BEFORE = gen.steady(10, gen.BASE, start=-7 * HOUR, end=HEALED - 2 * HOUR)

APPS = (
    # the rollback stopped the errors
    gen.App("healed", (BEFORE, INCIDENT, gen.steady(10, gen.BASE, start=HEALED)), grid=GRID),
    # the rollback did not help: still 5% errors
    gen.App("unhealed", (BEFORE, INCIDENT, gen.steady(10, 0.05, start=HEALED)), grid=GRID),
    # the target stopped reporting a minute after the heal: no data is no recovery
    gen.App("vanished", (BEFORE, INCIDENT, gen.steady(10, 0.0, start=HEALED)), grid=GRID, stop=HEALED + 60),
    # 0.1 req/s after the heal: 30 events in 5 min < 500 needed to judge a 6x burn
    gen.App("quiet", (BEFORE, INCIDENT, gen.steady(0.1, 0.0, start=HEALED)), grid=GRID),
)

SLO = model.SLO(
    name="availability",
    objective=0.999,
    period=30 * 86400.0,
    error_query='sum by (app) (rate(http_requests_total{code=~"5.."}[{window}]))',
    total_query="sum by (app) (rate(http_requests_total[{window}]))",
    windows=burnrate.windows_for(30 * 86400.0),  # the workbook defaults: 1h/5m, 6h/30m, 1d/2h, 3d/6h
    scrape_interval=15.0,
)
PERIOD, OFFSET, INTERVAL, TIMEOUT = 300.0, 60.0, 5.0, 900.0


@pytest.fixture(scope="module")
def client() -> Iterator[promclient.PrometheusClient]:
    if not HAVE_PROMETHEUS:
        pytest.skip("prometheus/promtool not installed (make prometheus)")
    text = "\n".join([*gen.requests_family(APPS), "# EOF"]) + "\n"
    with (
        promserver.PrometheusServer(openmetrics=[text]) as server,
        promclient.PrometheusClient.connect(server.url, timeout=10.0) as c,
    ):
        yield c


def at(offset: float) -> datetime:
    return datetime.fromtimestamp(END + offset, tz=UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def status(app: str, revision: str, health: model.HealthStatus, reconciled: datetime) -> model.AppStatus:
    return model.AppStatus(
        name=app,
        project="default",
        repo_url="file:///r",
        path=f"apps/{app}",
        target_revision="main",
        sync=model.SyncStatus.SYNCED,
        health=health,
        revision=revision,
        reconciled_at=reconciled,
        operation_phase="Succeeded",
        operation_finished_at=at(HEALED - 30),
    )


def verify(client: promclient.PrometheusClient, app: str) -> watcher.Outcome:
    """The watcher as the Verifier wires it; the heal lands 2 min before Argo CD says Healthy."""
    pushed = at(HEALED - 120)
    clock = Clock(pushed)

    def read_app() -> model.AppStatus:
        now = clock()
        if now < at(HEALED):
            return status(app, "b" * 40, model.HealthStatus.DEGRADED, now)
        return status(app, "a" * 40, model.HealthStatus.HEALTHY, now)

    def read_since(since: datetime, now: datetime) -> dict[str, model.Sample]:
        return postheal.read(client, [SLO], app, since, postheal.instant(now, OFFSET))

    w = watcher.Watcher(
        read_app=read_app,
        read_since=read_since,
        slos=[SLO],
        contains=lambda rev: rev == "a" * 40,
        clock=clock,
        sleep=clock.sleep,
        interval=INTERVAL,
        timeout=TIMEOUT,
        period=PERIOD,
        lag=OFFSET,
    )
    return w.wait("a" * 40, pushed)


def test_burn_rate_windows_still_remember_the_incident(client: promclient.PrometheusClient) -> None:
    """Why the old judgement failed: when a working rollback has had ``period`` of clean data, the
    6h/30m page pair still fires on it (its 30m short window holds the incident for ~29 min)."""
    when = END + HEALED + PERIOD
    report = collect.collect_slos(client, [SLO], ["healed"], when)["healed"][0]
    slow_page = next(v for v in report.verdicts if v.window.long == 6 * HOUR)
    assert slow_page.firing, report.reason


def test_a_rollback_that_stops_the_errors_verifies_within_the_period(
    client: promclient.PrometheusClient,
) -> None:
    out = verify(client, "healed")
    assert out.success, out.reason
    assert out.healthy_at is not None and out.recovered_at is not None
    took = (out.recovered_at - out.healthy_at).total_seconds()
    assert PERIOD + OFFSET <= took <= PERIOD + OFFSET + 2 * INTERVAL, took
    assert "since the heal" in out.reason and "over 5m (3000 events)" in out.reason, out.reason


def test_a_rollback_that_does_not_help_fails_on_post_heal_data(client: promclient.PrometheusClient) -> None:
    out = verify(client, "unhealed")
    assert not out.success and out.still_burning, out.reason
    assert out.failed_in is verdict.Phase.SLO
    assert out.healthy_at is not None
    # judged as soon as the period of post-heal data exists, not after a 6h settle or the timeout
    assert (out.started_at + timedelta(seconds=TIMEOUT)) > out.healthy_at + timedelta(seconds=PERIOD + 60)
    assert "5.0" in out.reason and "0.600%" in out.reason, out.reason
    assert any("kept burning on data from after the heal" in s for s in out.advice())


@pytest.mark.parametrize(("app", "state"), [("vanished", "stale"), ("quiet", "no_traffic")])
def test_missing_stale_or_thin_data_is_never_recovery(
    client: promclient.PrometheusClient, app: str, state: str
) -> None:
    out = verify(client, app)
    assert not out.success and not out.still_burning, out.reason
    assert "timed out" in out.reason and state in out.reason.lower(), out.reason
    assert out.failed_in is verdict.Phase.SLO
    advice = " ".join(out.advice())
    assert "no usable data" in advice and "did not sync" not in advice
