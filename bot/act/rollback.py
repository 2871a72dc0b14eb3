"""Rollback planning: from an Argo CD app's deploy history and Git, what exactly to undo, and how.

The deployed revision is the bad one; the good one is the newest earlier deployment that is an
ancestor of it and not known to be bad. ``plan`` reads Git only through ``clients.gitrepo`` and returns
a ``RollbackPlan`` value, refusing with ``errors.RollbackError`` whenever the undo would not be safe
(a heal in range, files outside the app, a branch that moved on). It must not commit or push.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NoReturn

from bot import errors, model
from bot.clients import gitrepo

HEAL_ID_KEY = "Heal-Id"
_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class Strategy(enum.StrEnum):
    REVERT = "revert"  # git revert the commits since the good revision, as one heal commit
    RESTORE = "restore"  # the app's paths byte-for-byte as at the good revision
    PIN_IMAGE = "pin-image"  # only the image references set back to the good revision's values


@dataclass(frozen=True)
class RollbackPlan:
    app: str
    strategy: Strategy
    good_revision: str
    bad_revision: str
    base_revision: str  # the remote branch head the plan was computed against
    paths: tuple[str, ...]
    commits: tuple[gitrepo.CommitInfo, ...]  # good..bad touching the app's paths, newest first
    revert_shas: tuple[str, ...] = ()
    files: Mapping[str, bytes | None] = field(default_factory=lambda: MappingProxyType({}))
    changes: tuple[str, ...] = ()  # one human-readable line per change
    reason: str = ""


def _same(a: str, b: str) -> bool:
    """Full or abbreviated (7+) sha equality."""
    if not a or not b:
        return False
    short, full = sorted((a.lower(), b.lower()), key=len)
    return len(short) >= 7 and full.startswith(short)


def _known(rev: str, known_bad: Collection[str]) -> bool:
    return any(_same(rev, bad) for bad in known_bad)


def bad_revision(app: model.AppStatus) -> str:
    """The revision Argo CD deployed last (history is oldest first)."""
    if not app.history or not app.history[-1].revision:
        raise errors.RollbackError(
            "no healthy revision known: Argo CD has no deployment history", app=app.name
        )
    return app.history[-1].revision


def good_revision(
    app: model.AppStatus,
    *,
    is_ancestor: Callable[[str, str], bool],
    known_bad: Collection[str] = (),
) -> model.Deployment:
    """The newest earlier deployment that differs from the bad one, precedes it in Git, is not known bad."""
    bad = bad_revision(app)
    skipped = []
    for dep in reversed(app.history[:-1]):
        if not dep.revision or _same(dep.revision, bad):
            continue
        if _known(dep.revision, known_bad):
            skipped.append(f"{dep.revision[:7]} (known bad)")
        elif not is_ancestor(dep.revision, bad):
            skipped.append(f"{dep.revision[:7]} (not an ancestor of {bad[:7]})")
        else:
            return dep
    why = f"; skipped {', '.join(skipped)}" if skipped else ""
    raise errors.RollbackError(
        f"no healthy revision known before {bad[:7]} in {len(app.history)} history entries{why}", app=app.name
    )


def stable_revision(
    app: model.AppStatus, clone: gitrepo.WorkingClone, paths: Sequence[str], images: Collection[str]
) -> str | None:
    """The newest earlier deployment whose manifests under ``paths`` name every one of ``images`` (the
    images an aborted canary's stable ReplicaSet runs), or None when no deployment writes them as full
    references (kustomize/Helm image fields, history gone): the caller then uses ``good_revision``."""
    from bot.act import edit  # the manifest editor, as in _pin_images

    wanted, bad = set(images), bad_revision(app)
    is_ancestor = _ancestry(clone)
    for dep in reversed(app.history[:-1]):
        if not wanted or not dep.revision or _same(dep.revision, bad) or not is_ancestor(dep.revision, bad):
            continue
        found: set[str] = set()
        for path in paths:
            for name in clone.list_files(dep.revision, path.strip("/")):
                data = clone.show(dep.revision, name) if name.endswith(_MANIFEST_SUFFIXES) else None
                if data is None:
                    continue
                try:
                    found |= {ref.value for ref in edit.find_images(data.decode(), filename=name)}
                except (errors.ManifestError, UnicodeDecodeError):
                    continue  # not a manifest githeal can read: it names no image
        if wanted <= found:
            return dep.revision
    return None


def _under(file: str, paths: Sequence[str]) -> bool:
    for path in paths:
        root = path.strip("/")
        if root in ("", ".") or file == root or file.startswith(root + "/"):
            return True
    return False


def plan(
    app: model.AppStatus,
    clone: gitrepo.WorkingClone,
    strategy: Strategy = Strategy.REVERT,
    *,
    paths: Sequence[str] | None = None,
    allowed_paths: Sequence[str] | None = None,
    known_bad: Collection[str] = (),
    good: str | None = None,
) -> RollbackPlan:
    """Plan the rollback of ``app`` in a synced clone; ``good`` overrides the history-derived target."""
    app_paths = tuple(paths) if paths else (app.path,)
    allowed = tuple(allowed_paths) if allowed_paths else app_paths
    bad = clone.resolve(bad_revision(app))
    good_rev = clone.resolve(
        good or good_revision(app, is_ancestor=_ancestry(clone), known_bad=known_bad).revision
    )
    refuse = _refuser(app.name)
    if good_rev == bad:
        refuse(f"nothing to roll back: the good revision {good_rev[:7]} is the deployed one")
    if not clone.is_ancestor(good_rev, bad):
        refuse(f"{good_rev[:7]} is not an ancestor of the deployed {bad[:7]}: no range to undo")
    head = clone.resolve(clone.remote_ref)
    if not clone.is_ancestor(bad, head):
        refuse(f"deployed revision {bad[:7]} is not on {clone.branch} any more (history rewritten?)")
    later = clone.log_paths(bad, head, app_paths)
    if later:
        kind = "a heal is already pending" if later[0].trailer(HEAL_ID_KEY) else "someone may be fixing it"
        refuse(
            f"{clone.branch} moved on: {len(later)} commit(s) after the deployed {bad[:7]} touch "
            f"{', '.join(app_paths)} (newest {later[0].short} {later[0].subject!r}); {kind}"
        )
    commits = clone.log_paths(good_rev, bad, app_paths)
    if not commits:
        refuse(f"nothing to roll back: no commit in {good_rev[:7]}..{bad[:7]} touches {', '.join(app_paths)}")
    heals = [c for c in commits if c.trailer(HEAL_ID_KEY)]
    if heals:
        refuse(
            f"{heals[0].short} ({heals[0].subject!r}) is itself a heal "
            f"(Heal-Id {heals[0].trailer(HEAL_ID_KEY)}): never roll back a rollback"
        )
    base = RollbackPlan(app.name, strategy, good_rev, bad, head, app_paths, tuple(commits))
    if strategy is Strategy.REVERT:
        result = _revert(base, clone, allowed, refuse)
    elif strategy is Strategy.RESTORE:
        result = _restore(base, clone, refuse)
    else:
        result = _pin_images(base, clone, refuse)
    subjects = "; ".join(f"{c.short} {c.subject}" for c in commits[:5])
    more = f" and {len(commits) - 5} more" if len(commits) > 5 else ""
    reason = (
        f"{strategy.value} {app.name} to {good_rev[:7]} (last deployment before {bad[:7]}), "
        f"undoing {len(commits)} commit(s): {subjects}{more}"
    )
    return dataclasses.replace(result, reason=reason)


def _ancestry(clone: gitrepo.WorkingClone) -> Callable[[str, str], bool]:
    def is_ancestor(a: str, b: str) -> bool:
        try:
            return clone.is_ancestor(a, b)
        except errors.GitError:
            return False  # a history entry from a branch or commit this clone does not have

    return is_ancestor


def _refuser(app: str) -> Callable[[str], NoReturn]:
    def refuse(reason: str) -> NoReturn:
        raise errors.RollbackError(reason, app=app)

    return refuse


def _revert(
    p: RollbackPlan, clone: gitrepo.WorkingClone, allowed: Sequence[str], refuse: Callable[[str], NoReturn]
) -> RollbackPlan:
    shas, changes = [], []
    for commit in p.commits:
        if len(commit.parents) > 1:
            continue  # a merge's own changes are in its non-merge commits, also in range
        outside = [f for f in clone.files_changed(commit.sha) if not _under(f, allowed)]
        if outside:
            refuse(
                f"{commit.short} ({commit.subject!r}) also changes {', '.join(outside[:5])}, outside "
                f"{', '.join(allowed)}: reverting it would roll back more than this app"
            )
        shas.append(commit.sha)
        changes.append(f"revert {commit.short} {commit.subject}")
    if not shas:
        refuse("nothing to roll back: only merge commits touch the app in range")
    return dataclasses.replace(p, revert_shas=tuple(shas), changes=tuple(changes))


def _changed_files(p: RollbackPlan, clone: gitrepo.WorkingClone) -> list[str]:
    names = {f for c in clone.log_paths(p.good_revision, p.base_revision, p.paths) for f in c.files}
    return sorted(f for f in names if _under(f, p.paths))


def _restore(p: RollbackPlan, clone: gitrepo.WorkingClone, refuse: Callable[[str], NoReturn]) -> RollbackPlan:
    files: dict[str, bytes | None] = {}
    changes = []
    for name in _changed_files(p, clone):
        new = clone.show(p.good_revision, name)
        if clone.show(p.base_revision, name) != new:
            files[name] = new
            changes.append(f"{'delete' if new is None else 'restore'} {name}")
    if not files:
        refuse(f"nothing to roll back: {', '.join(p.paths)} already match {p.good_revision[:7]}")
    return dataclasses.replace(p, files=MappingProxyType(files), changes=tuple(changes))


def _pin_images(
    p: RollbackPlan, clone: gitrepo.WorkingClone, refuse: Callable[[str], NoReturn]
) -> RollbackPlan:
    from bot.act import edit  # the manifest editor; imported here so revert/restore never depend on it

    files: dict[str, bytes | None] = {}
    changes = []
    for name in _changed_files(p, clone):
        if not name.endswith(_MANIFEST_SUFFIXES):
            continue
        current, old = clone.show(p.base_revision, name), clone.show(p.good_revision, name)
        if current is None or old is None:
            continue
        text = current.decode()
        wanted = {ref.target: ref.value for ref in edit.find_images(old.decode(), filename=name)}
        for ref in edit.find_images(text, filename=name):
            value = wanted.get(ref.target)
            if value is not None and value != ref.value:
                result = edit.apply(text, ref.target, value, filename=name)
                text = result.text
                changes.append(f"{name}: image {result.old} -> {result.new}")
        if text != current.decode():
            files[name] = text.encode()
    if not files:
        refuse(f"pin-image: no image in {', '.join(p.paths)} differs from {p.good_revision[:7]}")
    return dataclasses.replace(p, files=MappingProxyType(files), changes=tuple(changes))


def stage(p: RollbackPlan, clone: gitrepo.WorkingClone) -> None:
    """Stage the plan in the clone (the caller commits); a moved branch or a revert conflict refuses."""
    if clone.head() != p.base_revision:
        raise errors.RollbackError(
            f"{clone.branch} is at {clone.head()[:7]}, the plan was made at {p.base_revision[:7]}: re-plan",
            app=p.app,
        )
    if p.strategy is Strategy.REVERT:
        clone.revert(p.revert_shas)
    else:
        clone.write_files(p.files)
