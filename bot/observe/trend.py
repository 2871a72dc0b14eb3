"""The SLI over the last hour, per app, for the sparkline in heal PRs and verification comments.

Display only: gaps (no data, NaN) stay gaps and nothing here feeds a decision. One range query
per SLO covers all apps; the caller picks the app's series.
"""

from __future__ import annotations

import math

from bot import errors, model
from bot.clients import prometheus
from bot.observe import queries

POINTS = 30


def error_ratio(
    reader: prometheus.RangeReader, slo: model.SLO, app: str, end: float, span: float = 3600.0
) -> tuple[float | None, ...]:
    """``POINTS`` error-ratio values over ``span`` seconds ending at ``end`` (None where no data)."""
    if slo.kind != "ratio":
        return ()
    window = min((w.short for w in slo.windows), default=300.0)
    step = span / POINTS
    try:
        found = reader.series(queries.ratio_expr(slo, window), end - span, end, step)
    except errors.PrometheusError:
        return ()
    key = next((k for k in found if f"{slo.app_label}={app}" in k.split(",")), None)
    if key is None:
        return ()
    by_slot = {round((t - (end - span)) / step): v for t, v in found[key]}
    return tuple(
        v if (v := by_slot.get(i)) is not None and math.isfinite(v) else None for i in range(POINTS + 1)
    )
