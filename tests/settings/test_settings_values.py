"""The loaded tree (frozen values, secrets, policy helpers), the example config, the committed JSON Schema."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from bot import errors, model, settings
from bot.settings import policy, schema

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "example.yaml"


def test_committed_schema_is_current() -> None:
    committed = (REPO / "config" / "schema.json").read_text()
    assert committed == schema.render(), (
        "config/schema.json is stale: run python -m bot.settings > config/schema.json"
    )


def test_schema_generator_entry_point_prints_the_schema() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bot.settings"], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout == schema.render() and out.stderr == ""


def test_example_conforms_to_the_json_schema_and_the_schema_is_closed() -> None:
    data = YAML(typ="safe").load(EXAMPLE.read_text())
    validator = jsonschema.Draft202012Validator(json.loads((REPO / "config" / "schema.json").read_text()))
    assert list(validator.iter_errors(data)) == []
    data["prometheus"]["tiemout"] = "5s"
    assert [e.message for e in validator.iter_errors(data)] == [
        "Additional properties are not allowed ('tiemout' was unexpected)"
    ]


def test_example_validates_on_a_clean_machine(invoke: Any) -> None:
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("GITHEAL_")}
    result = invoke(["validate", str(EXAMPLE)], env=clean)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{EXAMPLE}: OK: 3 apps, 5 SLOs (2 from slo_files), 5 policies, 1 repo\n")
    assert "secrets: optional and unset: env:GITHEAL_PROMETHEUS_TOKEN," in result.stdout


def test_example_optional_secret_becomes_required_without_optional(invoke: Any, workdir: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "{env: GITHEAL_ARGOCD_TOKEN, optional: true}", "{env: GITHEAL_ARGOCD_TOKEN}"
    )
    (workdir / "slos").mkdir()
    (workdir / "policies").mkdir()
    for extra in ("slos/cart.sloth.yaml", "slos/catalog.openslo.yaml", "policies/scaling.yaml"):
        (workdir / extra).write_text((EXAMPLE.parent / extra).read_text())
    (workdir / "cfg.yaml").write_text(text)
    result = invoke(["validate", "cfg.yaml"], env={"GITHEAL_ARGOCD_TOKEN": None})
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "GITHEAL_ARGOCD_TOKEN}" in t)
    assert (
        result.stderr
        == f"cfg.yaml:{line}: argocd.token: environment variable GITHEAL_ARGOCD_TOKEN is not set\n"
    )
    ok = invoke(["validate", "cfg.yaml"], env={"GITHEAL_ARGOCD_TOKEN": "eyJ.a.b"})
    assert ok.exit_code == 0 and "eyJ.a.b" not in ok.output


def test_loaded_tree_holds_frozen_values(workdir: Path, base_config: str) -> None:
    (workdir / "cfg.yaml").write_text(base_config)
    loaded = settings.load(workdir / "cfg.yaml", env={"T_ARGO": "argo", "T_GH": "gh"})
    assert loaded.prometheus.url == "http://127.0.0.1:9090" and loaded.prometheus.timeout == 20.0
    assert loaded.prometheus.app_label == "app" and loaded.schedule.interval == 30.0
    assert loaded.argocd.token is not None and loaded.argocd.token.reveal() == "argo"
    assert loaded.github is not None and loaded.github.token is not None and loaded.github.token.value == "gh"
    repo = loaded.repos["manifests"]
    assert repo.url == str(workdir / "manifests") and repo.workdir == workdir / ".work" / "manifests"
    assert (repo.branch, repo.github, repo.signing) == ("main", "acme/manifests", "none")
    checkout, cart = loaded.apps["checkout"], loaded.apps["cart"]
    assert (checkout.argocd_app, checkout.repo, checkout.min_replicas, checkout.max_replicas) == (
        "checkout",
        "manifests",
        1,
        5,
    )
    assert cart.argocd_app == "cart-prod" and cart.helm.replicas == "replicaCount"
    avail = loaded.slos["avail"]
    assert avail.objective == 0.999 and avail.period == 30 * 86400.0 and avail.min_events_k == 3.0
    assert avail.error_query == 'sum by (app) (rate(http_requests_total{code=~"5.."}[{window}]))'
    (rollback,) = loaded.policies
    assert rollback.trigger == policy.SloTrigger(model.Severity.PAGE, 2, ())
    assert rollback.remedy == policy.Rollback("") and rollback.kind is model.ActionKind.ROLLBACK
    assert (rollback.mode, rollback.merge, rollback.cooldown) == (
        model.Mode.AUTO,
        policy.Merge.PR_AUTOMERGE,
        3600.0,
    )
    assert loaded.policies_for("checkout") == (rollback,) and loaded.policies_for("cart") == ()
    assert loaded.guardrails.commit_budget == policy.Budget(10, 600.0)
    assert loaded.guardrails.freezes[0].duration == 63 * 3600.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.prometheus.url = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        loaded.apps["new"] = checkout  # type: ignore[index]


def test_secrets_from_files_and_optional_ones(workdir: Path, base_config: str) -> None:
    (workdir / "secrets").mkdir()
    (workdir / "secrets" / "argo").write_text("file-token\n")
    text = base_config.replace("token: {env: T_ARGO}", "token: {file: secrets/argo}").replace(
        "token: {env: T_GH}", "token: {env: T_GH, optional: true}"
    )
    (workdir / "cfg.yaml").write_text(text)
    loaded = settings.load("cfg.yaml", env={})
    token = loaded.argocd.token
    assert token is not None and token.reveal() == "file-token"
    assert token.ref == f"file:{workdir}/secrets/argo"
    assert "file-token" not in repr(loaded) and str(token) == f"<secret file:{workdir}/secrets/argo>"
    assert loaded.github is not None and loaded.github.token is not None and loaded.github.token.value is None
    assert loaded.unset_optional == ("env:T_GH",)
    with pytest.raises(errors.ConfigError, match="secret env:T_GH is not available"):
        loaded.github.token.reveal()
    (workdir / "secrets" / "argo").write_text("\n")
    with pytest.raises(errors.ConfigError) as info:
        settings.load("cfg.yaml", env={})
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "secrets/argo" in t)
    assert [str(p) for p in info.value.problems] == [
        f"cfg.yaml:{line}: argocd.token: secret file secrets/argo is empty"
    ]


@pytest.mark.parametrize(
    ("names", "labels", "app", "app_labels", "expected"),
    [
        (("checkout",), {}, "checkout", {}, True),
        (("shop-*",), {}, "shop-cart", {}, True),
        (("shop-*",), {}, "cart", {}, False),
        ((), {"env": "prod"}, "cart", {"env": "prod", "team": "x"}, True),
        ((), {"env": "prod"}, "cart", {"env": "dev"}, False),
        (("cart",), {"env": "prod"}, "cart", None, False),
    ],
)
def test_selector_matches(
    names: tuple[str, ...],
    labels: dict[str, str],
    app: str,
    app_labels: dict[str, str] | None,
    expected: bool,
) -> None:
    assert policy.Selector(names, labels).matches(app, app_labels) is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2026, 3, 6, 16, 59, tzinfo=UTC), False),  # Fri 17:59 Paris (UTC+1): before the freeze
        (datetime(2026, 3, 6, 17, 0, tzinfo=UTC), True),  # Fri 18:00 Paris: the cron tick itself
        (datetime(2026, 3, 9, 7, 59, tzinfo=UTC), True),  # Mon 08:59 Paris
        (datetime(2026, 3, 9, 8, 0, tzinfo=UTC), False),  # Mon 09:00 Paris: 63h later
        (datetime(2026, 3, 11, 12, 0, tzinfo=UTC), False),  # a Wednesday
    ],
)
def test_freeze_window_reads_cron_in_its_time_zone(at: datetime, expected: bool) -> None:
    window = policy.FreezeWindow("0 18 * * FRI", 63 * 3600.0, "Europe/Paris", "weekend")
    assert window.active(at) is expected
    rails = policy.Guardrails(policy.Budget(1, 60.0), (window,))
    assert (rails.frozen_by(at) is window) is expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("apps/checkout/values.yaml", True),
        ("./apps/checkout/deep/kustomization.yaml", True),
        ("apps/cart/values.yaml", True),
        ("apps/cart/sub/values.yaml", True),  # fnmatch's * crosses /
        ("apps/checkout-evil/values.yaml", False),
        ("apps/values.yaml", False),
    ],
)
def test_app_allowed_paths(path: str, expected: bool) -> None:
    from bot.settings import tree

    app = tree.AppSpec(name="x", repo="r", paths=("apps/checkout/", "apps/cart/*"))
    assert app.allows(path) is expected
