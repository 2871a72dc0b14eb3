"""One Prometheus client, one set of credentials: the sparkline's range reader that wiring builds
sends the same bearer token / basic auth and headers as the instant client (issue 11 §5).

A real Prometheus sits behind ``authproxy.AuthProxy``, which answers 401 to any request without the
credential and the tenant header, as an authenticating ingress in front of Prometheus does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from authproxy import AuthProxy
from shipdefs import HAVE_PROMETHEUS, minimal

from bot import errors, settings
from bot.sandbox import prometheus as promserver
from bot.service import wiring

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAVE_PROMETHEUS, reason="prometheus not installed (make prometheus)"),
]

TENANT = "team-a"
AUTH = {
    "bearer": "  bearer_token: {env: PROM_TOKEN}\n",
    "basic": "  basic_auth: {username: githeal, password: {env: PROM_PASSWORD}}\n",
}


@pytest.fixture(scope="module")
def prom() -> Iterator[promserver.PrometheusServer]:
    with promserver.PrometheusServer() as server:
        yield server


def _runtime(tmp_path: Path, url: str, auth: str) -> wiring.Runtime:
    headers = f"  headers: {{X-Scope-OrgID: {TENANT}}}\n"
    path = tmp_path / "githeal.yaml"
    path.write_text(minimal(url, tmp_path / "work", prometheus_auth=headers + auth))
    return wiring.build(settings.load(path))


@pytest.mark.parametrize("mode", ["bearer", "basic"])
def test_range_reader_and_instant_client_share_credentials(
    prom: promserver.PrometheusServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("GITHEAL_ARGOCD_TOKEN", "argocd-token")
    monkeypatch.setenv("PROM_TOKEN", "s3cret-token")
    monkeypatch.setenv("PROM_PASSWORD", "s3cret-password")
    with AuthProxy(
        prom.url,
        bearer="s3cret-token" if mode == "bearer" else None,
        basic=("githeal", "s3cret-password") if mode == "basic" else None,
        tenant=TENANT,
    ) as proxy:
        rt = _runtime(tmp_path, proxy.url, AUTH[mode])
        try:
            now = time.time()
            assert rt.prometheus.query("vector(1)", now).series[0].value == 1.0
            assert rt.ranges is not None
            found = rt.ranges.series("vector(1)", now - 600, now, 60)
        finally:
            rt.close()
    assert [len(points) for points in found.values()] == [11]
    assert {path for path, _ in proxy.seen} == {"/api/v1/query", "/api/v1/query_range"}
    assert all(ok for _, ok in proxy.seen), proxy.seen


def test_without_credentials_both_readers_get_401(
    prom: promserver.PrometheusServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy really refuses: the passing test above is not passing for want of a check."""
    monkeypatch.setenv("GITHEAL_ARGOCD_TOKEN", "argocd-token")
    with AuthProxy(prom.url, bearer="s3cret-token", tenant=TENANT) as proxy:
        rt = _runtime(tmp_path, proxy.url, "")
        try:
            now = time.time()
            with pytest.raises(errors.PrometheusError) as instant:
                rt.prometheus.query("vector(1)", now)
            assert rt.ranges is not None
            with pytest.raises(errors.PrometheusError) as ranged:
                rt.ranges.series("vector(1)", now - 600, now, 60)
        finally:
            rt.close()
    assert instant.value.status == ranged.value.status == 401
    assert [ok for _, ok in proxy.seen] == [False, False]
