"""The display-only SLI trend (PR sparklines) from a real server, over the instant client."""

from __future__ import annotations

from slodefs import AVAILABILITY, END

from bot.act import message
from bot.clients import prometheus as promclient
from bot.observe import trend
from bot.sandbox import prometheus as promserver


def test_fast_burn_trend_rises_and_clean_stays_flat(prom_server: promserver.PrometheusServer) -> None:
    reader = promclient.RangeReader(promclient.PrometheusClient.connect(prom_server.url))
    try:
        burn = trend.error_ratio(reader, AVAILABILITY, "fast-burn", END)
        clean = trend.error_ratio(reader, AVAILABILITY, "clean", END)
    finally:
        reader.close()
    assert len(burn) == trend.POINTS + 1
    assert burn[0] is not None and burn[-1] is not None
    assert burn[0] < 0.001 and burn[-1] > 0.04  # 0.05% before the incident, 5% during it
    seen = [v for v in clean if v is not None]  # older fixture history is sparser: gaps stay gaps
    assert len(seen) >= 20 and all(v < 0.001 for v in seen)
    spark = message.sparkline(burn)
    assert spark[0] == "▁" and spark[-1] == "█"


def test_missing_app_and_unreachable_server_give_no_trend() -> None:
    # nothing listens on the discard port
    with promclient.PrometheusClient.connect("http://127.0.0.1:9") as client:
        assert trend.error_ratio(promclient.RangeReader(client), AVAILABILITY, "fast-burn", END) == ()
