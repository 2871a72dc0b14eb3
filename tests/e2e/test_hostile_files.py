"""Fault isolation per app in a sandbox World (issue 9 §1): hostile files sit in catalog's folder (binary,
non-UTF-8, over the size limit, invalid YAML, an alias bomb, symlinks out of the repo) while checkout
gets a bad deploy and catalog drifts. Every cycle completes, checkout is rolled back and verified, and
catalog's adopt PR touches only its real values file: the hostile files are skipped, never parsed.

Before the bounded reader, catalog's adopt raised UnicodeDecodeError out of every cycle once the drift
held (no app healed at all). Helm, like the emulator, renders only ``templates/`` and the values file,
so the files under ``extra/`` do not disturb Argo CD: only the bot reads the whole app folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import healkit
import pytest

from bot.act import execute
from bot.sandbox import world as sandbox

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]


def bomb() -> str:
    lines = ["x0: &a0 [" + ", ".join(["{name: c}"] * 9) + "]"]
    lines += [f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    lines.append("replicaCount: *a8")
    return "\n".join(lines) + "\n"


def plant(w: sandbox.World, outside: Path) -> str:
    extra = w.dev / "apps/catalog/extra"
    extra.mkdir(parents=True)
    (extra / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00replicaCount: 1\x00")
    (extra / "latin1.yaml").write_bytes(b"replicaCount: 1\nowner: caf\xe9\n")
    (extra / "huge-values.yaml").write_text("replicaCount: 1\n" + "# pad\n" * 200_000)  # 1.2 MB > 1 MiB
    (extra / "invalid.yaml").write_text("replicaCount: [1\n  - : :\n")
    (extra / "bomb.yaml").write_text(bomb())
    os.symlink(outside, extra / "escape.yaml")
    os.symlink("../../../..", extra / "up.yml")
    sandbox.git(w.dev, "pull", "-q", "--rebase", "origin", "main")
    sandbox.git(w.dev, "add", "-A")
    sandbox.git(w.dev, "commit", "-qm", "catalog: someone's stray files")
    sandbox.git(w.dev, "push", "-q", "origin", "HEAD:main")
    return sandbox.git(w.dev, "rev-parse", "HEAD")


def test_hostile_files_in_one_app_never_stop_another_apps_heal(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("replicaCount: 99\n")
    with healkit.running(sandbox.Options(manual_sync=frozenset({"catalog"})), healkit.SHORT_VERIFY) as loop:
        w = loop.world
        plant(w, outside)
        good, bad = loop.good_then_bad()
        w.drift("catalog", {"workload": "catalog", "replicas": 5})

        def by(app: str, *outcomes: execute.Outcome) -> list[execute.Result]:
            return [r for r in loop.results() if r.action.app == app and r.outcome in outcomes]

        def both() -> bool:
            return bool(by("checkout", execute.Outcome.MERGED)) and bool(
                by("catalog", execute.Outcome.PROPOSED)
            )

        assert loop.cycles_until(both, timeout=90), [
            (r.action.app, r.outcome, r.detail) for r in loop.results()
        ]
        [rollback] = by("checkout", execute.Outcome.MERGED)
        assert rollback.action.params["bad_revision"] == bad
        [adopt] = by("catalog", execute.Outcome.PROPOSED)
        assert adopt.pr is not None
        changed = healkit.bare_git(w, "diff", "--name-only", "main...refs/heads/" + adopt.pr.head).split()
        assert changed == ["apps/catalog/values.yaml"]
        assert not [r for r in loop.results() if r.outcome is execute.Outcome.FAILED]
        outcomes = loop.engine.wait_verifications(timeout=90)
        assert outcomes[rollback.action.heal_id].success, outcomes[rollback.action.heal_id].reason
        assert good  # the rollback went back to the good release
