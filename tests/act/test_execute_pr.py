"""execute() in propose mode against the GitHub emulator on a real bare repo: the PR carries the diff
summary, and a PR that cannot be opened leaves no stray branch on the remote."""

from __future__ import annotations

import dataclasses
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bot import model, settings
from bot.act import execute
from bot.sandbox.github import server as ghserver
from bot.service import wiring

TOKEN = "ghp_execute_test"
DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2  # baseline
  template:
    spec:
      containers:
        - name: web
          image: web:1.0
"""


def git(cwd: Path, *args: str) -> str:
    who = {
        "GIT_AUTHOR_NAME": "d",
        "GIT_AUTHOR_EMAIL": "d@x",
        "GIT_COMMITTER_NAME": "d",
        "GIT_COMMITTER_EMAIL": "d@x",
    }
    env = {**who, "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


class FlakyProxy:
    """Forwards to the emulator; answers 502 to PR creation while ``fail_pulls`` is set."""

    def __init__(self, upstream: str) -> None:
        self.fail_pulls = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.fail_pulls and self.command == "POST" and self.path.endswith("/pulls"):
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
                r = httpx.request(self.command, upstream + self.path, headers=headers, content=body)
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                    ):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward  # noqa: N815 (http.server names)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[execute.Tools, Path, FlakyProxy]]:
    seed = tmp_path / "seed"
    (seed / "apps/web").mkdir(parents=True)
    (seed / "apps/web/deployment.yaml").write_text(DEPLOY)
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "seed")
    bare = tmp_path / "gitops.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    (tmp_path / "token").write_text(TOKEN)
    with ghserver.GitHubEmulator({"acme/gitops": bare}, tokens={TOKEN: "githeal"}) as emu:
        proxy = FlakyProxy(emu.url)
        config = tmp_path / "githeal.yaml"
        config.write_text(f"""version: 1
prometheus: {{url: "http://127.0.0.1:9"}}
argocd: {{url: "http://127.0.0.1:9", token: {{file: "{tmp_path / "token"}"}}}}
repos:
  gitops: {{url: "{bare}", branch: main, github: acme/gitops, workdir: "{tmp_path / "work"}"}}
github: {{base_url: "{proxy.url}", auth: {{token: {{file: "{tmp_path / "token"}"}}}}}}
apps:
  web: {{paths: ["apps/web/**"]}}
""")
        rt = wiring.build(settings.load(config))
        tools = execute.Tools(rt.settings, rt.clones, rt.argocd, rt.github, lambda: datetime.now(UTC))
        try:
            yield tools, bare, proxy
        finally:
            proxy.stop()
            rt.close()


def scale_plan() -> model.Plan:
    action = model.Action(
        app="web", kind=model.ActionKind.SCALE, policy="scale", mode=model.Mode.PROPOSE,
        reason="load 40/s per replica vs target 20", heal_id="0123456789ab", params={"to": 4, "merge": "pr"},
    )  # fmt: skip
    return model.Plan(at=datetime.now(UTC), actions=(action,))


def branches(bare: Path) -> list[str]:
    return [line.split("\t")[1] for line in git(bare, "ls-remote", "--heads", str(bare)).splitlines()]


def test_failed_pr_leaves_no_stray_branch_then_a_retry_opens_it(
    setup: tuple[execute.Tools, Path, FlakyProxy],
) -> None:
    tools, bare, proxy = setup
    proxy.fail_pulls = True
    [failed] = execute.execute(scale_plan(), None, tools)
    assert failed.outcome is execute.Outcome.FAILED and "502" in failed.detail
    assert branches(bare) == ["refs/heads/main"]

    proxy.fail_pulls = False
    [ok] = execute.execute(scale_plan(), None, tools)
    assert ok.outcome is execute.Outcome.PROPOSED and ok.pr is not None
    assert branches(bare) == ["refs/heads/githeal/web/scale-01234567", "refs/heads/main"]
    pr = httpx.get(
        f"{proxy.url}/repos/acme/gitops/pulls/{ok.pr.number}", headers={"Authorization": f"token {TOKEN}"}
    )
    body = pr.json()["body"]
    assert "apps/web/deployment.yaml | 2 +-" in body  # the diff summary
    assert "<!-- githeal:" in body
    diff = git(bare, "diff", "main", "githeal/web/scale-01234567")
    assert [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-  replicas: 2  # baseline",
        "+  replicas: 4  # baseline",
    ]


def test_the_sparkline_is_asked_for_after_the_push_and_github_once_for_the_pr(
    setup: tuple[execute.Tools, Path, FlakyProxy],
) -> None:
    """Issue 10 P3: the display-only range query runs after the heal branch is on the remote (it can
    only slow the heal), and the heal's PR is looked up once (no second list before creating it)."""
    tools, bare, _proxy = setup
    seen: list[list[str]] = []

    def sli(app: str) -> execute.Sli:
        seen.append(branches(bare))
        return execute.Sli("availability error ratio", "1h", (0.0, 0.02, 0.05))

    tools = dataclasses.replace(tools, sli=sli)
    gh = tools.github
    assert gh is not None
    asked: list[str] = []
    real = gh.find_pr

    def find_pr(repo: str, head: str, state: str = "all") -> object:
        asked.append(head)
        return real(repo, head, state)

    gh.find_pr = find_pr  # type: ignore[method-assign]
    [ok] = execute.execute(scale_plan(), None, tools)
    assert ok.outcome is execute.Outcome.PROPOSED and ok.pr is not None
    assert seen == [["refs/heads/githeal/web/scale-01234567", "refs/heads/main"]]
    assert asked == ["githeal/web/scale-01234567"]
    assert ok.context is not None and ok.context.sli == (0.0, 0.02, 0.05)
