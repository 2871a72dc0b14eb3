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

    def sample(state: model.SampleState, detail: str = "", value: float | None = None) -> model.Sample:
        total = data.events.get(app)
        return model.Sample(app, slo.name, window, state, value=value, total=total, detail=detail)

    if data.error:
        return sample(S.QUERY_ERROR, data.error)
    if app not in data.values:
        return sample(S.NO_SERIES, f"no series for {slo.app_label}={app!r}")
    if app in data.duplicates:
        detail = f"several series for {slo.app_label}={app!r}: the query must aggregate by it"
        return sample(S.INVALID, detail)
    value = data.values[app]
    stale = _staleness(app, slo, data, at)
    if stale:
        return sample(S.STALE, stale, value if math.isfinite(value) else None)
    if math.isnan(value):
        return sample(S.NO_TRAFFIC, "NaN: no events in the window (0/0)")
    if math.isinf(value):
        return sample(S.INVALID, f"{value}: errors without a matching total (label mismatch?)")
    if is_ratio and (value < 0 or value > 1 + RATIO_SLACK):
        return sample(S.INVALID, f"error ratio {value:g} outside [0, 1]")
    value = min(value, 1.0) if is_ratio else value
    if min_events > 0 or (is_ratio and app not in data.events):
        total = data.events.get(app)
        if total is None or math.isnan(total):
            return sample(S.NO_TRAFFIC, "event count unknown", value)
        if total < min_events:
            return sample(S.NO_TRAFFIC, f"low traffic: {total:.0f} events < {min_events:.0f}", value)
    return sample(S.OK, "", value)


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
