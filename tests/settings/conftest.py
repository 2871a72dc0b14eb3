"""Fixtures for the settings tests: a small valid config written into a temp dir, and the CLI runner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot import cli

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "slo"

# Secrets the base config references; CLI tests run with exactly this environment added.
ENV = {"T_ARGO": "argo-token-value", "T_GH": "gh-token-value"}

BASE = """\
prometheus:
  url: http://127.0.0.1:9090
  timeout: 20s
argocd:
  url: http://127.0.0.1:8081
  token: {env: T_ARGO}
repos:
  manifests:
    url: ./manifests
    github: acme/manifests
github:
  base_url: http://127.0.0.1:9999/api/v3
  auth:
    token: {env: T_GH}
apps:
  checkout:
    paths: [apps/checkout/]
    slos: [avail]
    scaling: {min: 1, max: 5}
  cart:
    argocd_app: cart-prod
    paths: [apps/cart/**]
slos:
  - name: avail
    objective: 99.9
    ratio:
      errors: http_requests_total{code=~"5.."}
      total: http_requests_total
policies:
  - name: rollback
    apps: [checkout]
    when: {slo: {tier: page}}
    do: {rollback: {}}
    mode: auto
    merge: pr-automerge
guardrails:
  freeze:
    - {cron: "0 18 * * FRI", duration: 63h, timezone: Europe/Paris}
"""


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing ``needle`` (the expectation comes from the text itself)."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) >= nth, f"{needle!r} not in config"
    return hits[nth - 1]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp dir that is also the cwd, so messages show short relative paths like cfg.yaml."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


Invoke = Callable[..., Result]
LineOf = Callable[..., int]


@pytest.fixture
def base_config() -> str:
    return BASE


@pytest.fixture(name="line_of")
def line_of_fixture() -> LineOf:
    return line_of


@pytest.fixture
def invoke(workdir: Path) -> Invoke:
    def run(args: Sequence[str], env: dict[str, str | None] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(cli.main, list(args), env=ENV if env is None else env, catch_exceptions=True)

    return run
