"""githeal's command line: a click group; ``BotError`` is caught in exactly one place (``_Group.invoke``).

Exit codes belong to the errors: 0 ok, 1 runtime failure, 2 bad config or usage. Commands
print results on stdout and problems on stderr, never a traceback for an error githeal knows.
This module only wires commands to the stages; it must not hold logic of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bot import errors, settings


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
