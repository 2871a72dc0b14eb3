"""githeal's command line: a click group; ``BotError`` is caught in exactly one place (``_Group.invoke``).

Exit codes belong to the errors: 0 ok, 1 runtime failure, 2 bad config or usage. Commands
print results on stdout and problems on stderr, never a traceback for an error githeal knows.
This module only wires commands to the stages; it must not hold logic of its own.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import re
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

# githeal's own imports build a few hundred thousand long-lived objects (pydantic schemas, classes):
# the cyclic collections they would trigger walk them again and again for nothing (~40 ms of every
# process start, issue 10 P1). No collection while they load; then they are frozen out of later ones.
_collecting = gc.isenabled()
gc.disable()
from bot import errors, model, settings  # noqa: E402
from bot.act import message  # noqa: E402
from bot.record import log  # noqa: E402
from bot.service import cycle, report, shards, wiring  # noqa: E402

gc.freeze()
if _collecting:
    gc.enable()

# At exit the interpreter runs the cyclic collector over every object still alive before freeing them
# (70 ms after a 1,000-app cycle): an ending CLI process needs none of it. Frozen objects are still
# freed by reference counting and every atexit hook and finalizer registered later still runs.
atexit.register(gc.freeze)

# Commands that live in the sandbox extra, loaded by module name on first use so the product path
# (and its import-linter contract) never imports bot.sandbox. Descriptions shown by --help without loading.
SANDBOX_MODULE = "bot.sandbox.cli"
SANDBOX_COMMANDS = {
    "demo": "The sandbox story: a bad deploy, a load spike and live drift, healed end to end.",
    "drill": "Chaos drill: play a scenario (e.g. bad-deploy) and measure detection and MTTR.",
}
_LISTING = "githeal.listing"
SANDBOX_HINT = "githeal {name} needs the sandbox extra: pip install 'githeal[sandbox]' ({missing} is missing)"


class _Group(click.Group):
    """Turns every BotError into its message on stderr and its exit code; loads sandbox commands lazily."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *SANDBOX_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SANDBOX_COMMANDS:
            return super().get_command(ctx, cmd_name)
        stub = click.Command(cmd_name, short_help=SANDBOX_COMMANDS[cmd_name])
        if ctx.meta.get(_LISTING):
            return stub
        try:
            module = importlib.import_module(SANDBOX_MODULE)
        except ImportError as exc:
            if ctx.resilient_parsing:
                return stub  # shell completion must not print
            click.echo(SANDBOX_HINT.format(name=cmd_name, missing=exc.name or exc), err=True)
            ctx.exit(2)
        command = getattr(module, cmd_name)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        ctx.meta[_LISTING] = True  # --help lists the sandbox commands without importing them
        try:
            super().format_commands(ctx, formatter)
        finally:
            ctx.meta[_LISTING] = False

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except errors.BotError as exc:
            # ConfigError renders one ``file:line: key: message`` problem per line.
            click.echo(str(exc), err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group)
@click.version_option(package_name="githeal", prog_name="githeal", message="%(prog)s %(version)s")
def main() -> None:
    """githeal: heal GitOps apps by committing to Git, under policy and guardrails.

    Shell completion: eval "$(_GITHEAL_COMPLETE=bash_source githeal)" (zsh_source, fish_source).
    """


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
    if loaded.templates is not None and (bad := message.check_overrides(loaded.templates)):
        raise errors.ConfigError([errors.Problem(str(config), None, "templates", text) for text in bad])
    from_files = sum(1 for slo in loaded.slos.values() if not slo.source.startswith(f"{config}:"))
    parts = [
        f"{len(loaded.apps)} app{'s' * (len(loaded.apps) != 1)}",
        f"{len(loaded.slos)} SLO{'s' * (len(loaded.slos) != 1)} ({from_files} from slo_files)",
        f"{len(loaded.policies)} polic{'ies' if len(loaded.policies) != 1 else 'y'}",
        f"{len(loaded.repos)} repo{'s' * (len(loaded.repos) != 1)}",
    ]
    if loaded.credential_templates:
        n = len(loaded.credential_templates)
        parts.append(f"{n} credential template{'s' * (n != 1)}")
    click.echo(f"{config}: OK: {', '.join(parts)}")
    if no_secrets:
        click.echo("secrets: not checked (--no-secrets)")
    elif loaded.unset_optional:
        click.echo(f"secrets: optional and unset: {', '.join(loaded.unset_optional)}")
    else:
        click.echo("secrets: all resolved")


