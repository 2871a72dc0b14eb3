"""The SLOs the observe tests evaluate against the fixtures in fixtures/prometheus (shared values)."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot import model
from bot.observe import burnrate

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "prometheus"
END = 1_793_491_200  # fixtures/prometheus/generate.py END: every query is pinned here
DAY = 86400.0

ERRORS = 'sum by (app) (rate(http_requests_total{code=~"5.."}[{window}]))'
TOTAL = "sum by (app) (rate(http_requests_total[{window}]))"

AVAILABILITY = model.SLO(
    name="availability",
    objective=0.999,
    period=30 * DAY,
    error_query=ERRORS,
    total_query=TOTAL,
    windows=burnrate.windows_for(30 * DAY),
    scrape_interval=60.0,  # the fixtures' fine spacing
    source="slos.yaml:3",
)

# The demo's kind of short windows, for the 100-app batch (20 minutes of history).
BATCH = model.SLO(
    name="batch-availability",
    objective=0.999,
    period=30 * DAY,
    error_query=ERRORS,
    total_query=TOTAL,
    windows=(
        model.BurnWindow(model.Severity.PAGE, long=600, short=120, factor=14.4),
        model.BurnWindow(model.Severity.TICKET, long=900, short=300, factor=3.0),
    ),
    scrape_interval=60.0,
)

LATENCY = model.SLO(
    name="latency-p99",
    objective=0.99,
    period=30 * DAY,
    kind="threshold",
    value_query=(
        "histogram_quantile(0.99, sum by (app, le) (rate(http_request_duration_seconds_bucket[{window}])))"
    ),
    total_query="sum by (app) (rate(http_request_duration_seconds_count[{window}]))",
    threshold=0.5,
    comparison=">",
    scrape_interval=60.0,
)

HAVE_PROMETHEUS = bool(shutil.which("prometheus") and shutil.which("promtool"))
