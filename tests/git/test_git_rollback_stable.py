"""An aborted canary's rollback goes back to the deployment its stable ReplicaSet runs, not merely the one
before the last: two releases deployed in a row whose canaries both aborted leave the stable version two
deployments back (Argo Rollouts keeps the stable ReplicaSet until a canary is promoted)."""

from __future__ import annotations

from pathlib import Path

from githelp import CHECKOUT, Human, remote_head
from test_git_rollback import DEPLOY_PATH, app_status

from bot.act import rollback
from bot.clients import gitrepo

STABLE = "ghcr.io/acme/checkout:1.14.1"


def test_stable_revision_skips_a_deployment_whose_canary_never_became_stable(
    clone: gitrepo.WorkingClone, remote: Path, human: Human
) -> None:
    good = remote_head(remote)
    b = human.edit(DEPLOY_PATH, "checkout:1.14.1", "checkout:1.15.0", "checkout: 1.15.0")  # aborted
    c = human.edit(DEPLOY_PATH, "checkout:1.15.0", "checkout:1.15.1", "checkout: 1.15.1")  # aborted too
    clone.sync()
    app = app_status([good, b, c])
    assert rollback.stable_revision(app, clone, [CHECKOUT], [STABLE]) == good
    # the default choice (the deployment before the last) would put Git on another aborted version
    plan = rollback.plan(app, clone, rollback.Strategy.PIN_IMAGE)
    assert plan.good_revision == b
    pinned = rollback.plan(app, clone, rollback.Strategy.PIN_IMAGE, good=good)
    assert pinned.changes == (f"{DEPLOY_PATH}: image ghcr.io/acme/checkout:1.15.1 -> {STABLE}",)
    assert pinned.revert_shas == () and [x.sha for x in pinned.commits] == [c, b]


def test_no_deployment_with_the_stable_images_leaves_the_default(
    clone: gitrepo.WorkingClone, remote: Path, human: Human
) -> None:
    good = remote_head(remote)
    b = human.edit(DEPLOY_PATH, "checkout:1.14.1", "checkout:1.15.0", "checkout: 1.15.0")
    clone.sync()
    app = app_status([good, b])
    assert rollback.stable_revision(app, clone, [CHECKOUT], ["ghcr.io/acme/checkout:0.9"]) is None
    assert rollback.stable_revision(app, clone, [CHECKOUT], []) is None
    assert rollback.stable_revision(app, clone, ["apps/nowhere"], [STABLE]) is None
