"""Fixtures for the sandbox simulator tests: a static live world of the three demo apps."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from bot.sandbox import behaviour, live, scenario

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "bot" / "sandbox" / "demo-repo"
Locate = Callable[[Path, scenario.Target], Any]


def live_app(app: str, image: str, replicas: int = 2, config: dict[str, str] | None = None) -> live.LiveApp:
    return {
        "revision": "a" * 40,
        "workloads": [
            {
                "kind": "Deployment",
                "name": app,
                "namespace": "shop",
                "images": {app: image},
                "replicas": replicas,
                "annotations": {},
            }
        ],
        "configmaps": {f"{app}-config": dict(config or {})},
        "hpas": {},
    }


WORLD: dict[str, live.LiveApp] = {
    "checkout": live_app("checkout", "ghcr.io/acme/checkout:1.4.2", config={"PAYMENTS_TIMEOUT_MS": "2000"}),
    "cart": live_app("cart", "ghcr.io/acme/cart:2.1.0"),
    "catalog": live_app("catalog", "ghcr.io/acme/catalog:3.0.1"),
}


@pytest.fixture
def world_apps() -> dict[str, live.LiveApp]:
    return copy.deepcopy(WORLD)


@pytest.fixture
def world() -> live.StaticLiveSource:
    return live.StaticLiveSource(copy.deepcopy(WORLD))


@pytest.fixture
def specs() -> list[behaviour.AppSpec]:
    return [
        behaviour.AppSpec("checkout", rps=100, capacity=100, base_latency=0.05),
        behaviour.AppSpec("cart", rps=60, capacity=50, base_latency=0.05),
        behaviour.AppSpec("catalog", rps=10, capacity=50, base_latency=0.02),
    ]


@pytest.fixture
def demo() -> Path:
    return DEMO


@pytest.fixture
def locate() -> Locate:
    return _locate


def _locate(path: Path, target: scenario.Target) -> Any:
    """The current value at ``target`` in a manifest file (KeyError when it is not there)."""
    docs = [d for d in YAML(typ="safe").load_all(path.read_text()) if d is not None]
    if target.kind is not None:
        docs = [
            d
            for d in docs
            if d.get("kind") == target.kind and target.name in (None, d.get("metadata", {}).get("name"))
        ]
    node: Any = docs[0]
    if target.container is not None:
        containers = node["spec"]["template"]["spec"]["containers"]
        node = next(c for c in containers if c["name"] == target.container)
    for key, selector in target.segments():
        node = node[key] if key else node
        if selector is not None and "=" in selector:
            field, want = selector.split("=", 1)
            node = next(item for item in node if str(item.get(field)) == want)
        elif selector is not None:
            node = node[int(selector)]
    return node
