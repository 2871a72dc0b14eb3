"""WorkingClone against real repos: sync, commit, push races, force-push refusal, reverts, signing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from githelp import CHECKOUT, Human, assert_clean, git, remote_branches, remote_head

from bot import errors
from bot.clients import gitrepo
from bot.record import trailers

DEPLOY_PATH = f"{CHECKOUT}/deployment.yaml"
HEAL_MSG = "githeal: rollback checkout\n\nbody line: not a trailer\n\nHeal-Id: {id}\nHeal-App: checkout\n"


def _bot_commit(clone: gitrepo.WorkingClone, heal: str = "aaaaaaaaaaaa", text: str = "replicas: 5") -> str:
    deploy = (clone.path / DEPLOY_PATH).read_text().replace("replicas: 3", text)
    clone.write_files({DEPLOY_PATH: deploy.encode()})
    return clone.commit(HEAL_MSG.format(id=heal))


def _history(remote: Path) -> list[str]:
    return git(remote, "rev-list", "main").split()


def test_sync_clones_once_then_resets_local_junk(
    clone: gitrepo.WorkingClone, remote: Path, human: Human
) -> None:
    marker = clone.path / ".git" / "kept-between-syncs"
    marker.write_text("x")
    (clone.path / "untracked.txt").write_text("junk")
    (clone.path / "build").mkdir()
    (clone.path / "build" / "out.o").write_text("junk")
    (clone.path / DEPLOY_PATH).write_text("broken: [")
    (clone.path / CHECKOUT / "service.yaml").unlink()
    git(clone.path, "add", "-A")
    git(clone.path, "branch", "stray")
    new = human.edit(f"{CHECKOUT}/service.yaml", "name: checkout", "name: checkout-v2", "rename svc")

    assert clone.sync() == new
    assert marker.exists(), "sync re-cloned instead of fetching"
    assert_clean(clone, remote)
    assert "checkout-v2" in (clone.path / CHECKOUT / "service.yaml").read_text()


def test_commit_carries_identity_and_trailers(clone: gitrepo.WorkingClone, remote: Path) -> None:
    sha = _bot_commit(clone, heal="123456789abc")
    assert git(clone.path, "log", "-1", "--format=%an <%ae>|%cn", sha) == (
        "githeal-bot <githeal@example.com>|githeal-bot"
    )
    info = clone.commit_info(sha)
    assert info.trailer("heal-id") == "123456789abc"
    assert info.files == (DEPLOY_PATH,)
    assert info.subject == "githeal: rollback checkout"
    # git's own parse, our pure parse and the CommitInfo all agree
    parsed = git(clone.path, "interpret-trailers", "--parse", input=info.message)
    assert trailers.parse_trailers(info.message) == list(info.trailers)
    assert [tuple(line.split(": ", 1)) for line in parsed.splitlines()] == list(info.trailers)
    result = clone.push()
    assert result == gitrepo.PushResult("pushed", sha, 1)
    assert remote_head(remote) == sha


def test_commit_with_nothing_staged_fails_and_stays_clean(clone: gitrepo.WorkingClone, remote: Path) -> None:
    with pytest.raises(errors.GitError, match="nothing to commit"):
        clone.commit("githeal: nothing\n")
    assert_clean(clone, remote)


def test_push_rebases_when_a_human_pushed_first(
    clone: gitrepo.WorkingClone, remote: Path, human: Human
) -> None:
    ours = _bot_commit(clone)
    before = _history(remote)
    theirs = human.edit("apps/cart/prod/deployment.yaml", "replicas: 2", "replicas: 4", "cart: scale up")
    checks: list[str] = []

    def still_needed() -> bool:
        checks.append("asked")
        return True

    result = clone.push(recheck=still_needed)
    assert result.status == "pushed" and result.attempts == 2
    assert checks == ["asked"]
    assert result.sha != ours  # rebased
    assert remote_head(remote) == result.sha
    assert git(remote, "rev-parse", f"{result.sha}^") == theirs
    after = _history(remote)
    assert set(before) < set(after), "remote history must only grow"
    assert clone.find_heal("aaaaaaaaaaaa") is not None


def test_recheck_stops_when_the_same_heal_already_landed(
    clone: gitrepo.WorkingClone, remote: Path, human: Human
) -> None:
    _bot_commit(clone, heal="feedfacecafe")
    # another replica saw the same incident and won the race
    replica = human.commit(
        {"apps/cart/prod/deployment.yaml": "kind: Deployment\n"},
        "githeal: rollback checkout\n\nHeal-Id: feedfacecafe\nHeal-App: checkout\n",
    )
    result = clone.push(recheck=lambda: clone.find_heal("feedfacecafe") is None)
    assert result == gitrepo.PushResult("already-done", None, 1)
    assert remote_head(remote) == replica
    assert_clean(clone, remote)


def test_bounded_retries_raise_push_rejected(clone: gitrepo.WorkingClone, remote: Path, human: Human) -> None:
    _bot_commit(clone)
    pushed: list[str] = []

    def keep_moving() -> bool:
        n = len(pushed)
        pushed.append(human.commit({f"apps/other/f{n}.yaml": f"n: {n}\n"}, f"other change {n}"))
        return True

    keep_moving()
    with pytest.raises(errors.PushRejected, match="rejected 5 times") as info:
        clone.push(recheck=keep_moving)
    assert info.value.temporary
    history = _history(remote)
    assert all(sha in history for sha in pushed), "a human commit was lost"
    assert remote_head(remote) == pushed[-1]
    assert_clean(clone, remote)


def test_rebase_conflict_is_a_clean_push_rejected(
    clone: gitrepo.WorkingClone, remote: Path, human: Human
) -> None:
    _bot_commit(clone, text="replicas: 5")
    human.edit(DEPLOY_PATH, "replicas: 3", "replicas: 7", "checkout: scale to 7")
    before = _history(remote)
    with pytest.raises(errors.PushRejected, match="no longer rebases"):
        clone.push(recheck=lambda: True)
    assert _history(remote) == before
    assert_clean(clone, remote)


def test_never_force_pushes_or_deletes_the_target_branch(
    clone: gitrepo.WorkingClone, remote: Path, human: Human
) -> None:
    human.edit(DEPLOY_PATH, "replicas: 3", "replicas: 7", "checkout: scale to 7")
    before = _history(remote)
    git(clone.path, "commit", "--allow-empty", "-q", "-m", "diverged")
    for call in (lambda: clone.push_branch("main"), lambda: clone.delete_remote_branch("main")):
        with pytest.raises(errors.GitError, match="only githeal/"):
            call()
    with pytest.raises(errors.GitError, match="only githeal/"):
        clone.push_branch("release")
    assert _history(remote) == before


def test_pr_branch_push_force_update_and_delete(clone: gitrepo.WorkingClone, remote: Path) -> None:
    first = _bot_commit(clone, text="replicas: 5")
    assert clone.push_branch("githeal/checkout/rollback-1") == first
    clone.sync()
    second = _bot_commit(clone, text="replicas: 6")
    assert clone.push_branch("githeal/checkout/rollback-1") == second  # force update of our own branch
    assert remote_head(remote, "githeal/checkout/rollback-1") == second
    assert remote_head(remote) != second
    assert clone.delete_remote_branch("githeal/checkout/rollback-1") is True
    assert clone.delete_remote_branch("githeal/checkout/rollback-1") is False
    assert remote_branches(remote) == ["main"]


def test_rejected_push_leaves_no_stray_branch_and_a_clean_clone(
    clone: gitrepo.WorkingClone, remote: Path
) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'policy: bots may not push here' >&2\nexit 1\n")
    hook.chmod(0o755)
    _bot_commit(clone)
    with pytest.raises(errors.GitError, match="push failed") as info:
        clone.push_branch("githeal/checkout/x")
    assert "bots may not push" in str(info.value.payload)
    assert remote_branches(remote) == ["main"]
    assert_clean(clone, remote)
    _bot_commit(clone)
    with pytest.raises(errors.GitError) as info2:
        clone.push()
    assert not isinstance(info2.value, errors.PushRejected), "a hook rejection is not a moved branch"
    assert_clean(clone, remote)


def test_revert_two_commits_as_one_heal_commit(
    clone: gitrepo.WorkingClone, remote: Path, human: Human
) -> None:
    c1 = human.edit(DEPLOY_PATH, "checkout:1.14.1", "checkout:1.14.2", "checkout: bump to 1.14.2")
    c2 = human.edit(DEPLOY_PATH, "value: normal", "value: turbo", "checkout: turbo mode")
    human.edit("apps/cart/prod/deployment.yaml", "replicas: 2", "replicas: 4", "cart: scale")
    clone.sync()
    clone.revert([c2, c1])
    sha = clone.commit("githeal: rollback checkout\n\nHeal-Id: 0123456789ab\nHeal-App: checkout\n")
    assert git(clone.path, "rev-list", "--count", f"{c2}..{sha}") == "2"  # cart commit + one heal commit
    diff = git(clone.path, "show", "--format=", "--unified=0", sha)
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert sorted(changed) == sorted(
        [
            "-          image: ghcr.io/acme/checkout:1.14.2",
            "+          image: ghcr.io/acme/checkout:1.14.1",
            "-              value: turbo",
            "+              value: normal",
        ]
    )
    assert "replicas: 4" in (clone.path / "apps/cart/prod/deployment.yaml").read_text()


def test_revert_conflict_raises_rollback_error_and_cleans_up(
    clone: gitrepo.WorkingClone, remote: Path, human: Human
) -> None:
    c1 = human.edit(DEPLOY_PATH, "checkout:1.14.1", "checkout:1.14.2", "checkout: bump to 1.14.2")
    human.edit(DEPLOY_PATH, "checkout:1.14.2", "checkout:1.15.0", "checkout: bump to 1.15.0")
    clone.sync()
    with pytest.raises(errors.RollbackError, match=rf"{c1[:12]}.*bump to 1.14.2.*conflicts.*deployment.yaml"):
        clone.revert([c1])
    assert_clean(clone, remote)


def test_restore_paths_to_a_good_revision(clone: gitrepo.WorkingClone, remote: Path, human: Human) -> None:
    good = remote_head(remote)
    human.commit({f"{CHECKOUT}/extra.yaml": "kind: ConfigMap\n"}, "add extra")
    human.edit(DEPLOY_PATH, "replicas: 3", "replicas: 9", "scale")
    human.commit({f"{CHECKOUT}/service.yaml": None}, "drop service")
    clone.sync()
    clone.restore_paths(good, [CHECKOUT])
    clone.commit("githeal: restore checkout\n")
    assert git(clone.path, "diff", "--stat", good, "HEAD", "--", CHECKOUT) == ""
    assert clone.list_files("HEAD", CHECKOUT) == clone.list_files(good, CHECKOUT)


def test_reads_show_list_ancestry(clone: gitrepo.WorkingClone, remote: Path, human: Human) -> None:
    first = remote_head(remote)
    second = human.edit(DEPLOY_PATH, "replicas: 3", "replicas: 4", "scale")
    clone.sync()
    assert clone.show(first, DEPLOY_PATH) is not None
    assert b"replicas: 4" in (clone.show(second, DEPLOY_PATH) or b"")
    assert (clone.show(second, DEPLOY_PATH) or b"").endswith(b"\n"), "trailing newline kept"
    assert clone.show(second, f"{CHECKOUT}/missing.yaml") is None
    assert clone.show(second, CHECKOUT) is None
    assert clone.is_ancestor(first, second) and not clone.is_ancestor(second, first)
    assert clone.resolve(second[:9]) == second
    assert clone.files_changed(second) == [DEPLOY_PATH]
    assert [c.sha for c in clone.log_paths(first, second, [CHECKOUT])] == [second]
    assert clone.log_paths(first, second, ["apps/cart"]) == []
    with pytest.raises(errors.GitError, match="rev-parse"):
        clone.resolve("no-such-branch")


def test_write_outside_the_tree_is_refused(clone: gitrepo.WorkingClone, remote: Path) -> None:
    for bad in ("../escape.yaml", "/etc/passwd", ".git/config"):
        with pytest.raises(errors.GitError, match="outside the working tree"):
            clone.write_files({"ok.yaml": b"x: 1\n", bad: b"boom"})
        assert_clean(clone, remote)


def test_credentials_are_masked_in_errors(tmp_path: Path) -> None:
    wc = gitrepo.WorkingClone("http://bot:s3cr3t-token@127.0.0.1:9/acme/deploy.git", "main", tmp_path / "w")
    with pytest.raises(errors.GitError) as info:
        wc.sync()
    text = f"{info.value} {info.value.payload} {info.value.url}"
    assert "s3cr3t" not in text
    # the password is taken out of the URL and served by the credential helper (tests/git/test_git_https.py)
    assert "http://127.0.0.1:9/acme/deploy.git" in text
    assert not wc.path.exists(), "a failed first clone leaves nothing behind"
    assert (
        gitrepo.mask("see https://x-access-token:ghs_abc@github.com/o/r") == "see https://***@github.com/o/r"
    )


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
def test_ssh_signed_commit_verifies(remote: Path, tmp_path: Path) -> None:
    key = tmp_path / "bot_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bot", "-f", str(key)], check=True)
    wc = gitrepo.WorkingClone(
        str(remote),
        "main",
        tmp_path / "signed",
        identity=("githeal-bot", "githeal@example.com"),
        signing=gitrepo.Signing("ssh", str(key)),
    )
    wc.sync()
    _bot_commit(wc)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"githeal@example.com {key.with_suffix('.pub').read_text().strip()}\n")
    git(wc.path, "config", "gpg.ssh.allowedSignersFile", str(allowed))
    assert git(wc.path, "log", "-1", "--format=%G?") == "G"
    assert (
        "Good"
        in subprocess.run(
            ["git", "log", "-1", "--show-signature"], cwd=wc.path, capture_output=True, text=True, check=True
        ).stdout
    )
