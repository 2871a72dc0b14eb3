"""Pure tests of the batched PromQL text and of splitting an answer back into parts."""

from __future__ import annotations

import math

from slodefs import AVAILABILITY, BATCH, LATENCY

from bot import model
from bot.observe import queries


def test_render_substitutes_only_the_window_placeholder() -> None:
    got = queries.render('sum by (app) (rate(x{code=~"5..",a="{b}"}[{window}]))', 5400)
    assert got == 'sum by (app) (rate(x{code=~"5..",a="{b}"}[1h30m]))'


def test_one_query_per_slo_and_window_whatever_the_app_count() -> None:
    planned = queries.plan([AVAILABILITY, BATCH, LATENCY])
    assert [(q.slo, q.window) for q in planned] == [
        *[("availability", w) for w in (300, 1800, 3600, 7200, 21600, 86400, 259200)],
        *[("batch-availability", w) for w in (120, 300, 600, 900)],
        ("latency-p99", queries.THRESHOLD_WINDOW),
    ]
    assert all("app=" not in q.expr for q in planned)  # no per-app regex


def test_ratio_is_errors_or_zero_over_total() -> None:
    expr = queries.ratio_expr(AVAILABILITY, 300)
    errors = 'sum by (app) (rate(http_requests_total{code=~"5.."}[5m]))'
    total = "sum by (app) (rate(http_requests_total[5m]))"
    assert expr == f"(({errors}) or (0 * ({total}))) / ({total})"


def test_event_counts_scale_rates_and_keep_increases() -> None:
    assert queries.events_expr(AVAILABILITY, 3600) == "(sum by (app) (rate(http_requests_total[1h]))) * 3600"
    inc = model.SLO("x", 0.99, 86400, total_query="sum by (app) (increase(t_total[{window}]))")
    assert queries.events_expr(inc, 300) == "(sum by (app) (increase(t_total[5m])))"


def test_freshness_selector() -> None:
    assert queries.freshness_selector(AVAILABILITY) == "http_requests_total"
    assert queries.freshness_selector(LATENCY) == "http_request_duration_seconds_count"
    slo = model.SLO("x", 0.99, 86400, total_query='sum by (svc) (rate({__name__="t", a="}"}[{window}]))')
    assert queries.freshness_selector(slo) == '{__name__="t", a="}"}'
    recorded = model.SLO("x", 0.99, 86400, total_query="sum by (app) (app:requests:rate5m)")
    assert queries.freshness_selector(recorded) is None
    assert "timestamp" not in queries.window_query(recorded, 300)


def test_window_query_parts_and_app_label() -> None:
    slo = model.SLO(
        "x", 0.99, 86400, error_query="e[{window}]", total_query="t[{window}]", app_label="service"
    )
    expr = queries.window_query(slo, 300)
    for part in ("value", "events", "newest", "up"):
        assert f'"{queries.PART}", "{part}", "", ""' in expr
    assert "max by (service) (timestamp(t))" in expr
    assert 'min by (service) (up{service!=""})' in expr


def test_threshold_query_reads_the_lookback() -> None:
    expr = queries.window_query(LATENCY, queries.THRESHOLD_WINDOW)
    assert "[5m]" in expr and "[0s]" not in expr
    assert "(sum by (app) (rate(http_request_duration_seconds_count[5m]))) * 300" in expr


def test_parse_splits_parts_and_flags_duplicates() -> None:
    p = queries.PART
    series = [
        ({"app": "a", p: "value"}, 0.5),
        ({"app": "a", p: "events"}, 100.0),
        ({"app": "a", p: "newest"}, 1000.0),
        ({"app": "b", p: "value"}, math.nan),
        ({"app": "c", p: "value", "code": "200"}, 0.1),
        ({"app": "c", p: "value", "code": "500"}, 0.2),
        ({"app": "d", p: "up"}, 0.0),
        ({p: "value"}, 1.0),  # no app label: ignored
        ({"app": "e", p: "other"}, 1.0),  # unknown part: ignored
    ]
    data = queries.parse(AVAILABILITY, 300, series)
    assert dict(data.values).keys() == {"a", "b", "c"}
    assert data.events == {"a": 100.0}
    assert data.newest == {"a": 1000.0}
    assert data.up == {"d": 0.0}
    assert data.duplicates == {"c"}
    assert not data.error
