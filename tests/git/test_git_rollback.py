"""Rollback planning over real repos: good revision choice, strategies, and every refusal."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from githelp import CHECKOUT, Human, assert_clean, git, remote_head

from bot import errors, model
from bot.act import rollback
from bot.clients import gitrepo

DEPLOY_PATH = f"{CHECKOUT}/deployment.yaml"
T0 = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)


def app_status(revisions: Sequence[str], path: str = CHECKOUT) -> model.AppStatus:
    history = tuple(
        model.Deployment(id=i + 1, revision=rev, deployed_at=T0 + timedelta(minutes=10 * i))
        for i, rev in enumerate(revisions)
    )
    return model.AppStatus(
        name="checkout",
        project="payments",
        repo_url="https://example.com/deploy.git",
        path=path,
        target_revision="main",
        sync=model.SyncStatus.SYNCED,
        health=model.HealthStatus.DEGRADED,
        revision=revisions[-1] if revisions else "",
        history=history,
    )


@pytest.mark.parametrize(
    ("history", "ancestors", "known_bad", "expected"),
    [
        (["a" * 40, "b" * 40], {"a" * 40}, (), "a" * 40),
        (["a" * 40, "b" * 40, "b" * 40], {"a" * 40}, (), "a" * 40),  # resync of the bad one is skipped
        (["a" * 40, "c" * 40, "b" * 40], {"a" * 40, "c" * 40}, ["ccccccc"], "a" * 40),  # known bad (short)
        (["a" * 40, "c" * 40, "b" * 40], {"a" * 40}, (), "a" * 40),  # c is on another branch
        (["b" * 40], set(), (), None),
        (["a" * 40, "b" * 40], set(), (), None),
        ([], set(), (), None),
    ],
)
def test_good_revision_table(
    history: list[str], ancestors: set[str], known_bad: Sequence[str], expected: str | None
) -> None:
    app = app_status(history)

    def is_ancestor(a: str, b: str) -> bool:
        return a in ancestors

    if expected is None:
        with pytest.raises(errors.RollbackError, match="no healthy revision known"):
            rollback.good_revision(app, is_ancestor=is_ancestor, known_bad=known_bad)
    else:
        assert rollback.good_revision(app, is_ancestor=is_ancestor, known_bad=known_bad).revision == expected


@pytest.fixture
def bad_deploy(clone: gitrepo.WorkingClone, remote: Path, human: Human) -> tuple[str, str, str, str]:
    """good, c1, c2 (= bad, deployed), plus an unrelated cart commit on top."""
    good = remote_head(remote)
    c1 = human.edit(DEPLOY_PATH, "checkout:1.14.1", "checkout:1.14.2", "checkout: bump to 1.14.2")
    c2 = human.edit(DEPLOY_PATH, "value: normal", "value: turbo", "checkout: turbo mode")
    human.edit("apps/cart/prod/deployment.yaml", "replicas: 2", "replicas: 4", "cart: scale")
    clone.sync()
    return good, c1, c2, remote_head(remote)


def test_revert_plan_stages_one_commit_touching_only_the_app(
    clone: gitrepo.WorkingClone, remote: Path, bad_deploy: tuple[str, str, str, str]
) -> None:
    good, c1, c2, head = bad_deploy
    plan = rollback.plan(app_status([good, c2]), clone)
    assert (plan.good_revision, plan.bad_revision, plan.base_revision) == (good, c2, head)
    assert plan.revert_shas == (c2, c1)
    assert [c.subject for c in plan.commits] == ["checkout: turbo mode", "checkout: bump to 1.14.2"]
    assert plan.reason.startswith(f"revert checkout to {good[:7]} (last deployment before {c2[:7]})")
    rollback.stage(plan, clone)
    sha = clone.commit("githeal: rollback checkout\n\nHeal-Id: 0123456789ab\nHeal-App: checkout\n")
    assert git(clone.path, "diff", "--stat", good, sha, "--", CHECKOUT) == ""
    assert clone.files_changed(sha) == [DEPLOY_PATH]
    assert "replicas: 4" in (clone.show(sha, "apps/cart/prod/deployment.yaml") or b"").decode()


def test_restore_plan_carries_the_good_bytes(
    clone: gitrepo.WorkingClone, remote: Path, human: Human, bad_deploy: tuple[str, str, str, str]
) -> None:
    good, _, _, _ = bad_deploy
    bad = human.commit({f"{CHECKOUT}/extra.yaml": "kind: ConfigMap\n"}, "checkout: add extra")
    clone.sync()
    plan = rollback.plan(app_status([good, bad]), clone, rollback.Strategy.RESTORE)
    assert dict(plan.files) == {DEPLOY_PATH: clone.show(good, DEPLOY_PATH), f"{CHECKOUT}/extra.yaml": None}
    assert plan.changes == (f"restore {DEPLOY_PATH}", f"delete {CHECKOUT}/extra.yaml")
    rollback.stage(plan, clone)
    clone.commit("githeal: restore checkout\n")
    assert git(clone.path, "diff", "--stat", good, "HEAD", "--", CHECKOUT) == ""


def test_refuses_to_roll_back_a_heal(clone: gitrepo.WorkingClone, remote: Path, human: Human) -> None:
    good = remote_head(remote)
    heal = human.commit(
        {DEPLOY_PATH: (clone.path / DEPLOY_PATH).read_text().replace("replicas: 3", "replicas: 6")},
        "githeal: scale checkout\n\nHeal-Id: 5ca1e0000001\nHeal-App: checkout\nHeal-Action: scale\n",
    )
    clone.sync()
    with pytest.raises(errors.RollbackError, match=r"is itself a heal.*never roll back a rollback") as info:
        rollback.plan(app_status([good, heal]), clone)
    assert info.value.app == "checkout"


def test_refuses_commits_outside_the_allowed_paths(
    clone: gitrepo.WorkingClone, remote: Path, human: Human
) -> None:
    good = remote_head(remote)
    text = (clone.path / DEPLOY_PATH).read_text()
    bad = human.commit(
        {DEPLOY_PATH: text.replace("replicas: 3", "replicas: 1"), "apps/cart/prod/deployment.yaml": "x: 1\n"},
        "checkout and cart: shrink",
    )
    clone.sync()
    with pytest.raises(errors.RollbackError, match=r"also changes apps/cart/prod/deployment.yaml, outside"):
        rollback.plan(app_status([good, bad]), clone)
    # allowing the wider path (e.g. a shared base) makes the same revert acceptable
    plan = rollback.plan(app_status([good, bad]), clone, allowed_paths=["apps"])
    assert plan.revert_shas == (bad,)
    # restore only ever writes the app's own paths, so it needs no such check
    restore = rollback.plan(app_status([good, bad]), clone, rollback.Strategy.RESTORE)
    assert list(restore.files) == [DEPLOY_PATH]


def test_refuses_when_nothing_to_roll_back(
    clone: gitrepo.WorkingClone, remote: Path, human: Human, bad_deploy: tuple[str, str, str, str]
) -> None:
    good, _, c2, head = bad_deploy
    with pytest.raises(errors.RollbackError, match="nothing to roll back: the good revision"):
        rollback.plan(app_status([good, c2]), clone, good=c2)
    cart_only = app_status([c2, head])  # the commit between them touched only cart
    with pytest.raises(errors.RollbackError, match="nothing to roll back: no commit"):
        rollback.plan(cart_only, clone)
    with pytest.raises(errors.RollbackError, match="no healthy revision known"):
        rollback.plan(app_status([c2]), clone)


def test_refuses_when_the_branch_moved_on_for_the_app(
    clone: gitrepo.WorkingClone, remote: Path, human: Human, bad_deploy: tuple[str, str, str, str]
) -> None:
    good, _, c2, _ = bad_deploy
    human.edit(DEPLOY_PATH, "value: turbo", "value: safe", "checkout: hotfix")
    clone.sync()
    with pytest.raises(errors.RollbackError, match=r"moved on: 1 commit.*checkout: hotfix.*fixing it"):
        rollback.plan(app_status([good, c2]), clone)


def test_known_bad_revisions_are_skipped(
    clone: gitrepo.WorkingClone, remote: Path, bad_deploy: tuple[str, str, str, str]
) -> None:
    good, c1, c2, _ = bad_deploy
    plan = rollback.plan(app_status([good, c1, c2]), clone)
    assert plan.good_revision == c1 and plan.revert_shas == (c2,)
    plan = rollback.plan(app_status([good, c1, c2]), clone, known_bad={c1[:8]})
    assert plan.good_revision == good and plan.revert_shas == (c2, c1)


def test_stage_refuses_a_stale_plan_and_reports_revert_conflicts(
    clone: gitrepo.WorkingClone, remote: Path, human: Human, bad_deploy: tuple[str, str, str, str]
) -> None:
    good, c1, c2, _ = bad_deploy
    plan = rollback.plan(app_status([good, c2]), clone)
    human.edit("apps/cart/prod/deployment.yaml", "replicas: 4", "replicas: 5", "cart: more")
    clone.sync()
    with pytest.raises(errors.RollbackError, match="re-plan"):
        rollback.stage(plan, clone)
    # reverting only the older of two commits on the same line conflicts
    human.edit(DEPLOY_PATH, "checkout:1.14.2", "checkout:1.15.0", "checkout: 1.15.0")
    clone.sync()
    partial = dataclasses.replace(plan, revert_shas=(c1,), base_revision=clone.head())
    with pytest.raises(errors.RollbackError, match=f"reverting {c1[:12]}.*conflicts"):
        rollback.stage(partial, clone)
    assert_clean(clone, remote)


def test_pin_image_sets_back_only_the_image(
    clone: gitrepo.WorkingClone, remote: Path, bad_deploy: tuple[str, str, str, str]
) -> None:
    good, _, c2, _ = bad_deploy
    plan = rollback.plan(app_status([good, c2]), clone, rollback.Strategy.PIN_IMAGE)
    new = plan.files[DEPLOY_PATH]
    assert new is not None
    assert b"checkout:1.14.1" in new and b"value: turbo" in new  # the turbo change stays
    assert any("1.14.2" in c and "1.14.1" in c for c in plan.changes)


def test_unknown_or_unrelated_good_revisions(
    clone: gitrepo.WorkingClone, remote: Path, bad_deploy: tuple[str, str, str, str]
) -> None:
    good, _, c2, head = bad_deploy
    # a history entry this clone has never seen (deleted branch) is skipped, not an error
    plan = rollback.plan(app_status([good, "f" * 40, c2]), clone)
    assert plan.good_revision == good
    with pytest.raises(errors.RollbackError, match="not an ancestor of the deployed"):
        rollback.plan(app_status([good, c2]), clone, good=head)


def test_pin_image_refuses_when_no_image_changed(
    clone: gitrepo.WorkingClone, remote: Path, bad_deploy: tuple[str, str, str, str]
) -> None:
    _, c1, c2, _ = bad_deploy  # c2 only changed an env value
    with pytest.raises(errors.RollbackError, match="pin-image: no image"):
        rollback.plan(app_status([c1, c2]), clone, rollback.Strategy.PIN_IMAGE)
