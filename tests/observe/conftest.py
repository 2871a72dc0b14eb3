"""Fixtures for the SLO engine: ONE real, backfilled Prometheus per session, and a fault proxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from promfaults import FaultProxy
from slodefs import FIXTURES, HAVE_PROMETHEUS

from bot.clients import prometheus as promclient
from bot.sandbox import prometheus as promserver


@pytest.fixture(scope="session")
def prom_server() -> Iterator[promserver.PrometheusServer]:
    if not HAVE_PROMETHEUS:
        pytest.skip("prometheus/promtool not installed (make prometheus)")
    with promserver.PrometheusServer(backfill=sorted(FIXTURES.glob("*.om"))) as server:
        yield server


@pytest.fixture(scope="session")
def proxy(prom_server: promserver.PrometheusServer) -> Iterator[FaultProxy]:
    with FaultProxy(prom_server.url) as p:
        yield p


@pytest.fixture
def faults(proxy: FaultProxy) -> Iterator[FaultProxy]:
    """The session proxy, cleared of faults and counts before and after each test."""
    proxy.reset()
    yield proxy
    proxy.reset()


@pytest.fixture
def client(faults: FaultProxy) -> Iterator[promclient.PrometheusClient]:
    with promclient.PrometheusClient.connect(faults.url, timeout=10.0) as c:
        yield c
