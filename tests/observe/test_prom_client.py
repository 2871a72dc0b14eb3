"""The Prometheus client against the real server; MockTransport only for shapes it cannot produce."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from slodefs import END

from bot import errors
from bot.clients import prometheus as promclient
from bot.sandbox import prometheus as promserver

pytestmark = pytest.mark.prometheus


def test_instant_vector_is_keyed_by_labels(client: promclient.PrometheusClient) -> None:
    result = client.query('sum by (app) (rate(http_requests_total{app=~"clean|no-traffic"}[5m]))', END)
    assert result.result_type == "vector" and result.warnings == () and result.at == END
    values = result.by("app")
    assert values["clean"] == pytest.approx(10.0)
    assert values["no-traffic"] == 0.0
    assert all(s.timestamp == END for s in result.series)


def test_special_floats_and_scalars(client: promclient.PrometheusClient) -> None:
    result = client.query(
        "vector(0) / vector(0) or label_replace(vector(1) / vector(0), 'x', 'inf', '', '')", END
    )
    values = sorted(s.value for s in result.series)
    assert math.isnan(values[0]) or math.isnan(values[1])
    assert math.inf in values
    scalar = client.query("scalar(vector(2.5))", END)
    assert scalar.result_type == "scalar" and scalar.series[0].value == 2.5


def test_real_bad_data_error(client: promclient.PrometheusClient) -> None:
    with pytest.raises(errors.PrometheusError) as info:
        client.query("sum(", END)
    assert (info.value.status, info.value.error_type) == (400, "bad_data")
    assert "parse error" in str(info.value)


def test_query_range_for_sparklines(client: promclient.PrometheusClient) -> None:
    got = client.query_range('sum by (app) (rate(http_requests_total{app="clean"}[5m]))', END - 600, END, 60)
    (series,) = got.series
    assert series.labels == {"app": "clean"}
    assert len(series.points) == 11 and series.points[-1][0] == END
    assert all(v == pytest.approx(10.0) for _, v in series.points)


def test_ready(prom_server: promserver.PrometheusServer) -> None:
    with promclient.PrometheusClient.connect(prom_server.url) as client:
        assert client.ready() is True
        assert client.url == prom_server.url


def mock_client(handler: httpx.MockTransport, **kw: Any) -> promclient.PrometheusClient:
    return promclient.PrometheusClient.connect("http://prom.example:9090/", transport=handler, **kw)


def test_connect_sends_auth_and_pins_time() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": []}})

    with mock_client(
        httpx.MockTransport(handler), bearer_token="s3cret", headers={"X-Scope-OrgID": "t1"}
    ) as c:
        c.query("up", 1234.5, timeout=7)
    with mock_client(httpx.MockTransport(handler), basic_auth=("bot", "pw")) as c:
        c.query("up", 1.0)
    first, second = seen
    assert first.url == "http://prom.example:9090/api/v1/query" and first.method == "POST"
    assert first.headers["authorization"] == "Bearer s3cret" and first.headers["x-scope-orgid"] == "t1"
    assert first.content == b"query=up&time=1234.500&timeout=7s"
    assert second.headers["authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        (
            {"status": "success", "data": {"resultType": "string", "result": [1, "x"]}},
            "unsupported resultType",
        ),
        ({"status": "success", "data": {"resultType": "vector", "result": [{}]}}, "malformed"),
        ({"status": "success"}, "no data"),
        ([1, 2], "not a JSON object"),
        ({"status": "error", "errorType": "internal", "error": "boom"}, "internal: boom"),
    ],
)
def test_malformed_answers(response: object, fragment: str) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=response))
    with mock_client(transport) as c, pytest.raises(errors.PrometheusError) as info:
        c.query("up", 1.0)
    assert fragment in str(info.value)


def test_payload_is_truncated() -> None:
    body = {"status": "error", "errorType": "execution", "error": "x" * 5000}
    transport = httpx.MockTransport(lambda r: httpx.Response(422, json=body))
    with mock_client(transport) as c, pytest.raises(errors.PrometheusError) as info:
        c.query("up", 1.0)
    assert info.value.status == 422 and len(str(info.value)) < 700


def test_labels_named_like_the_answer_keys_stay_labels(client: promclient.PrometheusClient) -> None:
    """Samples are compacted while the answer is decoded (issue 10 P2); a series whose own labels are
    called ``metric`` and ``value`` (legal label names) must come back as labels, not as a sample."""
    expr = 'label_replace(label_replace(vector(3), "metric", "m", "", ""), "value", "v", "", "")'
    result = client.query(expr, END)
    assert [(dict(s.labels), s.value, s.timestamp) for s in result.series] == [
        ({"metric": "m", "value": "v"}, 3.0, END)
    ]
    assert result.by("value") == {"v": 3.0} and list(result.pairs()) == [({"metric": "m", "value": "v"}, 3.0)]
