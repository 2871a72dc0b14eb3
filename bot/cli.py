"""githeal's command line: a click group; ``BotError`` is caught in exactly one place (``_Group.invoke``).

Exit codes belong to the errors: 0 ok, 1 runtime failure, 2 bad config or usage. Commands
print results on stdout and problems on stderr, never a traceback for an error githeal knows.
This module only wires commands to the stages; it must not hold logic of its own.
"""

from __future__ import annotations

import os
import re
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from bot import errors, settings
from bot.record import log
from bot.service import audit, cycle, daemon, report, shards, wiring


class _Group(click.Group):
    """Turns every BotError into its message on stderr and its own exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except errors.BotError as exc:
            # ConfigError renders one ``file:line: key: message`` problem per line.
            click.echo(str(exc), err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group)
@click.version_option(package_name="githeal", prog_name="githeal")
def main() -> None:
    """githeal: heal GitOps apps by committing to Git, under policy and guardrails."""


@main.command()
@click.argument("config", type=click.Path(path_type=Path, dir_okay=True, exists=False))
@click.option(
    "--no-secrets",
    is_flag=True,
    help="Check secret references for shape only; do not require their variables or files.",
)
def validate(config: Path, no_secrets: bool) -> None:
    """Validate CONFIG (and its SLO and policy files); print every problem as file:line: key: message."""
    loaded = settings.load(config, check_secrets=not no_secrets)
    from_files = sum(1 for slo in loaded.slos.values() if not slo.source.startswith(f"{config}:"))
    parts = [
        f"{len(loaded.apps)} app{'s' * (len(loaded.apps) != 1)}",
        f"{len(loaded.slos)} SLO{'s' * (len(loaded.slos) != 1)} ({from_files} from slo_files)",
        f"{len(loaded.policies)} polic{'ies' if len(loaded.policies) != 1 else 'y'}",
        f"{len(loaded.repos)} repo{'s' * (len(loaded.repos) != 1)}",
    ]
    click.echo(f"{config}: OK: {', '.join(parts)}")
    if no_secrets:
        click.echo("secrets: not checked (--no-secrets)")
    elif loaded.unset_optional:
        click.echo(f"secrets: optional and unset: {', '.join(loaded.unset_optional)}")
    else:
        click.echo("secrets: all resolved")


def _instant(text: str) -> datetime:
    """``--at``: ISO 8601 (a naive time is UTC) or unix seconds; a usage error (exit 2) otherwise."""
    try:
        if re.fullmatch(r"\d+(\.\d+)?", text.strip()):
            return datetime.fromtimestamp(float(text), UTC)
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time or unix seconds", param_hint="--at"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _load(config: Path) -> settings.Settings:
    loaded = settings.load(config)
    log.configure(loaded.log.format, loaded.log.level)
    return loaded


@main.command()
@click.option(
    "--config", "config", required=True, type=click.Path(path_type=Path), help="githeal YAML config."
)
@click.option("--dry-run", is_flag=True, help="Observe and decide; print the exact diffs, write nothing.")
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--app", "apps", multiple=True, help="Only these apps (repeatable).")
@click.option("--wait/--no-wait", default=True, help="Wait for verification of heals made in this cycle.")
@click.option(
    "--at",
    "at",
    help="Evaluate at this instant instead of now: ISO 8601 (2026-11-01T00:00:00Z) or unix seconds.",
)
@click.option("--shard", help="Only the apps of shard i/N (as one replica of N would).")
@click.option("--all-apps", is_flag=True, help="Table: a row for every app, not only those that are not OK.")
def once(
    config: Path,
    dry_run: bool,
    output: str,
    apps: tuple[str, ...],
    wait: bool,
    at: str | None,
    shard: str | None,
    all_apps: bool,
) -> None:
    """Run one full cycle: observe, decide, act (unless --dry-run), verify."""
    instant = _instant(at) if at else None
    part = shards.parse(shard) if shard else None
    rt = wiring.build(_load(config))
    if instant is not None:
        rt.clock = lambda: instant
    engine = cycle.Engine(rt, shard=part)
    try:
        rep = engine.run_once(list(apps) or None, dry_run=dry_run)
        outcomes = engine.wait_verifications() if wait and not dry_run else {}
    finally:
        engine.close()
        rt.close()
    if output == "json":
        data = report.cycle_json(rep)
        data["verified"] = {k: {"success": o.success, "reason": o.reason} for k, o in outcomes.items()}
        click.echo(report.dumps(data))
    else:
        click.echo(report.cycle_table(rep, every_app=all_apps), nl=False)
        for heal, o in outcomes.items():
            click.echo(f"verify {heal}: {'success' if o.success else 'failure'}: {o.reason}")
    if any(not o.success for o in outcomes.values()):
        raise errors.BotError("a heal did not verify")


@main.command()
@click.option(
    "--config", "config", required=True, type=click.Path(path_type=Path), help="githeal YAML config."
)
@click.option("--shard", help="Evaluate only the apps of shard i/N (default: from the hostname's ordinal).")
@click.option(
    "--shards",
    "shards_count",
    type=click.IntRange(1),
    help="Number of shards (StatefulSet replicas); with it, the shard index is the hostname's ordinal.",
)
def run(config: Path, shard: str | None, shards_count: int | None) -> None:
    """Run the service: scheduled cycles, /healthz /readyz /metrics, webhooks; SIGTERM stops it."""
    part = shards.resolve(shard, shards_count, socket.gethostname(), os.environ)
    rt = wiring.build(_load(config))
    try:
        daemon.Service(rt, shard=part).run_forever()
    finally:
        rt.close()


@main.command("history")
@click.option("--repo", help="Manifest repo path or URL (default: the configured repos).")
@click.option("--config", "config", type=click.Path(path_type=Path), help="githeal YAML config.")
@click.option("--app", help="Only this app.")
@click.option("--since", help="Only heals newer than this duration ago (e.g. 7d) or ISO date.")
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def history_cmd(
    repo: str | None, config: Path | None, app: str | None, since: str | None, output: str
) -> None:
    """Every heal, read back from Git trailers, joined with its verification status."""
    records = audit.history(repo=repo, config=settings.load(config) if config else None, app=app, since=since)
    click.echo(
        report.dumps(report.history_json(records)) if output == "json" else report.history_table(records)
    )


@main.command()
@click.option("--keep", is_flag=True, help="Keep the sandbox's temp directory (repo, logs) for inspection.")
def demo(keep: bool) -> None:
    """The sandbox story: a bad deploy, a load spike and live drift, healed through Git end to end."""
    from bot.sandbox import demo as story  # the sandbox is only loaded for this command

    code = story.main(keep=keep)
    if code:
        raise SystemExit(code)


@main.command()
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
def drill(
    scenario: str, repeat: int, baseline: bool, output: str, time_scale: float, limit: float | None
) -> None:
    """Chaos drill: play SCENARIO (a name such as bad-deploy, or a file) and measure detection and MTTR."""
    from bot.sandbox import drill as drills

    tuning = drills.Tuning(time_scale=time_scale, limit=limit)
    code = drills.main(scenario, repeat=repeat, baseline=baseline, output_format=output, tuning=tuning)
    if code:
        raise SystemExit(code)
