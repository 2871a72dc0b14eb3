"""Desired-state rendering from real Git repos: revision resolution, directories, kustomize, Helm values."""

from __future__ import annotations

import pytest
from argokit import Repo

from bot.sandbox.argocd import rendering, workload

KUSTOMIZATION = """\
resources: [../base]
namespace: shop
images:
  - name: ghcr.io/acme/cart
    newTag: "2.0.1"
  - name: busybox
    newName: docker.io/library/busybox
    digest: sha256:abc
replicas:
  - name: cart
    count: 4
configMapGenerator:
  - name: cart-config
    literals: [MODE=fast, RETRIES=3]
patches:
  - patch: |
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: cart}
      spec:
        template:
          metadata:
            annotations: {restartedAt: "2026-04-10"}
"""
BASE = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart}
spec:
  replicas: 1
  template:
    spec:
      initContainers: [{name: init, image: busybox}]
      containers: [{name: cart, image: "ghcr.io/acme/cart:1.0.0"}]
"""


def _view(repo: Repo, path: str, **kw: object) -> dict[str, object]:
    sha = rendering.resolve(str(repo.bare), "main")
    rendered = rendering.render(str(repo.bare), sha, path, app="shop", namespace="dest", **kw)  # type: ignore[arg-type]
    return workload.live_view(sha, {r.key: r for r in rendered.resources}) | {"type": rendered.source_type}


def test_resolve_rules(repo: Repo) -> None:
    head = repo.git("rev-parse", "HEAD")
    repo.git("tag", "-a", "v1", "-m", "v1")
    repo.git("push", "-q", "origin", "v1")
    bare = str(repo.bare)
    assert (
        rendering.resolve(bare, "")
        == rendering.resolve(bare, "HEAD")
        == rendering.resolve(bare, "main")
        == head
    )
    assert (
        rendering.resolve(bare, "refs/heads/main") == rendering.resolve(bare, "v1") == head
    )  # annotated tag peeled
    assert rendering.resolve(bare, head[:9]) == head and rendering.resolve(bare, "f" * 40) == "f" * 40
    with pytest.raises(rendering.RenderError, match="unable to resolve 'nope' to a commit SHA"):
        rendering.resolve(bare, "nope")
    with pytest.raises(rendering.RenderError, match="semver"):
        rendering.resolve(bare, ">=1.0")


def test_directory(repo: Repo) -> None:
    view = _view(repo, "apps/checkout")
    assert view["type"] == "Directory" and view["configmaps"] == {"checkout": {"MODE": "fast"}}
    assert view["workloads"] == [
        {
            "kind": "Deployment",
            "name": "checkout",
            "namespace": "dest",
            "replicas": 2,
            "images": {"app": "ghcr.io/acme/checkout:1.4.2"},
            "annotations": {},
        }
    ]


def test_kustomize_images_replicas_generator_and_patch(repo: Repo) -> None:
    repo.commit(
        {
            "apps/cart/overlay/kustomization.yaml": KUSTOMIZATION,
            "apps/cart/base/kustomization.yaml": "resources: [d.yaml]\n",
            "apps/cart/base/d.yaml": BASE,
        }
    )
    view = _view(repo, "apps/cart/overlay")
    [cart] = view["workloads"]  # type: ignore[misc]
    assert view["type"] == "Kustomize" and cart["namespace"] == "shop" and cart["replicas"] == 4
    assert cart["images"] == {"cart": "ghcr.io/acme/cart:2.0.1"} and cart["annotations"] == {
        "restartedAt": "2026-04-10"
    }
    assert view["configmaps"] == {"cart-config": {"MODE": "fast", "RETRIES": "3"}}
    sha = rendering.resolve(str(repo.bare), "main")
    rendered = rendering.render(str(repo.bare), sha, "apps/cart/overlay", app="shop", namespace="dest")
    init = rendered.resources[0].manifest["spec"]["template"]["spec"]["initContainers"][0]
    assert init["image"] == "docker.io/library/busybox@sha256:abc"


def test_helm_values_through_the_key_map(repo: Repo) -> None:
    values = """\
image: {repository: ghcr.io/acme/catalog, tag: "3.1.0"}
replicaCount: 3
podAnnotations: {checksum/config: abc}
config: {CACHE_TTL: 30, FEATURE_X: true}
autoscaling: {enabled: true, minReplicas: 2, maxReplicas: 6}
"""
    repo.commit(
        {"apps/catalog/Chart.yaml": "name: catalog\nversion: 0.1.0\n", "apps/catalog/values.yaml": values}
    )
    view = _view(repo, "apps/catalog", helm_params={"image.tag": "3.2.0"})
    assert view["type"] == "Helm"
    assert view["workloads"] == [
        {
            "kind": "Deployment",
            "name": "shop",
            "namespace": "dest",
            "replicas": 3,
            "images": {"catalog": "ghcr.io/acme/catalog:3.2.0"},
            "annotations": {"checksum/config": "abc"},
        }
    ]
    assert view["configmaps"] == {"shop": {"CACHE_TTL": "30", "FEATURE_X": "true"}}
    assert view["hpas"] == {"shop": {"min": 2, "max": 6}}
    keys = rendering.HelmKeys(repository="app.image", tag="app.version", replicas="app.replicas")
    repo.commit({"apps/catalog/values.yaml": "app: {image: x/catalog, version: '9', replicas: 5}\n"})
    custom = _view(repo, "apps/catalog", helm_keys=keys)
    assert (
        custom["workloads"][0]["images"] == {"catalog": "x/catalog:9"}
        and custom["workloads"][0]["replicas"] == 5
    )  # type: ignore[index]


def test_render_errors_name_the_problem(repo: Repo) -> None:
    repo.commit(
        {"apps/bad/kustomization.yaml": "resources: [missing.yaml]\n", "apps/broken/x.yaml": "a: [unclosed\n"}
    )
    sha = rendering.resolve(str(repo.bare), "main")
    with pytest.raises(rendering.RenderError, match=r"missing\.yaml"):
        rendering.render(str(repo.bare), sha, "apps/bad", app="a", namespace="n")
    with pytest.raises(rendering.RenderError, match=r"apps/broken/x\.yaml"):
        rendering.render(str(repo.bare), sha, "apps/broken", app="a", namespace="n")
    with pytest.raises(rendering.RenderError, match="does not exist"):
        rendering.render(str(repo.bare), sha, "apps/none", app="a", namespace="n")
