"""`githeal history` and `githeal validate` through click's CliRunner, over real git repositories."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import cli
from bot.act import message
from bot.service import audit, ledger

ENV = {
    "GIT_AUTHOR_NAME": "d",
    "GIT_AUTHOR_EMAIL": "d@x",
    "GIT_COMMITTER_NAME": "d",
    "GIT_COMMITTER_EMAIL": "d@x",
}


def git(cwd: Path, *args: str) -> str:
    import os

    return subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **ENV}, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "work"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    (r / "app.yaml").write_text("image: web:1\n")
    git(r, "add", "-A")
    git(r, "commit", "-qm", "seed")
    for app, tag in (("checkout", "2"), ("cart", "3")):
        (r / "app.yaml").write_text(f"image: web:{tag}\n")
        ctx = message.HealContext(app=app, action="rollback", policy="p", mode="auto", reason="burn 20x",
                                  target="abc1234", bad_revision="f" * 40 + app)  # fmt: skip
        git(r, "commit", "-qam", message.commit_message(ctx))
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(r), str(bare))
    return bare


def test_history_reads_heals_from_trailers(repo: Path) -> None:
    result = CliRunner().invoke(cli.main, ["history", "--repo", str(repo), "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["app"] for r in rows] == ["cart", "checkout"]
    assert all(r["action"] == "rollback" and r["policy"] == "p" for r in rows)
    assert rows[0]["trailers"]["Heal-App"] == "cart"


def test_history_filters_by_app_and_reads_a_url(repo: Path) -> None:
    result = CliRunner().invoke(cli.main, ["history", "--repo", f"file://{repo}", "--app", "checkout"])
    assert result.exit_code == 0, result.output
    assert "checkout" in result.output and "cart" not in result.output.split("\n", 3)[-1]


def test_history_bad_input_exits_2_without_traceback(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli.main, ["history", "--repo", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "no such path" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli.main, ["history", "--repo", str(tmp_path), "--since", "yesterday"])
    assert r.exit_code == 2 and "--since" in r.output


def test_parse_since() -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    assert audit.parse_since("7d", now) == now - timedelta(days=7)
    assert audit.parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=UTC)
    assert audit.parse_since(None, now) is None


@pytest.mark.parametrize(
    ("text", "paused"),
    [
        (None, None),
        ("", frozenset()),
        ("# everything\n", frozenset()),
        ("checkout\ncart  # noisy\n", frozenset({"checkout", "cart"})),
        ("*\n", frozenset({"*"})),
    ],
)
def test_kill_switch_file_parsing(text: str | None, paused: frozenset[str] | None) -> None:
    assert ledger.parse_pause(text) == paused


def test_validate_example_and_a_broken_copy(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
    assert CliRunner().invoke(cli.main, ["validate", str(example)]).exit_code == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text(example.read_text().replace("objective: 99.9", "objective: 120", 1))
    r = CliRunner().invoke(cli.main, ["validate", str(broken)])
    assert r.exit_code == 2
    assert f"{broken}:" in r.output and "objective" in r.output and "Traceback" not in r.output
