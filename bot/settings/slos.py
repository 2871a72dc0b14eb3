"""SLOs in githeal's own config form -> ``model.SLO``, and the burn-rate tier catalog they share.

Tiers are budget fractions (SRE workbook: page 2%/1h+5m, 5%/6h+30m; ticket 10%/1d+2h, 10%/3d+6h)
whose factor is recomputed for the SLO period: factor = fraction * period / long window (14.4/6/3/1
at 30d, 13.44/5.6/2.8/0.933 at 28d). Pure functions: no file or environment access here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot import model
from bot.settings import rules


def windows(
    period: float, configured: Sequence[rules.WindowConfig] | None = None
) -> tuple[model.BurnWindow, ...]:
    """The MWMB tiers of an SLO: the workbook catalog, or the configured ones (factor or budget %)."""
    if configured is None:
        return model.tier_windows(period)
    out = []
    for w in configured:
        if w.factor is not None:
            burn = w.factor
        else:
            assert w.budget_percent is not None  # exactly one is set (schema)
            burn = model.burn_factor(fraction(w.budget_percent), period, w.long)
        out.append(model.BurnWindow(model.Severity(w.severity), w.long, w.short, burn))
    return tuple(out)


def never_firing(slo: model.SLO) -> list[str]:
    """Why tiers of ``slo`` can never fire: with factor * budget >= 1 even 100% errors stay below."""
    out = []
    for w in slo.windows:
        product = w.factor * slo.budget
        if product >= 1.0:
            out.append(
                f"SLO {slo.name!r}: {w.severity} tier {w.name} can never fire: factor {w.factor:.4g} x "
                f"budget {slo.budget:.4g} = {product:.3g} >= 1 (even 100% errors stay below the threshold); "
                "raise the objective or give this tier a smaller factor / budget_percent"
            )
    return out


def fraction(percent: float) -> float:
    """99.9 -> 0.999 exactly as written (plain division gives 0.9990000000000001)."""
    return round(percent / 100.0, 12)


def rate_sum(selector: str, app_label: str, app: str | None = None) -> str:
    """``sum by (app) (rate(<selector>[{window}]))``; for a single known app, label the series with it."""
    inner = "rate(" + selector + "[{window}])"
    if app is None:
        return f"sum by ({app_label}) ({inner})"
    return label_app(f"sum({inner})", app_label, app)


def label_app(query: str, app_label: str, app: str) -> str:
    """Give an unlabelled (single-service) query's series the app label, so it joins per app."""
    return f'label_replace({query}, "{app_label}", "{app}", "", "")'


def _series(histogram: str, suffix: str, extra: str = "") -> str:
    """``name{m}`` -> ``name_<suffix>{m, extra}``."""
    name, brace, matchers = histogram.partition("{")
    inner = matchers.rstrip()[:-1].strip().rstrip(",") if brace else ""
    joined = ", ".join(x for x in (inner, extra) if x)
    return f"{name}_{suffix}{{{joined}}}" if joined else f"{name}_{suffix}"


def le_matcher(le: str) -> str:
    """The ``le`` bucket, however the exporter or Prometheus spelled the bound: client libraries print
    ``1`` or ``0.3``, Prometheus 3 normalises classic-histogram ``le`` values on ingestion to ``1.0``."""
    bound = float(le)
    spellings = {le, repr(bound), f"{bound:g}"}
    if bound.is_integer():
        spellings |= {str(int(bound)), f"{int(bound)}.0"}
    alternatives = "|".join(sorted(re.escape(x) for x in spellings)).replace("\\", "\\\\")
    return f'le=~"{alternatives}"'


def latency_queries(latency: rules.LatencySLI, app_label: str) -> tuple[str, str]:
    """(slow requests, all requests) per app: the ``_count`` minus the ``le`` bucket, never below 0.

    An app whose bucket series is missing has no slow requests in this form (``or 0 * total`` in the
    ratio): a misspelt bound can hide slowness but never fires a heal on absent data."""
    total = rate_sum(_series(latency.histogram, "count"), app_label)
    good = rate_sum(_series(latency.histogram, "bucket", le_matcher(latency.le)), app_label)
    return f"clamp_min({total} - {good}, 0)", total


def from_config(cfg: rules.SLOConfig, *, app_label: str, scrape_interval: float, source: str) -> model.SLO:
    """One SLO of the ``slos:`` list, with query templates containing ``{window}``."""
    label = cfg.app_label or app_label
    if cfg.threshold is not None:
        return model.SLO(
            name=cfg.name,
            # A threshold SLI has no error budget; 0 keeps budget maths well defined and inert.
            objective=fraction(cfg.objective or 0.0),
            period=cfg.period,
            kind="threshold",
            value_query=cfg.threshold.query,
            threshold=cfg.threshold.threshold,
            comparison=cfg.threshold.comparison,
            app_label=label,
            min_events_k=cfg.min_events,
            scrape_interval=scrape_interval,
            source=source,
        )
    ratio = cfg.ratio
    assert cfg.objective is not None  # schema: exactly one SLI, ratio and latency have an objective
    if cfg.latency is not None:
        error_query, total_query = latency_queries(cfg.latency, label)
    elif ratio is None:
        raise AssertionError("schema: an SLO has exactly one SLI")
    elif ratio.errors is not None and ratio.total is not None:
        error_query, total_query = rate_sum(ratio.errors, label), rate_sum(ratio.total, label)
    else:
        assert ratio.error_query is not None and ratio.total_query is not None
        error_query, total_query = ratio.error_query, ratio.total_query
    return model.SLO(
        name=cfg.name,
        objective=fraction(cfg.objective),
        period=cfg.period,
        kind="ratio",
        error_query=error_query,
        total_query=total_query,
        windows=windows(cfg.period, cfg.windows),
        app_label=label,
        min_events_k=cfg.min_events,
        scrape_interval=scrape_interval,
        source=source,
    )
