"""The command line as shipped: ``githeal --version``, shell completion (README), and the sandbox
commands loaded lazily: the product commands never import ``bot.sandbox``; without the sandbox
``githeal demo`` prints a one-line hint naming the extra (issue 11 §1, §6)."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

from shipdefs import ROOT

RUN = "import sys; from bot.cli import main\ntry:\n    main(prog_name='githeal')\nfinally:\n"


def githeal(
    *args: str, env: dict[str, str] | None = None, prelude: str = ""
) -> subprocess.CompletedProcess[str]:
    """``githeal ARGS`` in a fresh interpreter; prints the bot.sandbox modules it loaded to stderr last."""
    code = (
        prelude
        + RUN
        + "    print(sorted(m for m in sys.modules if m.startswith('bot.sandbox')), file=sys.stderr)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=os.environ | (env or {}),
        cwd=ROOT,
    )


def sandbox_loaded(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stderr.strip().splitlines()[-1]


def test_version() -> None:
    proc = githeal("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"githeal {importlib.metadata.version('githeal')}\n"
    assert sandbox_loaded(proc) == "[]"


def test_help_lists_sandbox_commands_without_loading_the_sandbox() -> None:
    proc = githeal("--help")
    assert proc.returncode == 0
    for name in ("demo", "drill", "run", "once", "validate", "history"):
        assert f"  {name} " in proc.stdout
    assert "_GITHEAL_COMPLETE=bash_source" in proc.stdout
    assert sandbox_loaded(proc) == "[]"


def test_validate_does_not_load_the_sandbox() -> None:
    proc = githeal("validate", str(ROOT / "deploy" / "base" / "config.yaml"), "--no-secrets")
    assert proc.returncode == 0, proc.stderr
    assert sandbox_loaded(proc) == "[]"


def test_drill_loads_the_sandbox_on_demand() -> None:
    proc = githeal("drill", "--help")
    assert proc.returncode == 0
    assert "--time-scale" in proc.stdout
    assert "'bot.sandbox.cli'" in sandbox_loaded(proc)


def test_missing_sandbox_gives_a_one_line_hint_and_exit_2() -> None:
    # the import of the sandbox's commands fails as it does when the package is installed without them
    proc = githeal("demo", prelude="import sys; sys.modules['bot.sandbox.cli'] = None\n")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == (
        "githeal demo needs the sandbox extra: pip install 'githeal[sandbox]' (bot.sandbox.cli is missing)"
    )
    assert len(lines) == 2 and "Traceback" not in proc.stderr


def test_shell_completion_as_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    assert 'eval "$(_GITHEAL_COMPLETE=bash_source githeal)"' in readme
    script = githeal(env={"_GITHEAL_COMPLETE": "bash_source"})
    assert script.returncode == 0 and "_githeal_completion" in script.stdout
    words = githeal(env={"_GITHEAL_COMPLETE": "bash_complete", "COMP_WORDS": "githeal dr", "COMP_CWORD": "1"})
    assert words.stdout.splitlines() == ["plain,drill"]
    options = githeal(
        env={"_GITHEAL_COMPLETE": "bash_complete", "COMP_WORDS": "githeal drill --time", "COMP_CWORD": "2"}
    )
    assert options.stdout.splitlines() == ["plain,--time-scale"]


def test_entry_point_is_the_cli() -> None:
    (ep,) = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == "githeal"]
    assert ep.value == "bot.cli:main"
    assert Path(ROOT / "LICENSE").read_text().startswith("\n                                 Apache License")
