"""Every broken config under fixtures/bad-config/ is refused cleanly: exit 2, one exact first line, fast.

Each ``name.yaml`` has its exact expected first line of output in ``name.expected`` (``file:line: key:
message``, or ``file:line: message`` for problems of the whole file) and optionally ``name.env`` (extra
environment). ``_valid.yaml`` is the config every case was derived from: it must validate, so each case
fails for its own reason. The cases run from the fixture directory, as an operator would type them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot import cli

DIR = Path(__file__).resolve().parents[2] / "fixtures" / "bad-config"
CASES = sorted(p.stem for p in DIR.glob("*.yaml") if not p.stem.startswith("_"))
ENV = {"FIXTURE_ARGO_TOKEN": "fixture-argo", "FIXTURE_GH_TOKEN": "fixture-gh"}
# Values written in the secret-* fixtures: none may ever be printed back.
SECRETS = (
    "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "glpat-Zx8Kq2Lm9Np4Rs7Tv1Wy",
    "hunter2-Hx7Qp9Zr",
    "MIIEowIBAAKCAQEA7x9",
    "Zk3Jx9Qa7Lm2Np8Rt4Vw6Yb1Qe5",
    "Bearer",
)


def _env(name: str) -> dict[str, str]:
    extra = DIR / f"{name}.env"
    env = dict(ENV)
    if extra.is_file():
        for line in extra.read_text().splitlines():
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def _validate(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Result, float]:
    monkeypatch.chdir(DIR)
    runner = CliRunner()
    env: dict[str, str | None] = {**_env(name)}
    started = time.perf_counter()
    result = runner.invoke(cli.main, ["validate", f"{name}.yaml"], env=env, catch_exceptions=True)
    return result, time.perf_counter() - started


def test_there_are_at_least_60_cases_each_with_its_expected_line() -> None:
    assert len(CASES) >= 60
    missing = [name for name in CASES if not (DIR / f"{name}.expected").is_file()]
    assert missing == []


def test_the_config_the_cases_come_from_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = _validate("_valid", monkeypatch)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("_valid.yaml: OK: 2 apps")


@pytest.mark.parametrize("name", CASES)
def test_bad_config_exits_2_with_its_exact_first_line(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = (DIR / f"{name}.expected").read_text(encoding="utf-8").rstrip("\n")
    result, seconds = _validate(name, monkeypatch)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # not an exception escaping the CLI
    assert "Traceback" not in result.output
    first = result.stderr.splitlines()[0]
    assert first == expected
    assert first.startswith(f"{name}.yaml:") or first.startswith("files/")
    assert first.split(":", 2)[1].isdigit(), "every first line names a line"
    for secret in SECRETS:
        assert secret not in result.output
    assert seconds < 1.0, f"{name}: {seconds:.2f}s"


def test_a_real_process_reports_a_bomb_the_same_way() -> None:
    """One case through a real ``githeal`` process: stderr's first line, exit 2, no traceback."""
    name = "bomb-billion-laughs"
    env = {**os.environ, **_env(name)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bot import cli; sys.exit(cli.main())",
            "validate",
            f"{name}.yaml",
        ],
        cwd=DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0] == (DIR / f"{name}.expected").read_text().rstrip("\n")
