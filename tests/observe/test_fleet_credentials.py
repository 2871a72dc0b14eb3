"""Credential templates: an Application whose Git source is no configured repo gets a repo derived from
the longest matching URL prefix (issue 10 §1), as Argo CD picks ``repo-creds``: its
``getRepositoryCredentialIndex`` (util/db/repository_secrets.go, argoproj/argo-cd 37ee009) keeps the
credential whose normalised URL is the longest ``strings.HasPrefix`` of the normalised repo URL, the
first one on a tie. githeal also requires a path-segment boundary and a matching transport."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from test_fleet import REPOS, TEMPLATE, app

from bot import model
from bot.observe import fleet
from bot.settings import tree

WORK = Path("/state/.work")


def template(
    url: str, *, ssh: bool = False, branch: str = "main", github: bool = False
) -> tree.CredentialTemplate:
    secret = tree.Secret("env:T", "tok-value")
    repo = tree.RepoSettings(
        name="",
        url=url,
        branch=branch,
        workdir=WORK,
        token=None if ssh else secret,
        ssh_key=secret if ssh else None,
    )
    return tree.CredentialTemplate(url, ssh, repo, github)


ORG = template("https://git.example.com/platform")
TEAM = template("https://git.example.com/platform/payments", branch="release")
SSH = template("git@git.example.com:platform", ssh=True)
TEMPLATES = (ORG, TEAM, SSH)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://git.example.com/platform/shop.git", ORG),
        ("HTTPS://Git.Example.com/platform/shop/", ORG),
        ("https://x-access-token@git.example.com/platform/shop", ORG),
        ("https://git.example.com/platform/payments/api", TEAM),  # the longest prefix wins
        ("https://git.example.com/platform/payments", TEAM),  # the prefix itself
        ("ssh://git@git.example.com/platform/shop.git", SSH),
        ("git@git.example.com:platform/shop.git", SSH),
        ("deploy@git.example.com:platform/payments/api", SSH),  # no SSH template for payments: the org
        ("https://git.example.com/platform-other/shop", None),  # not on a path-segment boundary
        ("https://git.example.com.evil.io/platform/shop", None),  # another host
        ("https://git.example.com/other/shop", None),
        ("/srv/git/platform/shop", None),  # a local path is never given credentials
    ],
)
def test_the_longest_prefix_of_the_same_transport_matches(
    url: str, expected: tree.CredentialTemplate | None
) -> None:
    assert fleet.template_for(TEMPLATES, url) is expected


def test_a_tie_goes_to_the_first_template_as_in_argo_cd() -> None:
    twin = template("https://git.example.com/platform/", branch="twin")
    assert fleet.template_for((ORG, twin), "https://git.example.com/platform/x") is ORG
    assert fleet.template_for((twin, ORG), "https://git.example.com/platform/x") is twin


def test_a_token_template_does_not_serve_an_ssh_source_nor_a_key_template_an_https_one() -> None:
    assert fleet.template_for((ORG,), "git@git.example.com:platform/shop") is None
    assert fleet.template_for((SSH,), "https://git.example.com/platform/shop") is None


def test_the_derived_repo_is_named_from_the_url_whatever_its_spelling() -> None:
    names = {
        fleet.derived_name(u)
        for u in (
            "https://git.example.com/platform/shop.git",
            "ssh://git@git.example.com/platform/shop",
            "git@GIT.example.com:platform/shop.git",
        )
    }
    (name,) = names
    assert (
        name.startswith("git.example.com-platform-shop-")
        and len(name) == len("git.example.com-platform-shop-") + 8
    )
    assert fleet.derived_name("https://git.example.com/platform-shop") != name  # same slug, other repo


def test_derive_copies_the_template_credentials_into_a_clone_of_its_own() -> None:
    made = fleet.derive(
        dataclasses.replace(TEAM, github=True), "https://git.example.com/platform/payments/api.git"
    )
    assert made.url == "https://git.example.com/platform/payments/api.git"
    assert made.branch == "release" and made.token is TEAM.repo.token
    assert made.workdir == WORK / made.name and made.github == "payments/api"
    assert "tok-value" not in repr(made)


def discover(
    *statuses: model.AppStatus, credentials: tuple[tree.CredentialTemplate, ...] = TEMPLATES
) -> fleet.Discovered:
    return fleet.discover(
        {"payments": TEMPLATE},
        statuses,
        repos=REPOS,
        credentials=credentials,
        policies=(),
        slos={"availability"},
    )


def test_applications_in_a_templated_repo_share_one_derived_repo() -> None:
    url = "https://git.example.com/platform/shop.git"
    found = discover(
        app("pay-api", repo=url, path="apps/api"),
        app("pay-web", repo="https://git.example.com/platform/shop", path="apps/web"),
        app("pay-old", repo="https://github.com/acme/manifests"),  # a configured repo wins
    )
    assert sorted(found.apps) == ["pay-api", "pay-old", "pay-web"]
    api, web = found.apps["pay-api"], found.apps["pay-web"]
    assert api.repo == web.repo == fleet.derived_name(url)
    assert found.apps["pay-old"].repo == "manifests"
    assert list(found.repos) == [api.repo] and found.repos[api.repo].url == url
    assert api.paths == ("apps/api/",) and not found.skipped


def test_no_configured_repo_and_no_template_skips_the_application_with_why() -> None:
    found = discover(app("pay-api", repo="https://elsewhere.example.com/x/y"))
    assert not found.apps and not found.repos
    (skip,) = found.skipped
    assert skip.reason == "no configured repo or credential template for https://elsewhere.example.com/x/y"


def test_a_template_naming_a_repo_does_not_use_credential_templates() -> None:
    pinned = dataclasses.replace(TEMPLATE, repo="manifests")
    found = fleet.discover(
        {"payments": pinned},
        [app("pay-api", repo="https://git.example.com/platform/shop")],
        repos=REPOS,
        credentials=TEMPLATES,
        slos={"availability"},
    )
    assert found.apps["pay-api"].repo == "manifests" and not found.repos


def test_validate_counts_the_templates(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot import cli

    (tmp_path / "cfg.yaml").write_text(
        "prometheus: {url: http://127.0.0.1:9}\n"
        "argocd: {url: http://127.0.0.1:9, token: {env: A}}\n"
        "credential_templates:\n"
        "  - {url: https://git.example.com/platform, credentials: {token: {env: T}}}\n"
        "apps:\n  fleet: {discover: {projects: [fleet]}}\n"
    )
    result = CliRunner().invoke(cli.main, ["validate", str(tmp_path / "cfg.yaml")], env={"A": "a", "T": "t"})
    assert result.exit_code == 0, result.output
    assert (
        "OK: 0 apps, 0 SLOs (0 from slo_files), 0 policies, 0 repos, 1 credential template" in result.output
    )


FLEET_CONFIG = """\
prometheus: {url: http://127.0.0.1:9}
argocd: {url: http://127.0.0.1:9, token: {env: A}}
github: {auth: {token: {env: G}}}
repos:
  plain: {url: https://git.example.com/plain/manifests, credentials: {token: {env: T}}}
credential_templates:
  - {url: https://git.example.com/platform, credentials: {token: {env: T}}}
  - {url: https://git.example.com/github, credentials: {token: {env: T}}, github: true}
slos:
  - {name: availability, objective: 99.9, ratio: {errors: 'e{code=~"5.."}', total: e}}
apps:
  fleet: {discover: {projects: [fleet]}, slos: [availability]}
policies:
  - {name: pr-rollback, apps: ["pay-*"], when: {slo: {tier: page}}, do: {rollback: {}},
     mode: propose, merge: pr}
  - {name: direct-restart, apps: ["*"], when: {slo: {tier: page}}, do: {restart: {}},
     mode: auto, merge: direct}
"""


def test_a_pull_request_policy_skips_an_application_whose_repo_has_no_github(tmp_path: Path) -> None:
    """Static apps get this refusal at config load ("repo ... has no github owner/name"); a discovered
    app is only known at run time, so its Application is skipped with the reason, and the others go on:
    the heal would otherwise fail at its first pull request, every cycle."""
    from bot import settings

    (tmp_path / "cfg.yaml").write_text(FLEET_CONFIG)
    cfg = settings.load(tmp_path / "cfg.yaml", env={"A": "a", "T": "t", "G": "g"})
    shop = "https://git.example.com/platform/shop"

    def fleet_app(name: str, repo: str, **notes: str) -> model.AppStatus:
        return dataclasses.replace(app(name, repo=repo, notes=notes), project="fleet")

    found = fleet.discover_in(
        cfg,
        [
            fleet_app("pay-api", shop),  # pr-rollback applies: skipped
            fleet_app("cart", shop),  # only direct-restart applies
            fleet_app("pay-web", shop, **{"githeal.io/policies": "direct-restart"}),  # annotation narrows
            fleet_app("pay-gh", "https://git.example.com/github/acme/shop"),  # github: true template
            fleet_app("pay-plain", "https://git.example.com/plain/manifests"),  # a configured repo, no github
        ],
    )
    assert sorted(found.apps) == ["cart", "pay-gh", "pay-web"]
    assert (
        found.apps["pay-gh"].repo in found.repos
        and found.repos[found.apps["pay-gh"].repo].github == "acme/shop"
    )
    reasons = {s.application.rpartition("/")[2]: s.reason for s in found.skipped}
    assert reasons == {
        "pay-api": "policy 'pr-rollback' opens pull requests, but its repo "
        "https://git.example.com/platform/shop comes from a credential template without github: true",
        "pay-plain": "policy 'pr-rollback' opens pull requests, but repo 'plain' has no github owner/name",
    }
