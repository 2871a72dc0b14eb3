"""Evaluate SLOs for every app from already-fetched batched answers: samples -> verdicts -> reports.

Only OK samples can breach. A page or ticket fires when one of its pairs has both windows OK and
above the threshold; a QUERY_ERROR anywhere in the SLO holds everything (no breach this tick).
``recovered`` is the only way to call an SLO healthy again, and it needs every sample OK.
Pure: no I/O and no clock reads; ``collect`` does the fetching and passes the pinned time in.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Iterable, Mapping

from bot import model
from bot.observe import burnrate, classify, queries

S = model.SampleState

COMPARISONS: Mapping[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def evaluate(
    slo: model.SLO,
    apps: Iterable[str],
    data: Mapping[float, queries.WindowData],
    at: float,
) -> dict[str, model.SLOReport]:
    """One report per app. ``data`` maps each window of ``queries.windows_of(slo)`` to its answer;
    a missing window counts as QUERY_ERROR for every app."""
    missing = {w: queries.failed(w, "window not queried") for w in queries.windows_of(slo) if w not in data}
    full = {**data, **missing}
    if slo.kind == "threshold":
        return {app: _threshold(slo, app, full[queries.THRESHOLD_WINDOW], at) for app in apps}
    guards = burnrate.window_min_events(slo.windows, slo.budget, slo.min_events_k)
    # what depends only on the SLO is worked out once, not once per app
    windows = tuple((w, full[w], guards.get(w, 0)) for w in queries.windows_of(slo))
    return {app: _ratio(slo, app, windows, at) for app in apps}


def _ratio(
    slo: model.SLO, app: str, windows: tuple[tuple[float, queries.WindowData, int], ...], at: float
) -> model.SLOReport:
    samples = {w: classify.classify(app, slo, data, at=at, min_events=guard) for w, data, guard in windows}
    budget, k = slo.budget, slo.min_events_k
    verdicts = tuple(
        burnrate.verdict(pair, samples[pair.long], samples[pair.short], budget, k) for pair in slo.windows
    )
    # Pair guards may turn an OK short sample into NO_TRAFFIC, so the state comes from the verdicts.
    used = [s for v in verdicts for s in (v.long, v.short)]
    state = classify.worst([s.state for s in used])
    hold = state is S.QUERY_ERROR
    page = not hold and burnrate.firing(verdicts, model.Severity.PAGE)
    ticket = not hold and burnrate.firing(verdicts, model.Severity.TICKET)
    return model.SLOReport(
        app,
        slo.name,
        state,
        page,
        ticket,
        False,
        verdicts,
        tuple(samples.values()),  # windows_of is shortest first
        _reason(state, page, ticket, verdicts, used),
    )


def _reason(
    state: model.SampleState,
    page: bool,
    ticket: bool,
    verdicts: tuple[model.WindowVerdict, ...],
    used: list[model.Sample],
) -> str:
    parts = []
    for severity, fired in ((model.Severity.PAGE, page), (model.Severity.TICKET, ticket)):
        if fired:
            pairs = [burnrate.describe(v) for v in verdicts if v.firing and v.window.severity is severity]
            parts.append(f"{severity}: " + "; ".join(pairs))
    if state is not S.OK:
        bad = min((s for s in used if s.state is state), key=lambda s: s.window)
        parts.append(f"{state} in {model.format_duration(bad.window)}: {bad.detail}".rstrip(": "))
        if state is S.QUERY_ERROR and any(v.firing for v in verdicts):
            parts.append("breach held: partial data this tick")
    return "; ".join(parts) or "within budget"


def _threshold(slo: model.SLO, app: str, data: queries.WindowData, at: float) -> model.SLOReport:
    sample = classify.classify(app, slo, data, at=at, min_events=classify.threshold_min_events(slo))
    compare = COMPARISONS.get(slo.comparison)
    if compare is None:
        sample = model.Sample(
            app, slo.name, sample.window, S.INVALID, detail=f"unknown comparison {slo.comparison!r}"
        )
    breach = False
    if sample.state is S.OK and sample.value is not None and compare is not None:
        breach = compare(sample.value, slo.threshold)
    if sample.state is not S.OK:
        reason = f"{sample.state}: {sample.detail}"
    else:
        verb = "breaches" if breach else "within"
        reason = f"{sample.value:.4g} {verb} {slo.comparison} {slo.threshold:g}"
    return model.SLOReport(
        app=app,
        slo=slo.name,
        state=sample.state,
        threshold_breach=breach,
        samples=(sample,),
        reason=reason,
    )


def recovered(report: model.SLOReport) -> bool:
    """True only on positive evidence: every needed sample OK and nothing firing."""
    return report.state is S.OK and bool(report.samples) and not report.breaching


def short_windows_recovered(report: model.SLOReport, severities: Collection[model.Severity] = ()) -> bool:
    """Verification view: every pair's short window is OK and under its threshold.

    After a rollback the long windows still hold the bad hour, so recovery is judged on the short
    windows only (slo-math.md section 5). ``severities`` limits the pairs considered (default all).
    Threshold SLIs fall back to ``recovered``.
    """
    if not report.verdicts:
        return recovered(report)
    pairs = [v for v in report.verdicts if not severities or v.window.severity in severities]
    if not pairs:
        return False
    for v in pairs:
        short = v.short
        if short.state is not S.OK or short.value is None or v.burn_short is None:
            return False
        if v.burn_short > v.window.factor:
            return False
    return True
