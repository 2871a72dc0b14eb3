"""Pure table tests: every (app, SLO, window) sample state of slo-math.md section 4.3."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import pytest
from slodefs import AVAILABILITY, LATENCY

from bot import model
from bot.observe import classify, queries

S = model.SampleState
AT = 10_000.0


def data(
    value: float | None, events: float | None = 5000.0, newest: float | None = AT, **kw: Any
) -> queries.WindowData:
    values = {} if value is None else {"app": value}
    return queries.WindowData(
        window=300.0,
        values=MappingProxyType(values),
        events=MappingProxyType({} if events is None else {"app": events}),
        newest=MappingProxyType({} if newest is None else {"app": newest}),
        **kw,
    )


@pytest.mark.parametrize(
    ("window_data", "state", "fragment"),
    [
        (data(0.01), S.OK, ""),
        (data(0.0), S.OK, ""),
        (data(1.0), S.OK, ""),
        (data(math.nan), S.NO_TRAFFIC, "0/0"),
        (data(0.01, events=100.0), S.NO_TRAFFIC, "100 events < 209"),
        (data(0.01, events=None), S.NO_TRAFFIC, "unknown"),
        (data(math.inf), S.INVALID, "inf"),
        (data(-math.inf), S.INVALID, "inf"),
        (data(-0.01), S.INVALID, "outside"),
        (data(1.2), S.INVALID, "outside"),
        (data(None), S.NO_SERIES, "no series"),
        (data(0.01, newest=AT - 121), S.STALE, "2m1s old"),
        (data(0.01, newest=AT - 120), S.OK, ""),
        (data(0.01, newest=None), S.STALE, "lookback"),
        (data(0.01, up=MappingProxyType({"app": 0.0})), S.STALE, "up == 0"),
        (data(0.01, up=MappingProxyType({"app": 1.0})), S.OK, ""),
        (data(0.01, duplicates=frozenset({"app"})), S.INVALID, "several series"),
        (queries.failed(300.0, "prometheus: timeout"), S.QUERY_ERROR, "timeout"),
        # order: a failed query wins over everything; a stale target wins over NaN
        (data(math.nan, newest=AT - 600), S.STALE, "old"),
        (data(math.inf, events=1.0), S.INVALID, "inf"),
    ],
)
def test_states(window_data: queries.WindowData, state: model.SampleState, fragment: str) -> None:
    got = classify.classify("app", AVAILABILITY, window_data, at=AT, min_events=209)
    assert got.state is state
    assert fragment in got.detail
    assert (got.app, got.slo, got.window) == ("app", "availability", 300.0)
    if state is S.OK:
        assert got.value is not None and 0.0 <= got.value <= 1.0


def test_without_freshness_selector_only_up_decides_staleness() -> None:
    d = queries.WindowData(
        window=300.0, values=MappingProxyType({"app": 0.1}), events=MappingProxyType({"app": 1e4})
    )
    assert classify.classify("app", AVAILABILITY, d, at=AT).state is S.OK


def test_threshold_values_are_not_ratios() -> None:
    d = data(2.5, events=5000.0)
    got = classify.classify("app", LATENCY, d, at=AT, min_events=classify.threshold_min_events(LATENCY))
    assert got.state is S.OK and got.value == 2.5 and got.window == queries.THRESHOLD_WINDOW
    assert classify.threshold_min_events(LATENCY) == 300  # k / (1 - 0.99) tail events
    low = classify.classify("app", LATENCY, data(2.5, events=299.0), at=AT, min_events=300)
    assert low.state is S.NO_TRAFFIC


def test_worst_state_order() -> None:
    assert classify.worst([S.OK, S.OK]) is S.OK
    assert classify.worst([S.NO_TRAFFIC, S.QUERY_ERROR, S.STALE]) is S.QUERY_ERROR
    assert classify.worst([S.NO_TRAFFIC, S.NO_SERIES]) is S.NO_SERIES
