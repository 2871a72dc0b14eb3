"""Branch protection on the git side of the GitHub emulator: a ``pre-receive`` hook in each bare repo.

GitHub refuses a direct ``git push`` to a protected branch during receive-pack and the client prints
``remote: error: GH006: Protected branch update failed for refs/heads/main.`` followed by the reason
and ``! [remote rejected] main -> main``. The bot pushes straight into the bare repository, so the
same refusal must come from git itself: the emulator writes the protected branches into the repo and
this hook reads them. The emulator's own merges use ``update-ref`` and are not affected. This module
must not know about pull requests or HTTP.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bot.sandbox.github import store

RULES_FILE = "githeal-emulator-protected"
HOOK = """#!/bin/sh
# Written by the githeal GitHub emulator: refuse pushes to protected branches like GitHub (GH006).
rules="$GIT_DIR/RULES_FILE"
[ -f "$rules" ] || exit 0
status=0
while read -r old new ref; do
    reason=$(awk -F '\\t' -v ref="$ref" '$1 == ref { print $2; exit }' "$rules")
    if [ -n "$reason" ]; then
        echo "error: GH006: Protected branch update failed for $ref." >&2
        echo "error: $reason" >&2
        status=1
    fi
done
exit $status
""".replace("RULES_FILE", RULES_FILE)


def reason(rule: store.Protection) -> str:
    """The second GH006 line: what the rule asks for instead of a push."""
    if rule.reviews or not rule.contexts:
        return "Changes must be made through a pull request."
    if len(rule.contexts) == 1:
        return f'Required status check "{rule.contexts[0]}" is expected.'
    return f"{len(rule.contexts)} of {len(rule.contexts)} required status checks are expected."


def install(repo: store.Repo) -> None:
    """(Re)write the hook and the rules file of ``repo`` from its current protection settings."""
    git_dir = Path(repo.git.path)
    hook = git_dir / "hooks" / "pre-receive"
    hook.parent.mkdir(exist_ok=True)
    if not hook.exists() or hook.read_text() != HOOK:
        hook.write_text(HOOK)
        hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    lines = [f"refs/heads/{branch}\t{reason(rule)}\n" for branch, rule in sorted(repo.protection.items())]
    tmp = git_dir / (RULES_FILE + ".tmp")
    tmp.write_text("".join(lines))
    os.replace(tmp, git_dir / RULES_FILE)
