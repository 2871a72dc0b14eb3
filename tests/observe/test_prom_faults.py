"""Faults between the bot and a real Prometheus: every one becomes QUERY_ERROR, never a breach.

The fault proxy answers with the error shapes Prometheus produces; the fast-burn app would page on
clean data, so a breach here would mean bad data was acted on.
"""

from __future__ import annotations

import httpx
import promfaults
import pytest
from promfaults import FaultProxy
from slodefs import AVAILABILITY, END, LATENCY

from bot import errors, model
from bot.clients import prometheus as promclient
from bot.observe import collect
from bot.sandbox import prometheus as promserver

pytestmark = pytest.mark.prometheus
S = model.SampleState
APPS = ["fast-burn", "clean", "lat-slow"]


def test_clean_path_pages_through_the_proxy(faults: FaultProxy, client: promclient.PrometheusClient) -> None:
    got = collect.collect_slos(client, [AVAILABILITY], ["fast-burn"], END)
    assert got["fast-burn"][0].page


@pytest.mark.parametrize(
    "case",
    [
        (promfaults.TIMEOUT, 503, "timeout", "query timed out"),
        (promfaults.TOO_MANY_SAMPLES, 422, "execution", "too many samples"),
        (promfaults.BAD_DATA, 400, "bad_data", "parse error"),
        (promfaults.NOT_JSON, 502, None, "not JSON"),
    ],
    ids=["503-timeout", "422-execution", "400-bad_data", "502-not-json"],
)
def test_error_answers(
    faults: FaultProxy,
    client: promclient.PrometheusClient,
    case: tuple[promfaults.Fault, int, str | None, str],
) -> None:
    fault, status, error_type, fragment = case
    faults.fault = fault
    with pytest.raises(errors.PrometheusError) as info:
        client.query("up", END)
    exc = info.value
    assert (exc.status, exc.error_type) == (status, error_type)
    assert exc.url == f"{faults.url}/api/v1/query"
    # Prometheus HTTP API: 400 bad parameters, 422 an expression that cannot be executed, 503 timed out
    # or aborted. Only the last clears by itself: 4xx are permanent, so retries never repeat them.
    assert fragment in str(exc) and exc.temporary is (status >= 500)
    got = collect.collect_slos(client, [AVAILABILITY, LATENCY], APPS, END)
    for app in APPS:
        for report in got[app]:
            assert report.state is S.QUERY_ERROR and not report.breaching, report.reason
            assert fragment in report.reason


def test_warnings_are_partial_data(faults: FaultProxy, client: promclient.PrometheusClient) -> None:
    faults.fault = promfaults.WARNINGS
    result = client.query("up", END)  # the client reports warnings; it does not judge them
    assert result.warnings == promfaults.WARNINGS.warnings
    got = collect.collect_slos(client, [AVAILABILITY], ["fast-burn"], END)
    (report,) = got["fast-burn"]
    assert report.state is S.QUERY_ERROR and not report.page
    assert "partial response" in report.reason


def test_one_failing_window_holds_that_slo_only(
    faults: FaultProxy, client: promclient.PrometheusClient
) -> None:
    faults.fault = promfaults.TIMEOUT
    faults.applies = lambda query: "[3d]" in query
    got = collect.collect_slos(client, [AVAILABILITY, LATENCY], ["fast-burn", "lat-slow"], END)
    avail = got["fast-burn"][0]
    assert avail.state is S.QUERY_ERROR and not avail.page  # held, although 1h/5m fires on OK data
    assert avail.verdicts[0].firing and "breach held" in avail.reason
    latency = got["lat-slow"][1]
    assert latency.state is S.OK and latency.threshold_breach  # the other SLO is unaffected


def test_client_side_timeout(faults: FaultProxy) -> None:
    faults.fault = promfaults.Fault(delay=0.5)
    http = httpx.Client(base_url=faults.url)
    with promclient.PrometheusClient(http, timeout=0.1, margin=0.1) as client:
        with pytest.raises(errors.PrometheusError) as info:
            client.query("up", END)
        assert info.value.error_type == "timeout" and info.value.status is None
        got = collect.collect_slos(client, [LATENCY], ["lat-slow"], END)
    assert got["lat-slow"][0].state is S.QUERY_ERROR


def test_connection_refused() -> None:
    url = f"http://127.0.0.1:{promserver.free_port()}"
    with promclient.PrometheusClient.connect(url, timeout=1.0) as client:
        assert client.ready() is False
        with pytest.raises(errors.PrometheusError) as info:
            client.query("up", END)
        assert info.value.error_type == "unavailable" and "ConnectError" in str(info.value)
        got = collect.collect_slos(client, [AVAILABILITY, LATENCY], APPS, END)
    assert all(r.state is S.QUERY_ERROR and not r.breaching for reports in got.values() for r in reports)
