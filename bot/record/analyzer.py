"""Run the configured escalation analyzer: a command given the evidence bundle as JSON on stdin.

Its stdout (markdown) is added to the escalation issue under its own heading. The command runs in its
own process group and is killed, group and all, when its time limit passes, so a slow analyzer costs
at most ``timeout`` seconds; a failure is returned as a value with a one-line reason, never raised.
It must not touch GitHub: ``verdicts.Recorder`` decides what the issue says.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT = 30.0
MAX_OUTPUT = 60_000  # characters kept: a GitHub issue body holds at most 65,536


@dataclass(frozen=True)
class Analyzer:
    command: tuple[str, ...]  # argv; a string in config is split like a shell would
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def of(cls, command: str | Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> Analyzer:
        argv = tuple(shlex.split(command)) if isinstance(command, str) else tuple(command)
        return cls(argv, timeout)


@dataclass(frozen=True)
class Analysis:
    ok: bool
    markdown: str = ""
    error: str = ""  # why it failed: exit status, timeout, not found
    seconds: float = 0.0


def _tail(text: str, limit: int = 200) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:limit]


def run(analyzer: Analyzer, bundle: Mapping[str, Any]) -> Analysis:
    """Feed ``bundle`` to the analyzer; its markdown, or why there is none, within ``timeout``."""
    started = time.monotonic()
    payload = json.dumps(bundle, indent=2, default=str)
    try:
        proc = subprocess.Popen(
            list(analyzer.command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own group: a timeout kills whatever it spawned too
        )
    except OSError as exc:
        return Analysis(False, error=f"could not start {analyzer.command[0]!r}: {exc.strerror or exc}")
    try:
        out, err = proc.communicate(payload, timeout=analyzer.timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        took = time.monotonic() - started
        return Analysis(False, error=f"timed out after {analyzer.timeout:g}s", seconds=took)
    took = time.monotonic() - started
    if proc.returncode != 0:
        why = f"exited with status {proc.returncode}"
        detail = _tail(err)
        return Analysis(False, error=f"{why}: {detail}" if detail else why, seconds=took)
    text = out.strip()
    if not text:
        return Analysis(False, error="printed nothing", seconds=took)
    if len(text) > MAX_OUTPUT:
        text = text[:MAX_OUTPUT] + "\n\n(truncated)"
    return Analysis(True, markdown=text, seconds=took)


def _kill(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    # reap it without waiting on pipes a grandchild may still hold open
    try:
        proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        proc.kill()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
