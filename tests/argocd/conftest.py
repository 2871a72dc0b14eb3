"""Fixtures for the Argo CD tests: real Git repos in temp dirs, a fake clock, the emulator on port 0."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from argokit import API_TOKEN, CHECKOUT, Clock, Repo, make_emulator

from bot.clients import argocd
from bot.sandbox.argocd import server, workload


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path)
    r.commit({"apps/checkout/app.yaml": CHECKOUT.replace("{tag}", "1.4.2")}, "checkout 1.4.2")
    return r


@pytest.fixture
def model() -> workload.DefaultModel:
    return workload.DefaultModel(rollout_delay=1.0, progress_deadline=30.0)


@pytest.fixture
def emulator(repo: Repo, clock: Clock, model: workload.DefaultModel) -> Iterator[server.ArgoCDEmulator]:
    with make_emulator(repo, clock, model) as emu:
        yield emu


@pytest.fixture
def http(emulator: server.ArgoCDEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=5.0) as client:
        yield client


@pytest.fixture
def client(http: httpx.Client) -> argocd.ArgoCDClient:
    return argocd.ArgoCDClient(http, token=API_TOKEN, refresh_timeout=10.0)