def _instant(text: str, hint: str = "--at") -> datetime:
    """``--at``: ISO 8601 (a naive time is UTC) or unix seconds; a usage error (exit 2) otherwise."""
    try:
        if re.fullmatch(r"\d+(\.\d+)?", text.strip()):
            return datetime.fromtimestamp(float(text), UTC)
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time or unix seconds", param_hint=hint
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
    with cycle.quiet_gc():  # the report is as many short-lived objects as the cycle
        if output == "json":
            data = report.cycle_json(rep)
            data["verified"] = {k: {"success": o.success, "reason": o.reason} for k, o in outcomes.items()}
            _print_json(data)
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
        from bot.service import daemon  # the HTTP server (uvicorn, starlette): only ``run`` needs it

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
    from bot.service import audit  # only ``history`` reads the audit trail

    records = audit.history(repo=repo, config=settings.load(config) if config else None, app=app, since=since)
    if output == "json":
        _print_json(report.history_json(records))
        return
    click.echo(report.history_table(records))


def _print_json(data: object) -> None:
    """``data`` as JSON on stdout, written as it is encoded (a 10,000-app report is 15 MB), and a newline."""
    sys.stdout.flush()
    out = sys.stdout.buffer
    report.write_json(data, out.write)
    out.write(b"\n")
    out.flush()


def _since(text: str, until: datetime) -> datetime:
    """``--since``: a duration back from ``--until`` (``7d``) or an instant; exit 2 otherwise."""
    try:
        return until - timedelta(seconds=model.parse_duration(text))
    except ValueError:
        pass
    try:
        return _instant(text, "--since")
    except click.BadParameter:
        raise click.BadParameter(
            f"{text!r} is neither a duration (7d, 12h) nor an ISO 8601 time or unix seconds",
            param_hint="--since",
        ) from None


@main.command("backtest")
@click.option(
    "--config", "config", required=True, type=click.Path(path_type=Path), help="githeal YAML config."
)
@click.option("--since", "since", required=True, help="Start: a duration before --until (7d) or a time.")
@click.option("--until", "until", help="End: ISO 8601 or unix seconds (default: now).")
@click.option("--policy", "policies", multiple=True, help="Only these policies (repeatable).")
@click.option("--app", "apps", multiple=True, help="Only these apps (repeatable).")
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--svg", "svg", type=click.Path(path_type=Path, file_okay=False), help="Write <app>.svg here.")
@click.option(
    "--flap-window", "flap_window", default="30m", show_default=True, help="Firing again within it: a flap."
)
def backtest_cmd(
    config: Path,
    since: str,
    until: str | None,
    policies: tuple[str, ...],
    apps: tuple[str, ...],
    output: str,
    svg: Path | None,
    flap_window: str,
) -> None:
    """Replay the policies over Prometheus history: when each would have fired, flapped and healed."""
    end = _instant(until, "--until") if until else datetime.now(UTC)
    start = _since(since, end)
    if start >= end:
        raise click.BadParameter(f"{since!r} does not start before --until", param_hint="--since")
    try:
        flap = model.parse_duration(flap_window)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--flap-window") from None
    from bot.service import backtest  # only ``backtest`` replays history

    loaded = _load(config)
    client = wiring.prometheus_client(loaded.prometheus)
    try:
        result = backtest.run(
            loaded,
            client,
            start.timestamp(),
            end.timestamp(),
            policies=policies,
            apps=apps,
            flap_window=flap,
        )
    finally:
        client.close()
    click.echo(backtest.dumps(result) if output == "json" else backtest.table(result), nl=output == "json")
    if svg is not None:
        for path in backtest.write_svgs(result, svg):
            click.echo(f"wrote {path}", err=True)
