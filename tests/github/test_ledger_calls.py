"""GitHub calls per ledger cycle stay bounded whatever the repo's size (2,000 PRs here).

Facts: github-api.md 1.4 (``per_page`` 30 by default; pagination by ``Link``) and 1.14 (5,000
requests/hour); the issues list filters by ``labels`` server-side and includes PRs; GitHub REST
best practices: "Making a conditional request does not count against your primary rate limit if
a 304 response is returned" (``openapi-subset.json`` lists 304 for the list endpoints).
Before this change the ledger listed ``state=all`` PRs 30 per page until it had 100 bot PRs: with
2,000 PRs and a handful of heals that is 67 requests every cycle (8,040 an hour at 30 s cycles).
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bot import settings
from bot.sandbox.github import server as ghserver
from bot.service import ledger, wiring

TOKEN = "ghp_ledger_calls"
GH = "acme/gitops"
TOTAL = 2000


def git(cwd: Path, *args: str) -> str:
    who = {
        "GIT_AUTHOR_NAME": "d",
        "GIT_AUTHOR_EMAIL": "d@x",
        "GIT_COMMITTER_NAME": "d",
        "GIT_COMMITTER_EMAIL": "d@x",
    }
    env = {**who, "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _hidden(heal_id: str) -> str:
    data = {"heal_id": heal_id, "app": "web", "policy": "scale", "action": "scale"}
    return f"Scale web\n\n<!-- githeal:{json.dumps(data)} -->\n"


def test_ledger_reads_bot_prs_in_a_bounded_number_of_calls(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    (seed / "apps/web").mkdir(parents=True)
    (seed / "apps/web/d.yaml").write_text("replicas: 2\n")
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "seed")
    bare = tmp_path / "gitops.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    (tmp_path / "token").write_text(TOKEN)
    with ghserver.GitHubEmulator({GH: bare}, tokens={TOKEN: "githeal"}) as emu:
        for i in range(TOTAL):
            bot = i % 400 == 7  # 5 heal PRs among 2,000 human ones
            labels = ("githeal", "scale") if bot else ()
            emu.add_past_pull(GH, f"feature/{i}", body=_hidden(f"heal{i:08d}") if bot else "", labels=labels)
        config = tmp_path / "githeal.yaml"
        config.write_text(f"""version: 1
prometheus: {{url: "http://127.0.0.1:9"}}
argocd: {{url: "http://127.0.0.1:9", token: {{file: "{tmp_path / "token"}"}}}}
repos:
  gitops: {{url: "{bare}", branch: main, github: {GH}, workdir: "{tmp_path / "work"}"}}
github: {{base_url: "{emu.api_url}", auth: {{token: {{file: "{tmp_path / "token"}"}}}}}}
apps:
  web: {{paths: ["apps/web/**"]}}
""")
        rt = wiring.build(settings.load(config))
        try:
            for clone in rt.clones.values():
                clone.sync()
            book = ledger.Ledger(rt.settings, rt.clones, rt.github)
            per_cycle, charged = [], []
            for _ in range(3):
                before = len(emu.calls)
                used = emu.ctx.limits.snapshot("githeal")[1]
                history = book.read(datetime.now(UTC))
                per_cycle.append(len(emu.calls) - before)
                charged.append(emu.ctx.limits.snapshot("githeal")[1] - used)
            print(f"\nGitHub calls per ledger cycle with {TOTAL} PRs: {per_cycle} (charged: {charged})")
            assert len(history.proposals) == 5 and {p.state for p in history.proposals} == {"closed"}
            assert per_cycle[0] <= 3 and max(per_cycle) <= 3  # was 67 with the state=all listing
            assert charged[1:] == [0, 0]  # unchanged lists answer 304: free
            assert {c.status for c in emu.calls[-per_cycle[-1] :]} == {304}
        finally:
            rt.close()
