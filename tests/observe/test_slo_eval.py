"""Pure tests of ``slo.evaluate``: only OK data breaches, partial data holds, recovery needs OK."""

from __future__ import annotations

import dataclasses
import math
from types import MappingProxyType

import pytest
from slodefs import AVAILABILITY, LATENCY

from bot import model
from bot.observe import collect, queries, slo

S = model.SampleState
AT = 50_000.0
WINDOWS = queries.windows_of(AVAILABILITY)  # 5m 30m 1h 2h 6h 1d 3d


def answer(window: float, ratios: dict[str, float], events: float = 1e7) -> queries.WindowData:
    return queries.WindowData(
        window=window,
        values=MappingProxyType(ratios),
        events=MappingProxyType(dict.fromkeys(ratios, events)),
        newest=MappingProxyType(dict.fromkeys(ratios, AT - 30)),
    )


def uniform(ratios_by_window: dict[float, float], app: str = "a") -> dict[float, queries.WindowData]:
    return {w: answer(w, {app: ratios_by_window.get(w, 0.0)}) for w in WINDOWS}


def test_clean_app_is_ok_and_recovered() -> None:
    report = slo.evaluate(AVAILABILITY, ["a"], uniform({}), AT)["a"]
    assert report.state is S.OK and not report.breaching
    assert slo.recovered(report)
    assert report.reason == "within budget"
    assert [s.window for s in report.samples] == list(WINDOWS)


def test_fast_burn_pages() -> None:
    report = slo.evaluate(AVAILABILITY, ["a"], uniform({300: 0.05, 3600: 0.02}), AT)["a"]
    assert report.page and not report.ticket and report.state is S.OK
    assert not slo.recovered(report)
    assert report.reason.startswith("page: 1h/5m 20x/50x > 14.4x")


def test_slow_burn_tickets_only() -> None:
    ratios = dict.fromkeys(WINDOWS, 0.004)
    report = slo.evaluate(AVAILABILITY, ["a"], uniform(ratios), AT)["a"]
    assert report.ticket and not report.page


@pytest.mark.parametrize("state", [S.NO_TRAFFIC, S.NO_SERIES, S.INVALID, S.STALE])
def test_non_ok_short_window_never_breaches(state: model.SampleState) -> None:
    data = uniform({w: 0.9 for w in WINDOWS})
    five = {
        S.NO_TRAFFIC: answer(300, {"a": math.nan}),
        S.NO_SERIES: answer(300, {}),
        S.INVALID: answer(300, {"a": math.inf}),
        S.STALE: dataclasses.replace(answer(300, {"a": 0.9}), newest=MappingProxyType({"a": AT - 3600})),
    }[state]
    report = slo.evaluate(AVAILABILITY, ["a"], {**data, 300: five}, AT)["a"]
    assert report.state is state
    assert not report.verdicts[0].firing  # the 1h/5m pair needs its 5m sample
    assert report.page  # the 6h/30m pair is on OK data and still pages
    assert not slo.recovered(report)


def test_query_error_holds_every_breach() -> None:
    data = uniform(dict.fromkeys(WINDOWS, 0.9))
    data[259200] = queries.failed(259200, "prometheus: timeout (HTTP 503)")
    report = slo.evaluate(AVAILABILITY, ["a"], data, AT)["a"]
    assert report.state is S.QUERY_ERROR
    assert not report.breaching
    assert any(v.firing for v in report.verdicts)  # the evidence stays visible
    assert "breach held" in report.reason and "timeout" in report.reason


def test_missing_window_is_a_query_error() -> None:
    data = uniform({})
    del data[1800]
    report = slo.evaluate(AVAILABILITY, ["a"], data, AT)["a"]
    assert report.state is S.QUERY_ERROR and "not queried" in report.reason


def test_low_traffic_guard_is_per_pair() -> None:
    data = uniform(dict.fromkeys(WINDOWS, 0.05))
    data[300] = answer(300, {"a": 0.05}, events=100)  # under 209 for 14.4x
    report = slo.evaluate(AVAILABILITY, ["a"], data, AT)["a"]
    assert report.state is S.NO_TRAFFIC
    assert not report.verdicts[0].firing and report.verdicts[1].firing


def test_every_expected_app_gets_a_report() -> None:
    reports = slo.evaluate(AVAILABILITY, ["a", "ghost"], uniform({}), AT)
    assert reports["ghost"].state is S.NO_SERIES and not reports["ghost"].breaching


def threshold_data(value: float, events: float = 1e4) -> dict[float, queries.WindowData]:
    w = queries.THRESHOLD_WINDOW
    return {w: dataclasses.replace(answer(w, {"a": value}, events), window=w)}


@pytest.mark.parametrize(
    ("comparison", "value", "breach"),
    [(">", 0.6, True), (">", 0.5, False), (">=", 0.5, True), ("<", 0.4, True), ("<=", 0.6, False)],
)
def test_threshold_comparisons(comparison: str, value: float, breach: bool) -> None:
    spec = dataclasses.replace(LATENCY, comparison=comparison)
    report = slo.evaluate(spec, ["a"], threshold_data(value), AT)["a"]
    assert report.state is S.OK and report.threshold_breach is breach
    assert slo.recovered(report) is not breach


def test_threshold_no_traffic_and_unknown_comparison() -> None:
    assert slo.evaluate(LATENCY, ["a"], threshold_data(math.nan), AT)["a"].state is S.NO_TRAFFIC
    assert slo.evaluate(LATENCY, ["a"], threshold_data(0.9, events=10), AT)["a"].state is S.NO_TRAFFIC
    odd = dataclasses.replace(LATENCY, comparison="!=")
    report = slo.evaluate(odd, ["a"], threshold_data(0.9), AT)["a"]
    assert report.state is S.INVALID and not report.threshold_breach


def test_short_windows_recovered_ignores_the_long_windows() -> None:
    after_rollback = uniform({3600: 0.05, 21600: 0.01, 86400: 0.004, 259200: 0.002})
    report = slo.evaluate(AVAILABILITY, ["a"], after_rollback, AT)["a"]
    assert not slo.recovered(report)  # long windows still hold the bad hour (ticket pairs fire)
    assert slo.short_windows_recovered(report, [model.Severity.PAGE])  # 5m and 30m are clean
    assert not slo.short_windows_recovered(report)  # 6h is the 3d/6h ticket pair's short window
    quiet = slo.evaluate(AVAILABILITY, ["a"], uniform({3600: 0.05, 86400: 0.004}), AT)["a"]
    assert slo.short_windows_recovered(quiet) and slo.recovered(quiet)  # MWMB resets on short windows
    no_long = {**uniform({}), 259200: answer(259200, {"a": math.nan})}
    report = slo.evaluate(AVAILABILITY, ["a"], no_long, AT)["a"]
    assert slo.short_windows_recovered(report, [model.Severity.PAGE]) and not slo.recovered(report)
    burning = slo.evaluate(AVAILABILITY, ["a"], uniform({300: 0.05}), AT)["a"]
    assert not slo.short_windows_recovered(burning)
    nan = slo.evaluate(AVAILABILITY, ["a"], {**uniform({}), 300: answer(300, {"a": math.nan})}, AT)["a"]
    assert not slo.short_windows_recovered(nan)


@pytest.mark.parametrize(
    ("now", "step", "offset", "expected"),
    [(1000.7, 30, 15, 975.0), (1020.0, 30, 15, 1005.0), (999.0, 0, 5, 994.0)],
)
def test_evaluation_time(now: float, step: float, offset: float, expected: float) -> None:
    assert collect.evaluation_time(now, step, offset) == expected
