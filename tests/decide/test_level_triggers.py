"""Level-triggered ``cycles: N``: "held for N cycles" comes from the data, not from process memory.

Each ``githeal once`` below is a fresh process (a fresh ``Memory``) observing a real Prometheus fed by
backfilled history and the Argo CD emulator over HTTP. Prometheus answers any past instant, so the
same batched queries at the last N evaluation steps say whether the page tier held for N cycles
(slo-math.md 8.5: "held for 2 consecutive ticks"). Two ``once`` runs one step apart heal; a restart
changes nothing; the Argo CD ``for:`` of a health trigger starts at ``status.health.lastTransitionTime``
(argocd-api.md: ``status.health.{status,lastTransitionTime,message}``).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from plankit import guardrails, obs, policy, snap, status

from bot import model
from bot.clients import argocd
from bot.clients import prometheus as promclient
from bot.decide import memory as mem
from bot.decide import past as hist
from bot.decide import planner
from bot.observe import burnrate, collect, snapshot
from bot.sandbox import prometheus as promserver
from bot.sandbox.argocd import workload
from bot.settings import policy as pol

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "argocd"))
from argokit import API_TOKEN, CHECKOUT, Clock, Repo, make_emulator

pytestmark = pytest.mark.prometheus
GENERATOR = Path(__file__).resolve().parents[2] / "fixtures" / "prometheus" / "generate.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("om_generate", GENERATOR)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["om_generate"] = mod
    spec.loader.exec_module(mod)
    return mod


gen = _generator()
MIN, HOUR, STEP = 60, 3600, 30.0
BURN = -20 * MIN  # checkout starts failing 50% of its requests here (offset from END)
GRID = ((-3 * HOUR, 60), (-40 * MIN, 15))
APP = gen.App(
    "checkout",
    (gen.steady(10, gen.BASE, start=-3 * HOUR, end=BURN), gen.steady(10, 0.5, start=BURN)),
    grid=GRID,
)
SLO = model.SLO(
    name="availability",
    objective=0.999,
    period=30 * 86400.0,
    error_query='sum by (app) (rate(http_requests_total{code=~"5.."}[{window}]))',
    total_query="sum by (app) (rate(http_requests_total[{window}]))",
    windows=burnrate.windows_for(30 * 86400.0),
    scrape_interval=15.0,
)
# the emulator's app has one deployment (nothing to roll back to): the notify remedy shows the decision
ROLLBACK = policy("page-twice", trigger=pol.SloTrigger(model.Severity.PAGE, 2), remedy=pol.Notify())


@pytest.fixture(scope="module")
def prom() -> Iterator[promclient.PrometheusClient]:
    if not (promserver.shutil.which("prometheus") and promserver.shutil.which("promtool")):
        pytest.skip("prometheus/promtool not installed (make prometheus)")
    text = "\n".join([*gen.requests_family([APP]), "# EOF"]) + "\n"
    with (
        promserver.PrometheusServer(openmetrics=[text]) as server,
        promclient.PrometheusClient.connect(server.url, timeout=10.0) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def argo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[argocd.ArgoCDClient]:
    repo = Repo(tmp_path_factory.mktemp("argo"))
    repo.commit({"apps/checkout/app.yaml": CHECKOUT.replace("{tag}", "1.4.2")}, "checkout 1.4.2")
    with (
        make_emulator(repo, Clock(), workload.DefaultModel(rollout_delay=1.0)) as emu,
        httpx.Client(base_url=emu.url, timeout=5.0) as http,
    ):
        yield argocd.ArgoCDClient(http, token=API_TOKEN, refresh_timeout=10.0)


def sources(prom: promclient.PrometheusClient, argo: argocd.ArgoCDClient, instants: int) -> snapshot.Sources:
    return snapshot.Sources(
        argocd=argo, prometheus=prom, slos=[SLO], projects=(), step=STEP, offset=0.0, instants=instants
    )


TARGETS = [snapshot.Target("checkout", "checkout", None, ("availability",))]


def first_firing(prom: promclient.PrometheusClient) -> float:
    """The first evaluation step at which the page tier fires on the backfilled data."""
    steps = collect.collect_history(prom, [SLO], ["checkout"], gen.END, int(-BURN // STEP), STEP)
    return next(t for t, reports in sorted(steps.items()) if reports["checkout"][0].page)


def once(src: snapshot.Sources, at: float) -> tuple[mem.Memory, model.Plan]:
    """One ``githeal once``: a fresh process, no memory but what the data says."""
    snap_ = snapshot.observe(src, TARGETS, datetime.fromtimestamp(at, UTC))
    memory = mem.remember(mem.Memory(), snap_, [ROLLBACK])
    return memory, planner.plan(snap_, [ROLLBACK], guardrails(), hist.History(), memory, now=snap_.at)


def test_two_once_runs_one_step_apart_heal(
    prom: promclient.PrometheusClient, argo: argocd.ArgoCDClient
) -> None:
    t1 = first_firing(prom)
    src = sources(prom, argo, mem.steps_needed([ROLLBACK]))
    first, plan1 = once(src, t1)
    assert first.streak("checkout", ROLLBACK.name).count == 1
    assert not plan1.actions  # the burn has held for one step only
    second, plan2 = once(src, t1 + STEP)
    assert second.streak("checkout", ROLLBACK.name).count == 2
    assert [a.kind for a in plan2.actions] == [model.ActionKind.NOTIFY], plan2.skips
    assert "2 consecutive cycles" in plan2.actions[0].reason


def test_in_process_counting_could_never_fire_from_cron(
    prom: promclient.PrometheusClient, argo: argocd.ArgoCDClient
) -> None:
    """Without past instants (yesterday's code) each ``once`` counts 1 and cycles: 2 never fires."""
    t1 = first_firing(prom)
    memory, plan = once(sources(prom, argo, 1), t1 + 5 * STEP)
    assert memory.streak("checkout", ROLLBACK.name).count == 1 and not plan.actions


def test_a_restart_changes_nothing(prom: promclient.PrometheusClient, argo: argocd.ArgoCDClient) -> None:
    t = first_firing(prom) + 3 * STEP
    src = sources(prom, argo, 2)
    running = mem.Memory()
    for k in range(4):  # a long-lived service that watched the burn grow
        s = snapshot.observe(src, TARGETS, datetime.fromtimestamp(t - (3 - k) * STEP, UTC))
        running = mem.remember(running, s, [ROLLBACK])
    restarted, _ = once(src, t)
    assert restarted.streak("checkout", ROLLBACK.name) == running.streak("checkout", ROLLBACK.name)


def test_past_instants_come_from_the_same_batched_queries(
    prom: promclient.PrometheusClient, argo: argocd.ArgoCDClient
) -> None:
    t1 = first_firing(prom)
    s = snapshot.observe(sources(prom, argo, 3), TARGETS, datetime.fromtimestamp(t1 + STEP, UTC))
    assert [h.at.timestamp() for h in s.history] == [t1 - STEP, t1]
    assert [h.apps["checkout"].slos[0].page for h in s.history] == [False, True]
    assert s.apps["checkout"].slos[0].page  # the newest instant, from the same range answers


def test_health_for_starts_at_argo_cds_transition_time(argo: argocd.ArgoCDClient) -> None:
    live = argo.status("checkout")
    assert live.health_since is not None  # parsed from status.health.lastTransitionTime
    degraded = pol.HealthTrigger((model.HealthStatus.DEGRADED,), 240.0)
    p = policy("rollback-on-degraded", trigger=degraded)
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    st = replace(status(health=model.HealthStatus.DEGRADED), health_since=now - timedelta(minutes=5))
    fresh = mem.remember(mem.Memory(), snap(obs(st=st), at=now), [p])
    assert fresh.streak("checkout", p.name).held_for(now) == 300.0  # a fresh process, 5 min held
    plan = planner.plan(snap(obs(st=st), at=now), [p], guardrails(), hist.History(), fresh, now=now)
    assert [a.kind for a in plan.actions] == [model.ActionKind.ROLLBACK], plan.skips
