"""The package stands on its own (issue 11 §1): the wheel installed into a fresh venv runs
``githeal drill bad-deploy`` and the full ``githeal demo`` from an unrelated directory, and ships the
demo manifests, scenarios and message templates as package data."""

from __future__ import annotations

import os
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from shipdefs import HAVE_PROMETHEUS


def test_wheel_carries_demo_manifests_scenarios_and_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bot/sandbox/demo-repo/apps/checkout/deployment.yaml" in names
    assert "bot/sandbox/demo-repo/apps/catalog/templates/_helpers.tpl" in names
    assert "bot/sandbox/scenarios/bad-deploy.yaml" in names
    assert "bot/templates/commit.txt.j2" in names
    assert not any(n.startswith(("fixtures/", "tests/")) for n in names)
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "Provides-Extra: sandbox" in text
    assert 'Requires-Dist: PyJWT[crypto]>=2.8; extra == "sandbox"' in text
    assert "prometheus-api-client" not in text


@pytest.fixture(scope="module")
def venv(shared_tmp: Path, wheel: Path) -> Iterator[Path]:
    path = shared_tmp / "wheel-venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(path)], check=True, timeout=120)
    subprocess.run(
        [str(path / "bin" / "pip"), "install", "-q", "--no-cache-dir", f"{wheel}[sandbox]"],
        check=True,
        timeout=600,
    )
    yield path


def env(venv: Path, cwd: Path) -> dict[str, str]:
    return {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"}


def run(venv: Path, cwd: Path, *args: str, timeout: float) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = subprocess.run(
        [str(venv / "bin" / "githeal"), *args],
        cwd=cwd,
        env=env(venv, cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc, time.monotonic() - started


class Background:
    """``githeal ARGS`` started now and awaited later: the drill and the demo each run their own
    sandbox (Prometheus and emulators on free ports, a temp dir) and mostly wait on real time, so the
    test runs them side by side instead of one after the other. Output goes to files in ``logs``."""

    def __init__(self, venv: Path, cwd: Path, logs: Path, *args: str) -> None:
        self.out, self.err = logs / f"{args[0]}.out", logs / f"{args[0]}.err"
        self.started = time.monotonic()
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [str(venv / "bin" / "githeal"), *args], cwd=cwd, env=env(venv, cwd), stdout=out, stderr=err
            )

    def finish(self, timeout: float) -> tuple[subprocess.CompletedProcess[str], float]:
        try:
            self.proc.wait(timeout=max(1.0, self.started + timeout - time.monotonic()))
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        took = time.monotonic() - self.started
        out, err = self.out.read_text(), self.err.read_text()
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err), took


# What the demo must tell (it used to be checked a second time from source in tests/e2e/test_demo.py).
STORY = (
    "1. a good deploy rolls out",
    "2. a bad deploy of checkout",
    "SLO availability burning, page tier",
    "PR #1 opened: rollback (rollback-on-burn",
    "PR #1 auto-merged (trusted policy)",
    "3. a load spike on cart",
    "scale (scale-on-load: replicas 2 -> 6",
    "scale (scale-on-load: replicas 6 -> 2",
    "4. live drift on catalog",
    "opened for review by alice: adopt reconcile (adopt-drift)",
    "time to recovery",
    "githeal history: 3 heal(s)",
    "left open for a human: catalog reconcile PR #2",
    "demo complete: 3 heal(s) landed, 3 verified, 1 PR(s) left for a human",
)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_PROMETHEUS, reason="prometheus not installed (make prometheus)")
def test_installed_wheel_runs_drill_and_demo_from_any_directory(venv: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    version, _ = run(venv, elsewhere, "--version", timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("githeal "), version.stderr
    running_drill = Background(venv, elsewhere, tmp_path, "drill", "bad-deploy", "--time-scale", "0.3")
    running_demo = Background(venv, elsewhere, tmp_path, "demo")
    try:
        drill, drill_s = running_drill.finish(timeout=300)
    finally:
        demo, demo_s = running_demo.finish(timeout=400)
    assert drill.returncode == 0, drill.stdout[-3000:] + drill.stderr[-3000:]
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    for line in STORY:
        assert line in demo.stdout, f"missing {line!r} in:\n{demo.stdout[-4000:]}"
    assert demo.stdout.count("githeal/verify=success") == 3
    assert "✘" not in demo.stdout  # no failure or timeout line
    assert os.listdir(elsewhere) == []  # nothing written into the working directory
    print(f"\nwheel-installed drill bad-deploy (time-scale 0.3): {drill_s:.1f}s; demo: {demo_s:.1f}s")
