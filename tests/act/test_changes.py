"""Where scale, restart and adopt edits land in real app layouts (the demo repo's three forms)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import errors
from bot.act import changes, edit

DEMO = Path(__file__).resolve().parents[2] / "bot" / "sandbox" / "demo-repo" / "apps"


def files(app: str) -> dict[str, str]:
    root = DEMO / app
    return {str(p.relative_to(DEMO.parent)): p.read_text() for p in sorted(root.rglob("*.yaml"))}


def changed_lines(before: str, after: str) -> list[int]:
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b)
    return [i + 1 for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


def test_scale_plain_deployment_edits_spec_replicas_only() -> None:
    f = files("checkout")
    fc = changes.scale(f, 5)
    [(path, text)] = fc.files.items()
    assert path == "apps/checkout/deployment.yaml"
    assert len(changed_lines(f[path], text)) == 1
    assert edit.read(text, edit.Target.replicas()) == 5


def test_scale_kustomize_prefers_the_overlay_replicas_entry() -> None:
    f = files("cart")
    fc = changes.scale(f, 4)
    assert list(fc.files) == ["apps/cart/kustomization.yaml"]
    assert "replicas" in fc.changes[0]


def test_scale_helm_values_replica_count_and_refuses_stale_expectation() -> None:
    f = {k: v for k, v in files("catalog").items() if not k.startswith("apps/catalog/templates/")}
    fc = changes.scale(f, 6)
    assert list(fc.files) == ["apps/catalog/values.yaml"]
    with pytest.raises(errors.ManifestError, match="re-plan"):
        changes.scale(f, 6, expect=99)


HPA = """apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  minReplicas: 2   # floor
  maxReplicas: 4
"""
DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: web:1
"""


def test_scale_writes_hpa_min_and_raises_max_when_needed_never_replicas() -> None:
    fc = changes.scale({"a/hpa.yaml": HPA, "a/deploy.yaml": DEPLOY}, 6)
    assert list(fc.files) == ["a/hpa.yaml"]
    text = fc.files["a/hpa.yaml"]
    assert edit.read(text, edit.Target.hpa("minReplicas")) == 6
    assert edit.read(text, edit.Target.hpa("maxReplicas")) == 6
    assert "# floor" in text


def test_restart_inserts_the_pod_template_annotation() -> None:
    fc = changes.restart({"a/deploy.yaml": DEPLOY}, "githeal.io/restartedAt", "2026-11-22T03:00:00+00:00")
    text = fc.files["a/deploy.yaml"]
    assert edit.read(text, edit.Target.annotation("githeal.io/restartedAt")) == "2026-11-22T03:00:00+00:00"
    with pytest.raises(errors.ManifestError):
        changes.restart({"a/hpa.yaml": HPA}, "githeal.io/restartedAt", "x")


def test_drift_and_adopt_write_live_values_back_where_git_defines_them() -> None:
    f = files("checkout")
    live = {
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {"containers": [{"name": "checkout", "image": "ghcr.io/acme/checkout:9.9.9"}]}
            },
        }
    }
    want = {
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {"containers": [{"name": "checkout", "image": "ghcr.io/acme/checkout:1.4.2"}]}
            },
        }
    }
    cm_live = {"data": {"PAYMENTS_TIMEOUT_MS": "5000"}}
    cm_want = {"data": {"PAYMENTS_TIMEOUT_MS": "2000"}}
    resources = [
        {
            "kind": "Deployment",
            "name": "checkout",
            "liveState": json.dumps(live),
            "targetState": json.dumps(want),
        },
        {
            "kind": "ConfigMap",
            "name": "checkout-config",
            "liveState": json.dumps(cm_live),
            "targetState": json.dumps(cm_want),
        },
        {"kind": "Service", "name": "checkout", "liveState": "null", "targetState": "{}"},
    ]
    drift = changes.drift(resources)
    assert {(d[1], d[2], d[3]) for d in drift} == {
        ("replicas", "", 3),
        ("image", "checkout", "ghcr.io/acme/checkout:9.9.9"),
        ("configmap", "PAYMENTS_TIMEOUT_MS", "5000"),
    }
    fc = changes.adopt(f, drift)
    assert edit.read(fc.files["apps/checkout/deployment.yaml"], edit.Target.replicas()) == 3
    assert (
        edit.read(fc.files["apps/checkout/configmap.yaml"], edit.Target.configmap("PAYMENTS_TIMEOUT_MS"))
        == "5000"
    )
    assert len(fc.changes) == 3
