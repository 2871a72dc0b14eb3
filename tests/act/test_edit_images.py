"""find_images / set_image: every image form a file uses, and pinning one revision's images onto another."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot import errors
from bot.act import edit

MIXED = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  template:
    spec:
      initContainers:
      - name: wait
        image: busybox:1.36@sha256:aaaa
      containers:
      - name: shop
        image: ghcr.io/acme/shop:2.0.0
      - name: proxy
        image: envoyproxy/envoy:v1.30.1
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: report
            image: ghcr.io/acme/report:7
"""

VALUES = """image:
  registry: docker.io
  repository: acme/web
  tag: "1.2.0"
  digest: ""
metrics:
  image:
    repository: prom/exporter
    tag: v0.15.0
sidecar:
  image: nginx:1.25
"""

KUSTOMIZATION = """images:
- name: web
  newName: registry.example.com/web
  newTag: v1
- name: db
  digest: sha256:1111
"""


def test_find_images_in_workloads() -> None:
    refs = edit.find_images(MIXED)
    assert [(r.target.container, r.value, r.line) for r in refs] == [
        ("wait", "busybox:1.36@sha256:aaaa", 10),
        ("shop", "ghcr.io/acme/shop:2.0.0", 13),
        ("proxy", "envoyproxy/envoy:v1.30.1", 15),
        ("report", "ghcr.io/acme/report:7", 28),
    ]
    assert all(r.target.doc is None and edit.read(MIXED, r.target) == r.value for r in refs)
    assert refs[3].target.resource == "CronJob"


def test_find_images_in_helm_values_and_kustomizations() -> None:
    refs = edit.find_images(VALUES)
    assert [(".".join(map(str, r.target.path)), r.field, r.value) for r in refs] == [
        ("image.registry", "registry", "docker.io"),
        ("image.repository", "repository", "acme/web"),
        ("image.tag", "tag", "1.2.0"),
        ("image.digest", "digest", ""),
        ("metrics.image.repository", "repository", "prom/exporter"),
        ("metrics.image.tag", "tag", "v0.15.0"),
        ("sidecar.image", "image", "nginx:1.25"),
    ]
    only_top = edit.find_images(VALUES, helm_paths=["image"])
    assert {r.group for r in only_top} == {"doc 0 values image"}
    refs = edit.find_images(KUSTOMIZATION)
    assert [(r.target.name, r.field, r.value) for r in refs] == [
        ("web", "newName", "registry.example.com/web"),
        ("web", "newTag", "v1"),
        ("db", "digest", "sha256:1111"),
    ]


def test_set_image_by_repository_and_by_container() -> None:
    result = edit.set_image(MIXED, "ghcr.io/acme/shop:2.0.1")
    assert result.old == "ghcr.io/acme/shop:2.0.0" and result.lines == (13,)
    result = edit.set_image(MIXED, "ghcr.io/acme/report@sha256:bbbb", container="report")
    assert "image: ghcr.io/acme/report@sha256:bbbb\n" in result.text and result.lines == (28,)


def test_set_image_refuses_ambiguity_and_unknowns() -> None:
    two = MIXED.replace("envoyproxy/envoy:v1.30.1", "ghcr.io/acme/shop:2.0.0")
    with pytest.raises(errors.ManifestError, match=r"ambiguous.*'shop'.*'proxy'"):
        edit.set_image(two, "ghcr.io/acme/shop:3")
    with pytest.raises(errors.ManifestError, match="not found"):
        edit.set_image(MIXED, "quay.io/other/thing:1")
    with pytest.raises(errors.ManifestError, match="neither a tag nor a digest"):
        edit.set_image(MIXED, "ghcr.io/acme/shop")


def test_set_image_in_helm_values_splits_registry_and_clears_digest() -> None:
    result = edit.set_image(VALUES, "docker.io/acme/web:1.3.0")
    assert result.text == VALUES.replace('tag: "1.2.0"', 'tag: "1.3.0"')
    assert result.old == "docker.io/acme/web:1.2.0"
    pinned = edit.set_image(VALUES, "docker.io/acme/web@sha256:cccc").text
    assert 'digest: "sha256:cccc"' in pinned
    back = edit.set_image(pinned, "docker.io/acme/web:1.2.1")
    assert 'tag: "1.2.1"\n  digest: ""\n' in back.text and back.lines == (4, 5)
    moved = edit.set_image(VALUES, "quay.io/acme/web:9", container="image")
    assert 'registry: quay.io\n  repository: acme/web\n  tag: "9"\n' in moved.text
    assert edit.set_image(VALUES, "nginx:1.26").text == VALUES.replace("nginx:1.25", "nginx:1.26")


def test_set_image_in_kustomization() -> None:
    result = edit.set_image(KUSTOMIZATION, "registry.example.com/web:v2")
    assert result.text == KUSTOMIZATION.replace("newTag: v1", "newTag: v2")
    # A tag for an entry that pins a digest: the tag is added and the stale digest emptied.
    result = edit.set_image(KUSTOMIZATION, "db:15", container="db")
    assert result.text == KUSTOMIZATION.replace("  digest: sha256:1111\n", '  digest: ""\n  newTag: "15"\n')


def test_pin_images_back_to_a_good_revision() -> None:
    """What the rollback pin-image strategy does: the good revision's values, set on today's file."""
    good = MIXED
    bad = edit.set_image(
        edit.set_image(good, "ghcr.io/acme/shop:2.1.0").text, "envoyproxy/envoy:v1.31.0"
    ).text
    bad = bad.replace("  name: shop\n", "  name: shop\n  labels: {tier: web}\n")  # an unrelated later change
    wanted = {r.target: r.value for r in edit.find_images(good)}
    text = bad
    for ref in edit.find_images(bad):
        if wanted[ref.target] != ref.value:
            text = edit.apply(text, ref.target, wanted[ref.target]).text
    assert text == good.replace("  name: shop\n", "  name: shop\n  labels: {tier: web}\n")


def test_corpus_images_are_all_found(
    corpus: Path, corpus_targets: dict[str, list[dict[str, Any]]], read: Callable[[Path], str]
) -> None:
    """Every container and kustomize image target of the corpus, and every Helm ``*.image.*`` one,
    is listed by find_images at its line with its current value."""
    expected = missing = 0
    for file, items in corpus_targets.items():
        text = read(corpus / file)
        refs = {(r.line, r.value) for r in edit.find_images(text, filename=file)}
        for t in items:
            loc = t["locator"]
            helm_image = "doc" not in loc and "image" in loc.get("path", [])
            if t["kind"] != "image" or not ("container" in loc or "images_name" in loc or helm_image):
                continue
            expected += 1
            value = t["current"].strip("\"'")
            missing += (t["line"], value) not in refs
    assert expected > 100 and missing == 0
