"""Benchmark (issue 10 P3): decision -> heal pushed, against raw git (and one raw HTTP request for PRs).

A bare repo of ``files`` files and ``commits`` commits (default 10,000 and 20,000, one commit every
10 minutes back from now) is built with ``git fast-import``, then copied so each side pushes to its
own remote. githeal runs ``execute.execute`` of a one-action plan (scale) built from a real config
through ``wiring``: sync, Heal-Id dedupe, edit, commit, push, clean-up. Direct mode: raw is a plain
clone where a script rewrites the same line then runs ``git commit -am`` and ``git push``. PR mode
(the GitHub emulator over HTTP serving both repos): githeal also checks the heal's PR does not exist,
pushes a ``githeal/...`` branch, opens the PR and labels it; raw runs ``git switch -c``, the same edit,
``git commit -am``, ``git push`` of the branch, ONE ``POST /repos/{o}/{r}/pulls``, ``git switch main``.
One untimed warm-up each, then ``heals`` timed; prints p50/p95 of both and their ratios.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import httpx

from bot import model, settings
from bot.act import execute
from bot.sandbox.github import server as ghserver
from bot.service import wiring

APP_FILE = "apps/web/deployment.yaml"
DEPLOY = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n"
ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


GH_TOKEN = "githeal-bench-gh-token"
BOT_REPO, RAW_REPO = "acme/bench", "acme/raw"


@dataclass(frozen=True)
class Figures:
    files: int
    commits: int
    githeal: tuple[float, ...]
    raw: tuple[float, ...]
    pr: Figures | None = None  # the same in PR mode

    @staticmethod
    def p(samples: tuple[float, ...], q: float) -> float:
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def ratio(self, q: float) -> float:
        return self.p(self.githeal, q) / self.p(self.raw, q)


def _fast_import(bare: Path, files: int, commits: int) -> None:
    """One commit adding every file, then ``commits - 1`` commits changing one file each."""
    names = [APP_FILE] + [f"apps/app{i // 10:04d}/res{i % 10}.yaml" for i in range(files - 1)]
    start = int(time.time()) - commits * 600
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=bare, stdin=subprocess.PIPE, env=_env())
    assert proc.stdin is not None
    out = proc.stdin

    def data(text: str) -> None:
        raw = text.encode()
        out.write(b"data %d\n%s\n" % (len(raw), raw))

    for n in range(commits):
        out.write(b"commit refs/heads/main\n")
        out.write(b"committer bench <bench@example.com> %d +0000\n" % (start + n * 600))
        data(f"change {n}")
        if n == 0:
            for name in names:
                out.write(f"M 100644 inline {name}\n".encode())
                data(DEPLOY if name == APP_FILE else f"kind: ConfigMap\nmetadata:\n  name: {name}\nrev: 0\n")
        else:
            name = names[1 + (n * 7919) % (len(names) - 1)]
            out.write(f"M 100644 inline {name}\n".encode())
            data(f"kind: ConfigMap\nmetadata:\n  name: {name}\nrev: {n}\n")
    out.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")


def _env() -> dict[str, str]:
    return {**os.environ, **ENV}


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=_env(), check=True, capture_output=True)


def build(root: Path, files: int, commits: int) -> tuple[Path, Path]:
    """Two identical bare remotes (githeal's and raw git's) of the generated history."""
    bare = root / "bot.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True, env=_env())
    _fast_import(bare, files, commits)
    raw = root / "raw.git"
    shutil.copytree(bare, raw)
    return bare, raw


def _config(root: Path, bare: Path, gh_url: str | None = None) -> Path:
    (root / "token").write_text("bench")
    (root / "gh-token").write_text(GH_TOKEN)
    work = root / ("work-pr" if gh_url else "work")
    github = (
        f'\ngithub: {{base_url: "{gh_url}", auth: {{token: {{file: "{root / "gh-token"}"}}}}}}'
        if gh_url
        else ""
    )
    config = root / "githeal.yaml"
    config.write_text(f"""version: 1
prometheus: {{url: "http://127.0.0.1:9"}}
argocd: {{url: "http://127.0.0.1:9", token: {{file: "{root / "token"}"}}}}
repos:
  gitops: {{url: "{bare}", branch: main, workdir: "{work}", github: {BOT_REPO}}}
apps:
  web: {{paths: ["apps/web/**"]}}{github}
