"""githeal's one settings tree: ``load(path) -> tree.Settings``, the only reader of config and environment.

The YAML config is validated by the pydantic models of ``schema`` (``systems``, ``rules``),
its Sloth/OpenSLO files by ``slofiles``, cross-checked and turned into frozen values by ``build``.
Every problem becomes ``errors.Problem(file, line, key, message)``; ``load`` raises
``errors.ConfigError`` with all of them. Nothing here may talk to Prometheus, Argo CD, Git or GitHub.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pydantic

from bot import errors
from bot.settings import build, files, locate, parse, schema, tree

Settings = tree.Settings


def load(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    check_secrets: bool = True,
    limits: files.Limits | None = None,
) -> tree.Settings:
    """Read, validate and cross-check the config at ``path``; raise ConfigError listing every problem.

    ``env`` defaults to the process environment. With ``check_secrets=False`` secret references are
    checked for shape only and every ``Secret.value`` is None (``githeal validate --no-secrets``).
    ``limits`` (default: ``files.Limits``, ``GITHEAL_CONFIG_MAX_BYTES`` from ``env``) bound every file read.
    """
    with parse.quiet_gc():
        shown = str(path)
        env = os.environ if env is None else env
        limits = limits or files.limits_from(env)
        doc = locate.read(Path(path), shown, limits)
        try:
            config = schema.Config.model_validate(doc.data)
        except pydantic.ValidationError as exc:
            raise errors.ConfigError(locate.problems_from(doc, exc, schema.Config)) from None
        b = build.Build(
            doc=doc,
            config=config,
            base=Path(path).resolve().parent,
            shown_base=os.path.dirname(shown),
            env=env,
            check_secrets=check_secrets,
            limits=limits,
        )
        return build.assemble(b)
