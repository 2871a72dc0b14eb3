"""Read an app's SLIs over the interval since a heal took effect: the evidence verification judges.

One instant query per SLO at the pinned, offset evaluation time, over exactly ``at - since`` seconds
(``queries.since_query``), classified like every other sample (slo-math.md 4.3) with the page tier's
minimum-events guard. Failures become QUERY_ERROR samples, never an exception and never recovery.
This module only reads; the verdict on what it read is ``verdict.slo_burning``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from bot import errors, model
from bot.clients import prometheus
from bot.observe import classify, collect, queries
from bot.verify import verdict

S = model.SampleState


def instant(now: datetime, offset: float) -> float:
    """The evaluation instant of a verification read: ``offset`` in the past, not rounded to a step,
    so ``verify.period`` + offset after Synced + Healthy the interval read is exactly the period."""
    return collect.evaluation_time(now.timestamp(), 0.0, offset)


def read(
    client: prometheus.PrometheusClient,
    slos: Sequence[model.SLO],
    app: str,
    since: datetime,
    at: float,
    *,
    timeout: float | None = None,
) -> dict[str, model.Sample]:
    """One sample per SLO of ``app`` over ``(since, at]`` (``at`` a unix time, already offset)."""
    window = math.floor(at - since.timestamp())
    out: dict[str, model.Sample] = {}
    for slo in slos:
        # rate() needs two samples inside the range: less than two scrapes is no evidence yet
        if window < 2 * slo.scrape_interval:
            detail = f"only {max(window, 0)}s of data since the heal took effect"
            out[slo.name] = model.Sample(app, slo.name, max(window, 0), S.NO_TRAFFIC, detail=detail)
            continue
        try:
            result = client.query(queries.since_query(slo, window), at, timeout)
        except errors.ClientError as exc:
            data = queries.failed(window, str(exc))
        else:
            if result.warnings:
                data = queries.failed(window, "warnings: " + "; ".join(result.warnings))
            else:
                data = queries.parse(slo, window, result.pairs())
        sample = classify.classify(app, slo, data, at=at, min_events=verdict.recovery_min_events(slo))
        out[slo.name] = model.Sample(
            sample.app, sample.slo, window, sample.state, sample.value, sample.total, sample.detail
        )
    return out
