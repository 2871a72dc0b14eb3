"""What a heal cycle costs in git commands (issue 10 P3), read from git's own trace (GIT_TRACE, git(1):
"prints ... the command it is about to execute"): no full-tree reset/clean when nothing moved, and a
Heal-Id lookup that reads only the commits fetched since the last one, never the whole history.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from githelp import CHECKOUT, Human, assert_clean, git

from bot.clients import gitrepo


def _traced(remote: Path, tmp_path: Path, **kw: object) -> tuple[gitrepo.WorkingClone, Path]:
    trace = tmp_path / "trace.log"
    wc = gitrepo.WorkingClone(
        str(remote),
        "main",
        tmp_path / "work",
        identity=("b", "b@example.com"),
        env={"GIT_TRACE": str(trace)},
        **kw,  # type: ignore[arg-type]
    )
    wc.sync()
    trace.write_text("")
    return wc, trace


def _commands(trace: Path) -> list[str]:
    out = [
        line.split("trace: built-in: git ", 1)[1]
        for line in trace.read_text().splitlines()
        if "trace: built-in: git " in line
    ]
    trace.write_text("")
    return out


def _verbs(trace: Path) -> list[str]:
    # the local "remote" serves a fetch through git-upload-pack; a real host runs it on its side
    return [v for v in (c.split()[0] for c in _commands(trace)) if v not in ("upload-pack", "receive-pack")]


def test_sync_with_nothing_moved_runs_no_reset_or_clean(remote: Path, tmp_path: Path) -> None:
    wc, trace = _traced(remote, tmp_path)
    wc.sync()
    verbs = _verbs(trace)  # fetch also runs rev-list (its connectivity check) as a child
    # fetch and status run side by side (either may start first)
    assert {"fetch", "status"} <= set(verbs) and not {"reset", "checkout", "clean"} & set(verbs)
    wc.reset()
    assert _verbs(trace) == ["status", "for-each-ref"]
    (wc.path / "junk.txt").write_text("x")  # anything to clean means the full reset
    wc.sync()
    assert {"reset", "checkout", "clean"} <= set(_verbs(trace))
    assert_clean(wc, remote)


def test_sync_after_a_push_by_someone_else_resets(remote: Path, tmp_path: Path, human: Human) -> None:
    wc, trace = _traced(remote, tmp_path)
    human.edit(f"{CHECKOUT}/deployment.yaml", "replicas: 3", "replicas: 4", "scale")
    wc.sync()
    assert "checkout" in _verbs(trace)
    assert_clean(wc, remote)
    assert "replicas: 4" in (wc.path / CHECKOUT / "deployment.yaml").read_text()


def test_after_our_own_push_the_reset_is_cheap(remote: Path, tmp_path: Path) -> None:
    wc, trace = _traced(remote, tmp_path)
    wc.write_files({"a.yaml": b"a: 1\n"})
    wc.commit("heal\n\nHeal-Id: 00000000beef")
    wc.push()
    _commands(trace)
    # git push updated refs/remotes/origin/main, and only our own staging and commit touched the tree
    wc.reset()
    assert _verbs(trace) == ["for-each-ref"]
    assert_clean(wc, remote)
    wc.sync()  # the shortcut is for one reset only: the next sync checks the tree again
    assert "status" in _verbs(trace)


def test_after_a_pr_branch_push_only_the_branch_moves_back(remote: Path, tmp_path: Path) -> None:
    wc, trace = _traced(remote, tmp_path)
    wc.write_files({"a.yaml": b"a: 1\n"})
    wc.commit("heal\n\nHeal-Id: 00000000cafe")
    wc.push_branch("githeal/web/scale-00000000")
    _commands(trace)
    wc.reset()
    assert _verbs(trace) == ["for-each-ref", "checkout"]
    assert_clean(wc, remote)
    assert not (wc.path / "a.yaml").exists()


def test_find_heal_reads_only_new_commits_and_stops_at_the_horizon(
    remote: Path, tmp_path: Path, human: Human
) -> None:
    now = datetime.now(UTC)
    wc, trace = _traced(remote, tmp_path, clock=lambda: now, heal_horizon=timedelta(days=7))
    old = now - timedelta(days=30)
    stamp = f"{int(old.timestamp())} +0000"
    env = {**os.environ, "GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_DATE": stamp}
    message = "old heal\n\nHeal-Id: 0000000000o1"
    subprocess.run(
        ["git", "commit", "-q", "--allow-empty", "-m", message], cwd=human.path, env=env, check=True
    )
    human.commit({"x.yaml": "x: 1\n"}, "new heal\n\nHeal-Id: 0000000000n1")
    wc.sync()
    _commands(trace)
    assert wc.find_heal("0000000000n1") is not None
    assert wc.find_heal("0000000000o1") is None, "older than the horizon: not looked for"
    first = [c for c in _commands(trace) if c.startswith("log")]
    assert len(first) == 1 and "--since=" in first[0] and "--name-only" not in first[0]
    human.commit({"y.yaml": "y: 1\n"}, "another heal\n\nHeal-Id: 0000000000n2")
    wc.sync()
    _commands(trace)
    assert wc.find_heal("0000000000n2") is not None and wc.find_heal("0000000000n1") is not None
    logs = [c for c in _commands(trace) if c.startswith("log")]
    assert len(logs) == 1 and ".." in logs[0], logs  # only the fetched range, once
    # a rewritten branch (force-push) is indexed from scratch, not trusted
    git(human.path, "reset", "-q", "--hard", "HEAD~1")
    git(human.path, "push", "-q", "--force", "origin", "HEAD:main")
    wc.sync()
    assert wc.find_heal("0000000000n2") is None and wc.find_heal("0000000000n1") is not None


def test_reading_an_apps_manifests_costs_two_git_commands_whatever_their_number(
    remote: Path, tmp_path: Path, human: Human
) -> None:
    from bot.act import manifests
    from bot.settings import tree

    files = {f"apps/many/m{i}.yaml": f"kind: ConfigMap\nmetadata: {{name: m{i}}}\n" for i in range(12)}
    files["apps/many/odd name é.yaml"] = "kind: ConfigMap\nmetadata: {name: odd}\ndata: {a: 'x\\n\\ny'}\n"
    human.commit(files, "many manifests")
    wc, trace = _traced(remote, tmp_path)
    spec = tree.AppSpec(name="many", repo="r", paths=("apps/many/",))
    read = manifests.read(wc, spec, 1 << 20)
    assert read.files == files and not read.skipped
    assert _verbs(trace) == ["ls-tree", "cat-file"]
    ids = wc.blobs("HEAD", "apps/many")
    assert wc.read_blobs([ids["apps/many/m3.yaml"], "0" * 40]) == {
        ids["apps/many/m3.yaml"]: files["apps/many/m3.yaml"].encode()
    }


def _restarted(remote: Path, tmp_path: Path, identity: tuple[str, str]) -> tuple[gitrepo.WorkingClone, Path]:
    """A new process on the same clone: a fresh WorkingClone over the existing work directory."""
    trace = tmp_path / "restart.log"
    wc = gitrepo.WorkingClone(
        str(remote), "main", tmp_path / "work", identity=identity, env={"GIT_TRACE": str(trace)}
    )
    wc.sync()
    return wc, trace


def test_a_restart_writes_no_config_the_clone_already_has(remote: Path, tmp_path: Path) -> None:
    _traced(remote, tmp_path)  # the first process clones and configures
    wc, trace = _restarted(remote, tmp_path, ("b", "b@example.com"))
    assert not {"config", "remote"} & set(_verbs(trace))  # issue 10 P1: nothing to write
    # a value changed by hand (or a new identity) is written again; the others are not
    git(wc.path, "config", "user.email", "someone@else")
    wc, trace = _restarted(remote, tmp_path, ("b", "b@example.com"))
    assert [c for c in _commands(trace) if c.startswith(("config", "remote"))] == [
        "config user.email b@example.com"
    ]
    wc, trace = _restarted(remote, tmp_path, ("c", "b@example.com"))
    assert [c for c in _commands(trace) if c.startswith(("config", "remote"))] == ["config user.name c"]
    assert git(wc.path, "config", "user.name").strip() == "c"


def test_a_config_with_an_include_is_written_again(remote: Path, tmp_path: Path) -> None:
    _traced(remote, tmp_path)
    extra = tmp_path / "extra.cfg"
    extra.write_text("[user]\n\tname = other\n")
    git(tmp_path / "work" / gitrepo._slug(str(remote)), "config", "include.path", str(extra))
    wc, trace = _restarted(remote, tmp_path, ("b", "b@example.com"))
    written = [c.split()[1] for c in _commands(trace) if c.startswith("config")]
    assert {"user.name", "user.email", "commit.gpgsign"} <= set(written)
    assert git(wc.path, "config", "--local", "--get-all", "user.name").split() == ["b"]
