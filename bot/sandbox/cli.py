"""The sandbox's commands (``githeal demo``, ``githeal drill``), loaded only when one of them runs.

``bot.cli`` names them in ``SANDBOX_COMMANDS`` and imports this module by name on first use (click's
lazy-loading pattern), so the product path never imports ``bot.sandbox`` and the service image can
ship without the ``githeal[sandbox]`` extra. This module only parses options: the stories live in
``demo`` and ``drill``.
"""

from __future__ import annotations

import click

from bot.sandbox import demo as story
from bot.sandbox import drill as drills
from bot.sandbox import localserver


@click.command()
@click.option("--keep", is_flag=True, help="Keep the sandbox's temp directory (repo, logs) for inspection.")
def demo(keep: bool) -> None:
    """The sandbox story: a bad deploy, a load spike and live drift, healed through Git end to end."""
    with localserver.stop_on_sigterm():
        code = story.main(keep=keep)
    if code:
        raise SystemExit(code)


@click.command()
@click.argument("scenario")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(1, 50))
@click.option("--baseline", is_flag=True, help="The bot off: what GitOps alone does with the same failure.")
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--time-scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 10.0),
    help="Shrink the scenario's delays, hold times and limits (e.g. 0.3 for a quick run).",
)
@click.option("--limit", type=click.FloatRange(1.0), help="Override the run's total time limit (seconds).")
@click.option(
    "--trigger",
    type=click.Choice(drills.TRIGGERS),
    default="regression",
    show_default=True,
    help="regression: roll back on a regression since the deploy; burn-rate: burn-rate policies only.",
)
@click.option("--scrape-interval", default=5.0, show_default=True, type=click.FloatRange(0.5, 60.0))
def drill(
    scenario: str,
    repeat: int,
    baseline: bool,
    output: str,
    time_scale: float,
    limit: float | None,
    trigger: str,
    scrape_interval: float,
) -> None:
    """Chaos drill: play SCENARIO (a name such as bad-deploy, or a file) and measure detection and MTTR."""
    tuning = drills.Tuning(
        time_scale=time_scale, limit=limit, trigger=trigger, scrape_interval=f"{scrape_interval:g}s"
    )
    with localserver.stop_on_sigterm():
        code = drills.main(scenario, repeat=repeat, baseline=baseline, output_format=output, tuning=tuning)
    if code:
        raise SystemExit(code)
