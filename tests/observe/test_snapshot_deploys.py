"""Observe fills ``AppObservation.deploys`` for the apps deployed within the regression window, batched,
and only when a policy has a regression trigger (issue 12 §1). Real backfilled Prometheus."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from test_deploys import DEPLOY, END, SLO, client  # noqa: F401 (the module's Prometheus fixture)

from bot import model
from bot.clients import prometheus as promclient
from bot.decide import regression as rg
from bot.observe import snapshot


def _status(app: str, deployed: float, revision: str = "abc123") -> model.AppStatus:
    return model.AppStatus(
        name=app,
        project="default",
        repo_url="https://example.test/manifests.git",
        path=f"apps/{app}",
        target_revision="main",
        sync=model.SyncStatus.SYNCED,
        health=model.HealthStatus.HEALTHY,
        revision=revision,
        history=(model.Deployment(1, revision, datetime.fromtimestamp(deployed, UTC)),),
    )


def _target(app: str, metric: str | None = None) -> snapshot.Target:
    return snapshot.Target(app, app, None, (SLO.name,), metric_name=metric)


STATUSES = {
    "shop-bad": (_status("shop-bad", DEPLOY), ""),
    "good": (_status("good", DEPLOY), ""),
    "old": (_status("old", END - 7200), ""),  # deployed two hours ago: outside the 15m window
    "unread": (None, "Argo CD unreachable"),
}
TARGETS = [_target("shop-bad", metric="bad"), _target("good"), _target("old"), _target("unread")]


def _sources(prom: promclient.PrometheusClient, window: float) -> snapshot.Sources:
    return snapshot.Sources(
        argocd=None,  # type: ignore[arg-type]  # not used by the deploy evidence
        prometheus=prom,
        slos=(SLO,),
        step=5.0,
        deploy_window=window,
        deploy_baseline=1800.0 if window else 0.0,
    )


def test_recent_deploys_get_evidence_keyed_by_app(client: promclient.PrometheusClient) -> None:  # noqa: F811
    got = snapshot._deploys(_sources(client, 900.0), TARGETS, STATUSES, float(END))
    assert set(got) == {"shop-bad", "good"}  # the metric label "bad" is mapped back to the app's name
    (bad,) = got["shop-bad"]
    assert bad.error == "" and bad.revision == "abc123" and bad.budget == SLO.budget
    assert bad.deployed_at == datetime.fromtimestamp(DEPLOY, UTC) and bad.age == 600
    assert bad.since is not None and bad.baseline is not None
    assert rg.judge(bad.baseline, bad.since, rg.Rules(looks=180)).verdict is rg.Verdict.REGRESSED
    (good,) = got["good"]
    assert good.since is not None and good.baseline is not None
    assert rg.judge(good.baseline, good.since, rg.Rules(looks=180)).verdict is rg.Verdict.CLEAN


def test_no_regression_policy_means_no_deploy_query() -> None:
    """A dead Prometheus: any query would come back as error evidence; without a regression trigger
    (window 0) there is none at all, and with one the failure holds just the deployed apps."""
    with promclient.PrometheusClient.connect("http://127.0.0.1:9", timeout=0.5) as dead:
        assert snapshot._deploys(_sources(dead, 0.0), TARGETS, STATUSES, float(END)) == {}
        got = snapshot._deploys(_sources(dead, 900.0), TARGETS, STATUSES, float(END))
    assert set(got) == {"shop-bad", "good"}
    assert all(e.error and e.since is None for items in got.values() for e in items)


def test_a_deploy_older_than_the_window_is_not_analysed(client: promclient.PrometheusClient) -> None:  # noqa: F811
    late = float(END) + timedelta(minutes=20).total_seconds()
    assert snapshot._deploys(_sources(client, 900.0), TARGETS, STATUSES, late) == {}
