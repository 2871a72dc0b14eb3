"""Fleet discovery: one template in ``apps`` turns matching Argo CD Applications into apps, with
per-Application overrides from ``githeal.io/`` annotations (issue 10 §1). Pure: values in, values out."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest

from bot import model
from bot.observe import fleet
from bot.settings import tree

REPOS = {"manifests": "https://github.com/acme/manifests.git", "other": "git@github.com:acme/other.git"}
TEMPLATE = tree.AppSpec(
    name="payments",
    repo="",
    paths=(),
    slos=("availability",),
    discover=tree.Discovery(
        selector=MappingProxyType({"team": "payments"}), projects=("pay*",), namespaces=("argocd", "apps-*")
    ),
    template="payments",
)


def app(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    notes: dict[str, str] | None = None,
    repo: str = "https://github.com/acme/manifests",
    path: str = "apps/x",
    project: str = "payments",
    namespace: str = "argocd",
) -> model.AppStatus:
    return model.AppStatus(
        name=name,
        project=project,
        repo_url=repo,
        path=path,
        target_revision="HEAD",
        sync=model.SyncStatus.SYNCED,
        health=model.HealthStatus.HEALTHY,
        revision="abc",
        labels=MappingProxyType(labels if labels is not None else {"team": "payments"}),
        annotations=MappingProxyType(notes or {}),
        app_namespace=namespace,
    )


def discover(*statuses: model.AppStatus, **templates: tree.AppSpec) -> fleet.Discovered:
    return fleet.discover(
        templates or {"payments": TEMPLATE},
        statuses,
        repos=REPOS,
        configured={"static"},
        policies={"rollback-on-burn", "notify"},
        slos={"availability", "latency"},
    )


def test_matching_applications_become_apps_named_after_them() -> None:
    found = discover(
        app("pay-api", path="apps/pay-api"),
        app("pay-web", path="/apps/pay-web/", namespace="apps-eu"),
        app("search", labels={"team": "search"}),  # label does not match
        app("pay-old", project="legacy"),  # project glob does not match
        app("pay-ns", namespace="kube-system"),  # namespace glob does not match
    )
    assert sorted(found.apps) == ["pay-api", "pay-web"]
    api = found.apps["pay-api"]
    assert (api.repo, api.paths, api.argocd_app, api.template) == (
        "manifests",
        ("apps/pay-api/",),
        "pay-api",
        "payments",
    )
    assert api.slos == ("availability",) and api.discover is None
    assert found.apps["pay-web"].app_namespace == "apps-eu"
    assert found.unmatched == 3 and not found.skipped


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/manifests",
        "https://GitHub.com/acme/manifests.git/",
        "ssh://git@github.com/acme/manifests.git",
        "git@github.com:acme/manifests.git",
    ],
)
def test_repo_is_matched_by_url_whatever_its_spelling(url: str) -> None:
    assert discover(app("pay-api", repo=url)).apps["pay-api"].repo == "manifests"


def test_an_application_from_an_unconfigured_repo_is_skipped_with_why() -> None:
    found = discover(app("pay-api", repo="https://github.com/acme/elsewhere"), app("pay-web"))
    assert list(found.apps) == ["pay-web"]
    (skip,) = found.skipped
    assert skip.application == "argocd/pay-api"
    assert "no configured repo or credential template for" in skip.reason


def test_annotations_override_the_template() -> None:
    notes = {
        fleet.POLICIES: "notify",
        fleet.SLOS: "latency",
        fleet.CONTAINERS: "api, sidecar",
        fleet.ROLLBACK: "pin-image",
        fleet.MIN_REPLICAS: "2",
        fleet.MAX_REPLICAS: "8",
        fleet.PATHS: "deploy/pay-api/*.yaml",
        fleet.PROMETHEUS_APP: "payments-api",
    }
    spec = discover(app("pay-api", notes=notes)).apps["pay-api"]
    assert spec.policies == ("notify",)
    assert spec.slos == ("latency",)
    assert spec.containers == ("api", "sidecar")
    assert spec.rollback == "pin-image"
    assert (spec.min_replicas, spec.max_replicas) == (2, 8)
    assert spec.paths == ("deploy/pay-api/*.yaml",)
    assert spec.metric_name == "payments-api"


@pytest.mark.parametrize(
    ("notes", "reason"),
    [
        ({fleet.ENABLED: "false"}, "opted out"),
        ({fleet.ENABLED: "maybe"}, "githeal.io/enabled: expected true or false"),
        ({fleet.POLICIES: "rollback-on-burn,nope"}, "unknown policy 'nope'"),
        ({fleet.SLOS: "speed"}, "unknown SLO 'speed'"),
        ({fleet.ROLLBACK: "yolo"}, "githeal.io/rollback: expected one of"),
        ({fleet.MIN_REPLICAS: "ten"}, "githeal.io/min-replicas: expected a whole number"),
        ({fleet.MIN_REPLICAS: "9", fleet.MAX_REPLICAS: "3"}, "(9) > githeal.io/max-replicas (3)"),
        ({fleet.PATHS: "../secrets/*"}, "githeal.io/paths: expected repo-relative globs"),
        ({"githeal.io/polices": "notify"}, "unknown annotation githeal.io/polices"),
    ],
)
def test_one_bad_annotation_skips_only_its_application(notes: dict[str, str], reason: str) -> None:
    found = discover(app("pay-bad", notes=notes), app("pay-good"))
    assert list(found.apps) == ["pay-good"]
    (skip,) = found.skipped
    assert skip.application == "argocd/pay-bad" and reason in skip.reason


def test_prometheus_app_label_from_a_label_or_annotation() -> None:
    by_label = tree.AppSpec(
        name="t",
        repo="",
        paths=("k8s/",),
        discover=tree.Discovery(prometheus_app="label:service"),
        template="t",
    )
    found = discover(app("pay-api", labels={"service": "payments"}), app("no-label", labels={}), t=by_label)
    assert found.apps["pay-api"].metric_name == "payments"
    assert found.apps["pay-api"].paths == ("k8s/",)
    assert [k.application for k in found.skipped] == ["argocd/no-label"]
    assert "label:service" in found.skipped[0].reason


def test_name_clashes_and_configured_apps_are_reported() -> None:
    found = discover(app("static"), app("twin"), app("twin", namespace="apps-eu"))
    assert found.apps == {}
    reasons = sorted((k.application, k.reason) for k in found.skipped)
    assert reasons[0] == ("apps-eu/twin", "same name as Application argocd/twin")
    assert reasons[1] == ("argocd/static", "an app named 'static' is configured explicitly")
    assert reasons[2] == ("argocd/twin", "same name as Application apps-eu/twin")


def test_an_application_managed_by_a_static_app_of_another_name_is_not_discovered_again() -> None:
    # static app "shop" with argocd_app "pay-api": discovering pay-api too would make two apps edit
    # (and heal) the same manifests, each with its own Heal-Ids
    found = fleet.discover(
        {"payments": TEMPLATE},
        [app("pay-api"), app("pay-web")],
        repos=REPOS,
        configured={"shop"},
        claimed={"pay-api"},
        policies={"rollback-on-burn", "notify"},
        slos={"availability", "latency"},
    )
    assert list(found.apps) == ["pay-web"]
    assert [(k.application, k.reason) for k in found.skipped] == [
        ("argocd/pay-api", "its Application is managed by a configured app")
    ]


def test_a_multi_source_app_is_matched_by_any_of_its_git_sources() -> None:
    # Argo CD multi-source: spec.sources[] (argocd-api.md); the chart and another team's repo come first
    status = dataclasses.replace(
        app("pay-api", repo="https://github.com/other/charts-values", path=""),
        sources=(
            model.AppSource("https://charts.acme.io", chart="pay", target_revision="1.2.0"),
            model.AppSource("https://github.com/other/charts-values", ref="values"),
            model.AppSource("git@github.com:acme/manifests.git", path="deploy/pay-api"),
        ),
    )
    found = discover(status)
    assert found.skipped == ()
    assert found.apps["pay-api"].repo == "manifests"
    assert found.apps["pay-api"].paths == ("deploy/pay-api/",)
