"""Batched PromQL for SLOs: one instant query per (SLO x window) covering every app at once.

Each query returns several parts told apart by a ``githeal_part`` label (label_replace + or, exact
because the parts never share a label set): the errors-or-zero ratio (or a threshold SLI's value),
the event count for the minimum-events guard, the newest sample timestamp and ``up`` for staleness.
``parse`` splits a response back into a ``WindowData``. Pure: builds strings, never sends them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bot import model
from bot.observe import burnrate

PART = "githeal_part"
THRESHOLD_WINDOW = 0.0  # key of a threshold SLI's only query (model.Sample.window is 0 for them)
DEFAULT_THRESHOLD_LOOKBACK = 300.0

_INCREASE = re.compile(r"\bincrease\s*\(")
# A range selector in a template: optional metric name, optional {matchers}, then [{window}].
_RANGE_SELECTOR = re.compile(
    r"((?:[a-zA-Z_:][a-zA-Z0-9_:]*)?(?:\{(?:[^{}\"]|\"(?:[^\"\\]|\\.)*\")*\})?)\s*\[\{window\}\]"
)


def _empty() -> Mapping[str, float]:
    return MappingProxyType({})


@dataclass(frozen=True)
class BatchQuery:
    slo: str
    window: float  # seconds; THRESHOLD_WINDOW for a threshold SLI
    expr: str


@dataclass(frozen=True)
class WindowData:
    """One batched query's answer, split by part and keyed by app. ``error`` set means unusable."""

    window: float
    values: Mapping[str, float] = field(default_factory=_empty)  # ratio, or the threshold SLI's value
    events: Mapping[str, float] = field(default_factory=_empty)
    newest: Mapping[str, float] | None = None  # None: no selector to check freshness with
    up: Mapping[str, float] = field(default_factory=_empty)
    duplicates: frozenset[str] = field(default_factory=frozenset)
    error: str = ""


def render(template: str, window: float) -> str:
    # str.format would trip over PromQL's own braces, so substitute the one placeholder only.
    return template.replace("{window}", model.format_duration(window))


def windows_of(slo: model.SLO) -> tuple[float, ...]:
    if slo.kind == "threshold":
        return (THRESHOLD_WINDOW,)
    return burnrate.distinct_windows(slo.windows)


def threshold_lookback(slo: model.SLO) -> float:
    """A threshold SLI is read over the shortest configured window, else 5m."""
    shorts = [w.short for w in slo.windows]
    return min(shorts) if shorts else DEFAULT_THRESHOLD_LOOKBACK


def ratio_expr(slo: model.SLO, window: float) -> str:
    """``(errors or 0 * total) / total``: apps with traffic but no error series get 0, not absence."""
    err, total = render(slo.error_query, window), render(slo.total_query, window)
    return f"(({err}) or (0 * ({total}))) / ({total})"


def events_expr(slo: model.SLO, window: float) -> str:
    """Events in the window. ``increase`` templates are counts; rate-like ones are scaled by W.

    ``increase(x[W])`` is computed as ``rate(x[W]) * W`` by Prometheus, so both forms are exact.
    """
    lookback = window if window > 0 else threshold_lookback(slo)
    total = render(slo.total_query, lookback)
    if _INCREASE.search(slo.total_query):
        return f"({total})"
    return f"({total}) * {lookback:g}"


def freshness_selector(slo: model.SLO) -> str | None:
    """The raw series behind the SLI (first range selector of the total, else error/value query)."""
    for template in (slo.total_query, slo.error_query, slo.value_query):
        m = _RANGE_SELECTOR.search(template)
        if m and m.group(1).strip():
            return m.group(1).strip()
    return None


def _part(expr: str, name: str) -> str:
    return f'label_replace({expr}, "{PART}", "{name}", "", "")'


def _freshness(slo: model.SLO, parts: list[str]) -> str:
    label = slo.app_label
    selector = freshness_selector(slo)
    if selector:
        parts.append(_part(f"max by ({label}) (timestamp({selector}))", "newest"))
    parts.append(_part(f'min by ({label}) (up{{{label}!=""}})', "up"))
    return "\n  or ".join(parts)


def window_query(slo: model.SLO, window: float) -> str:
    """The whole batched expression for one (SLO, window)."""
    if slo.kind == "threshold":
        lookback = threshold_lookback(slo)
        parts = [_part(f"({render(slo.value_query, lookback)})", "value")]
        if slo.total_query:
            parts.append(_part(events_expr(slo, THRESHOLD_WINDOW), "events"))
    else:
        parts = [_part(ratio_expr(slo, window), "value"), _part(events_expr(slo, window), "events")]
    return _freshness(slo, parts)


def since_query(slo: model.SLO, window: float) -> str:
    """The SLI over exactly the last ``window`` seconds, whatever its kind (verification reads the
    interval since a heal took effect, so no burn-rate window can still remember the incident)."""
    if slo.kind == "threshold":
        parts = [_part(f"({render(slo.value_query, window)})", "value")]
        if slo.total_query:
            parts.append(_part(events_expr(slo, window), "events"))
    else:
        parts = [_part(ratio_expr(slo, window), "value"), _part(events_expr(slo, window), "events")]
    return _freshness(slo, parts)


def plan(slos: Iterable[model.SLO]) -> tuple[BatchQuery, ...]:
    """Every query of one cycle: one per (SLO x distinct window), independent of the number of apps."""
    return tuple(BatchQuery(slo.name, w, window_query(slo, w)) for slo in slos for w in windows_of(slo))


def parse(slo: model.SLO, window: float, series: Iterable[tuple[Mapping[str, str], float]]) -> WindowData:
    """Split ``(labels, value)`` pairs of a ``window_query`` answer into a ``WindowData``, in one pass."""
    values: dict[str, float] = {}
    events: dict[str, float] = {}
    newest: dict[str, float] = {}
    up: dict[str, float] = {}
    part_of = {"value": values, "events": events, "newest": newest, "up": up}.get
    label = slo.app_label
    duplicates: set[str] = set()
    for labels, value in series:
        part, app = part_of(labels.get(PART)), labels.get(label)  # type: ignore[arg-type]
        if part is None or not app:
            continue
        if app in part:
            # The template did not aggregate down to one series per app: no value can be trusted.
            duplicates.add(app)
        part[app] = value
    return WindowData(
        window=window,
        values=MappingProxyType(values),
        events=MappingProxyType(events),
        newest=MappingProxyType(newest) if freshness_selector(slo) else None,
        up=MappingProxyType(up),
        duplicates=frozenset(duplicates),
    )


def failed(window: float, reason: str) -> WindowData:
    return WindowData(window=window, error=reason or "query failed")
