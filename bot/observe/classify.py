"""Classify each (app, SLO, window) sample before anything may decide on it (slo-math.md 4.3).

OK needs a finite value, enough events and fresh data. Everything else is a named state that holds
the current decision: absence of evidence never heals and never counts as recovery. The checks run
in a fixed order so the most fundamental defect wins. Pure: no I/O, no clock reads (``at`` is given).
"""

from __future__ import annotations

import math

from bot import model
from bot.observe import queries

S = model.SampleState
# Float noise from extrapolating two series with identical timestamps stays far below this.
RATIO_SLACK = 1e-9


def stale_after(slo: model.SLO) -> float:
    """Newest sample older than two scrape intervals means the target stopped reporting."""
    return 2.0 * slo.scrape_interval


def classify(
    app: str,
    slo: model.SLO,
    data: queries.WindowData,
    *,
    at: float,
    min_events: float = 0.0,
) -> model.Sample:
    """The sample of ``app`` in one window's batched answer.

    Order: QUERY_ERROR (failed, or answered with warnings) > NO_SERIES (app absent) > INVALID
    (several series for one app) > STALE (up == 0, or newest sample too old) > NO_TRAFFIC (NaN, i.e.
    0/0) > INVALID (+-Inf, negative or > 1 for a ratio) > NO_TRAFFIC (fewer than ``min_events``) > OK.
    """
    is_ratio = slo.kind != "threshold"
    window = data.window if is_ratio else queries.THRESHOLD_WINDOW
    total = data.events.get(app)
    state, detail, value = _state(app, slo, data, at, min_events, is_ratio, total)
    return model.Sample(app, slo.name, window, state, value, total, detail)


def _state(
    app: str,
    slo: model.SLO,
    data: queries.WindowData,
    at: float,
    min_events: float,
    is_ratio: bool,
    total: float | None,
) -> tuple[model.SampleState, str, float | None]:
    """(state, detail, value) in the documented order; called once per app, SLO and window."""
    if data.error:
        return S.QUERY_ERROR, data.error, None
    value = data.values.get(app)
    if value is None:
        return S.NO_SERIES, f"no series for {slo.app_label}={app!r}", None
    if data.duplicates and app in data.duplicates:
        return S.INVALID, f"several series for {slo.app_label}={app!r}: the query must aggregate by it", None
    stale = _staleness(app, slo, data, at)
    if stale:
        return S.STALE, stale, value if math.isfinite(value) else None
    if math.isnan(value):
        return S.NO_TRAFFIC, "NaN: no events in the window (0/0)", None
    if math.isinf(value):
        return S.INVALID, f"{value}: errors without a matching total (label mismatch?)", None
    if is_ratio:
        if value < 0 or value > 1 + RATIO_SLACK:
            return S.INVALID, f"error ratio {value:g} outside [0, 1]", None
        value = min(value, 1.0)
    if min_events > 0 or (is_ratio and total is None):
        if total is None or math.isnan(total):
            return S.NO_TRAFFIC, "event count unknown", value
        if total < min_events:
            return S.NO_TRAFFIC, f"low traffic: {total:.0f} events < {min_events:.0f}", value
    return S.OK, "", value


def _staleness(app: str, slo: model.SLO, data: queries.WindowData, at: float) -> str:
    up = data.up.get(app)
    if up is not None and up == 0:
        return "up == 0 for its targets"
    if data.newest is None:
        return ""
    newest = data.newest.get(app)
    if newest is None:
        return "no sample within the lookback delta"
    age, limit = at - newest, stale_after(slo)
    if age > limit:
        return f"newest sample is {model.format_duration(age)} old (> {model.format_duration(limit)})"
    return ""


def threshold_min_events(slo: model.SLO) -> float:
    """A quantile at ``objective`` needs about ``k / (1 - objective)`` events to see ``k`` tail events."""
    if not slo.total_query:
        return 0.0
    budget = slo.budget
    return math.ceil(slo.min_events_k / budget) if 0 < budget < 1 else slo.min_events_k


def worst(states: list[model.SampleState]) -> model.SampleState:
    """The report state: OK only if every sample is OK, else the most serious defect present."""
    for state in SEVERITY_ORDER:
        if state in states:
            return state
    return S.OK


SEVERITY_ORDER = (S.QUERY_ERROR, S.STALE, S.INVALID, S.NO_SERIES, S.NO_TRAFFIC)
