"""deploy/ renders with ``kubectl kustomize`` into the objects githeal needs beside Argo CD, locked
down (non-root, no privilege escalation, read-only root, no capabilities), its credentials only
referenced, and its ConfigMap's config valid for ``githeal validate`` (issue 11 §3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from shipdefs import DEPLOY, HAVE_KUBECTL

pytestmark = pytest.mark.skipif(not HAVE_KUBECTL, reason="kubectl not installed")

BASE_KINDS = {
    ("Namespace", "githeal"),
    ("ServiceAccount", "githeal"),
    ("StatefulSet", "githeal"),
    ("Service", "githeal"),
    ("NetworkPolicy", "githeal"),
    ("PodDisruptionBudget", "githeal"),
    ("ServiceMonitor", "githeal"),
    ("PrometheusRule", "githeal"),
}
SECRET_ENV = {
    "GITHEAL_ARGOCD_TOKEN": "argocd-token",
    "GITHEAL_GIT_TOKEN": "git-token",
    "GITHEAL_GITHUB_TOKEN": "github-token",
    "GITHEAL_ALERTMANAGER_TOKEN": "alertmanager-token",
    "GITHEAL_GITHUB_WEBHOOK_SECRET": "github-webhook-secret",
}


def render(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return [doc for doc in YAML(typ="safe").load_all(out) if doc]


def one(objs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, (kind, [o["metadata"]["name"] for o in found])
    return found[0]


def validate(config: str, tmp_path: Path, *, secrets: bool) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.yaml"
    path.write_text(config)
    env = {"PATH": "/usr/bin:/bin"} | ({k: "x" for k in SECRET_ENV} if secrets else {})
    cmd = [sys.executable, "-c", "from bot.cli import main; main()", "validate", str(path)]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return render(DEPLOY)


def test_base_renders_the_objects_githeal_needs_and_no_secret_values(base: list[dict[str, Any]]) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in base}
    assert kinds >= BASE_KINDS
    assert {k for k, _ in kinds} == {k for k, _ in BASE_KINDS} | {"ConfigMap"}  # no Secret object
    assert all(o["metadata"].get("namespace", "githeal") == "githeal" for o in base)
    sts = one(base, "StatefulSet")
    assert sts["spec"]["replicas"] == 1
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {n: e["valueFrom"]["secretKeyRef"]["key"] for n, e in env.items()} == SECRET_ENV
    assert all("value" not in e and e["valueFrom"]["secretKeyRef"]["name"] == "githeal" for e in env.values())


def test_pod_is_locked_down(base: list[dict[str, Any]]) -> None:
    pod = one(base, "StatefulSet")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    # the read-only root needs somewhere to write: clones on the volume, temp files on an emptyDir
    assert set(mounts) == {"/etc/githeal", "/var/lib/githeal", "/tmp"}
    assert mounts["/etc/githeal"]["readOnly"] is True
    assert container["args"] == ["run", "--config", "/etc/githeal/config.yaml"]
    assert container["image"].startswith("ghcr.io/acme/githeal:")


def test_network_policy_allows_only_the_dependencies(base: list[dict[str, Any]]) -> None:
    spec = one(base, "NetworkPolicy")["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert [p["port"] for rule in spec["ingress"] for p in rule["ports"]] == [8080]
    egress_ports = sorted({(p["port"], p["protocol"]) for rule in spec["egress"] for p in rule["ports"]})
    # DNS, Prometheus, Argo CD API, HTTPS and SSH to the Git host and GitHub
    assert egress_ports == [(22, "TCP"), (53, "TCP"), (53, "UDP"), (443, "TCP"), (8080, "TCP"), (9090, "TCP")]
    peers = [peer.get("podSelector", {}).get("matchLabels") for rule in spec["egress"] for peer in rule["to"]]
    assert peers == [
        {"k8s-app": "kube-dns"},
        {"app.kubernetes.io/name": "prometheus"},
        {"app.kubernetes.io/name": "argocd-server"},
        None,  # the ipBlock outside the cluster ranges
    ]


def test_service_monitor_and_service_agree(base: list[dict[str, Any]]) -> None:
    svc, sm = one(base, "Service"), one(base, "ServiceMonitor")
    assert [p["name"] for p in svc["spec"]["ports"]] == ["http"]
    assert sm["spec"]["endpoints"][0]["port"] == "http"
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    pdb = one(base, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= svc["spec"]["selector"].items()


@pytest.mark.parametrize("where", ["base", "overlays/production"])
def test_configmap_config_validates(where: str, tmp_path: Path) -> None:
    objs = render(DEPLOY / where)
    cms = [o for o in objs if o["kind"] == "ConfigMap" and "config.yaml" in o.get("data", {})]
    assert len(cms) == 1
    config = cms[0]["data"]["config.yaml"]
    ok = validate(config, tmp_path, secrets=True)
    assert ok.returncode == 0, ok.stderr
    assert "secrets: all resolved" in ok.stdout
    assert "listen: 0.0.0.0:8080" in config  # reachable by the Service, not only inside the pod
    missing = validate(config, tmp_path, secrets=False)  # every secret is a reference to the Secret
    assert missing.returncode == 2
    assert sorted(line.split("variable ")[1].split()[0] for line in missing.stderr.splitlines()) == sorted(
        SECRET_ENV
    )


def test_production_overlay_pins_the_image_by_digest_and_ships_the_dashboard() -> None:
    objs = render(DEPLOY / "overlays" / "production")
    image = one(objs, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert "@sha256:" in image
    dashboards = [o for o in objs if o["metadata"]["name"] == "githeal-dashboard"]
    assert dashboards[0]["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert '"uid": "githeal"' in dashboards[0]["data"]["githeal.json"]


def test_argocd_rbac_grants_get_and_sync_only() -> None:
    docs = list(YAML(typ="safe").load_all((DEPLOY / "argocd" / "argocd-rbac-cm.yaml").read_text()))
    rbac = next(d for d in docs if d["metadata"]["name"] == "argocd-rbac-cm")
    lines = [ln.split(", ") for ln in rbac["data"]["policy.csv"].splitlines() if ln.strip()]
    grants = {(ln[2], ln[3]) for ln in lines if ln[0] == "p"}
    assert grants == {("applications", "get"), ("applications", "sync")}
    assert all(ln[-1] == "allow" and ln[1] == "role:githeal" for ln in lines if ln[0] == "p")
    assert ["g", "githeal", "role:githeal"] in lines
    cm = next(d for d in docs if d["metadata"]["name"] == "argocd-cm")
    assert cm["data"] == {"accounts.githeal": "apiKey"}


def test_argocd_application_points_at_a_path_that_renders() -> None:
    app = YAML(typ="safe").load((DEPLOY / "argocd" / "application.yaml").read_text())
    assert app["kind"] == "Application"
    assert app["spec"]["destination"]["namespace"] == "githeal"
    path = DEPLOY.parent / app["spec"]["source"]["path"]
    assert {o["kind"] for o in render(path)} >= {k for k, _ in BASE_KINDS}