""")
    return config


def _plan(n: int, merge: str = "direct") -> model.Plan:
    action = model.Action(
        app="web",
        kind=model.ActionKind.SCALE,
        policy="scale",
        mode=model.Mode.AUTO,
        reason="bench",
        heal_id=hashlib.sha256(f"{merge}-{n}".encode()).hexdigest()[:12],  # its own PR branch each
        params={"to": (3 if merge == "direct" else 5) + n % 2, "merge": merge},  # PRs: never main's
    )
    return model.Plan(at=datetime.now(UTC), actions=(action,))


def _githeal(root: Path, bare: Path, heals: int, gh_url: str | None = None) -> Iterator[float]:
    rt = wiring.build(settings.load(_config(root, bare, gh_url)))
    tools = execute.Tools(rt.settings, rt.clones, rt.argocd, rt.github, lambda: datetime.now(UTC))
    merge, expected = ("pr", execute.Outcome.PROPOSED) if gh_url else ("direct", execute.Outcome.COMMITTED)
    try:
        rt.clones["gitops"].sync()  # the cycle's own sync, before deciding (the first one clones)
        for n in range(heals + 1):
            started = time.perf_counter()
            [result] = execute.execute(_plan(n, merge), None, tools)
            took = time.perf_counter() - started
            if result.outcome is not expected:
                raise RuntimeError(f"heal {n}: {result.outcome.value}: {result.detail}")
            if n:  # the first is the warm-up
                yield took
    finally:
        rt.close()


def _raw_pr(root: Path, raw: Path, heals: int, api_url: str) -> Iterator[float]:
    work = root / "raw-pr-work"
    _git(root, "clone", "-q", str(raw), str(work))
    target = work / APP_FILE
    auth = {"Authorization": f"token {GH_TOKEN}", "Accept": "application/vnd.github+json"}
    with httpx.Client(base_url=api_url, headers=auth, timeout=30) as http:
        for n in range(heals + 1):
            branch = f"raw/web/scale-{n:04d}"
            started = time.perf_counter()
            _git(work, "switch", "-q", "-c", branch)
            text = target.read_text()
            target.write_text(re.sub(r"replicas: \d+", f"replicas: {5 + n % 2}", text, count=1))
            _git(work, "commit", "-qam", f"scale web\n\nHeal-Id: {n:012x}")
            _git(work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
            body = {"title": "scale web", "head": branch, "base": "main", "body": "bench"}
            answer = http.post(f"/repos/{RAW_REPO}/pulls", json=body)
            _git(work, "switch", "-q", "main")
            took = time.perf_counter() - started
            if answer.status_code != 201:
                raise RuntimeError(f"raw PR {n}: {answer.status_code} {answer.text[:200]}")
            if n:
                yield took


def _raw(root: Path, raw: Path, heals: int) -> Iterator[float]:
    work = root / "raw-work"
    _git(root, "clone", "-q", str(raw), str(work))
    target = work / APP_FILE
    for n in range(heals + 1):
        started = time.perf_counter()
        text = target.read_text()
        target.write_text(re.sub(r"replicas: \d+", f"replicas: {3 + n % 2}", text, count=1))
        _git(work, "commit", "-qam", f"scale web\n\nHeal-Id: {n:012x}")
        _git(work, "push", "-q", "origin", "HEAD:main")
        took = time.perf_counter() - started
        if n:
            yield took


def measure(files: int, commits: int, heals: int, *, pr_mode: bool = True) -> Figures:
    with tempfile.TemporaryDirectory(prefix="githeal-bench-heal-") as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        saved = {k: os.environ.get(k) for k in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")}
        os.environ["GIT_CONFIG_GLOBAL"] = str(home / "gitconfig")  # no developer hooks or signing
        os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
        try:
            bare, raw = build(root, files, commits)
            mine = tuple(_githeal(root, bare, heals))
            theirs = tuple(_raw(root, raw, heals))
            pr = None
            if pr_mode:
                repos = {BOT_REPO: bare, RAW_REPO: raw}
                with ghserver.GitHubEmulator(repos, tokens={GH_TOKEN: "githeal"}) as gh:
                    mine_pr = tuple(_githeal(root, bare, heals, gh.api_url))
                    theirs_pr = tuple(_raw_pr(root, raw, heals, gh.api_url))
                pr = Figures(files, commits, mine_pr, theirs_pr)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return Figures(files, commits, mine, theirs, pr)


def main(files: int = 10_000, commits: int = 20_000, heals: int = 20, *, out: TextIO = sys.stdout) -> Figures:
    started = time.perf_counter()
    f = measure(files, commits, heals)
    out.write(
        f"heal: decision -> heal commit pushed (direct mode), {f.files:,} files, {f.commits:,} commits, "
        f"{len(f.githeal)} heals (built and run in {time.perf_counter() - started:.1f}s)\n"
    )
    _lines(f, out)
    if f.pr is not None:
        out.write("heal: decision -> heal branch pushed and PR opened (PR mode, GitHub emulator)\n")
        _lines(f.pr, out)
    out.flush()
    return f


def _lines(f: Figures, out: TextIO) -> None:
    for name, samples in (("githeal", f.githeal), ("raw git", f.raw)):
        out.write(
            f"  {name:8} p50 {f.p(samples, 0.5) * 1000:8.1f} ms   p95 {f.p(samples, 0.95) * 1000:8.1f} ms\n"
        )
    out.write(f"  ratio githeal/raw: p50 x{f.ratio(0.5):.2f}   p95 x{f.ratio(0.95):.2f}\n")
