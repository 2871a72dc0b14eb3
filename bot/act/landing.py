"""Landing a heal PR the way its repository allows, and telling the humans when it cannot.

GitHub's defaults are not the bot's wishes: auto-merge is off unless the repository enables it,
some repositories allow only squash or only rebase merges, protection may require reviews or an
up-to-date branch, and a review request to a non-collaborator is refused. ``land`` asks the client
to merge now, enable auto-merge, or leave the PR; a PR left for a human gets a comment saying why
(and a log line). A direct push refused by branch protection (GH006) is recognised here too.
Comment texts are pure functions; the only I/O goes through ``clients.github``.
"""

from __future__ import annotations

from bot import errors
from bot.clients import github as githubclient
from bot.record import log
from bot.settings import tree

PROTECTED_MARKERS = ("GH006", "protected branch hook declined", "Protected branch update failed")


def push_refused_by_protection(exc: errors.BotError) -> bool:
    """A ``git push`` refused by GitHub branch protection (``remote: error: GH006: ...``)."""
    text = f"{exc} {getattr(exc, 'payload', '')}"
    return isinstance(exc, errors.GitError) and any(m in text for m in PROTECTED_MARKERS)


def left_comment(reason: str, method: str | None) -> str:
    how = f" with a {method} merge" if method else ""
    return (
        "githeal could not merge this pull request automatically: "
        f"{reason}.\n\nIt is left for a human: review it and merge it{how} when the checks allow. "
        "To let githeal merge heals itself, enable *Allow auto-merge* in the repository settings "
        "(Settings > General > Pull Requests) and protect the base branch with the required checks."
    )


def notes_comment(notes: tuple[str, ...]) -> str:
    items = "\n".join(f"- {n}" for n in notes)
    return f"githeal opened this pull request, but GitHub refused part of the request:\n\n{items}\n"


def _comment(gh: githubclient.GitHubClient, pr: githubclient.PrRef, body: str) -> None:
    try:
        gh.comment(pr.repo, pr.number, body)
    except errors.GitHubError as exc:  # the PR stands; the log line below still says why
        log.event("heal.pr_comment_failed", repo=pr.repo, pr=pr.number, error=str(exc))


def report_notes(gh: githubclient.GitHubClient, pr: githubclient.PrRef) -> None:
    """Review requests or labels GitHub refused: a log line and, on a fresh PR, one comment."""
    if not pr.notes:
        return
    log.event("heal.pr_notes", repo=pr.repo, pr=pr.number, notes="; ".join(pr.notes))
    if pr.outcome == "created":
        _comment(gh, pr, notes_comment(pr.notes))


def land(
    gh: githubclient.GitHubClient, repo: tree.RepoSettings, pr: githubclient.PrRef, commit_msg: str
) -> githubclient.Landing:
    """Merge now, enable auto-merge, or leave the PR for a human (commented on and logged)."""
    subject, _, body = commit_msg.partition("\n")
    method = next((m for m in githubclient.METHODS if m == repo.merge_method), None)
    landing = gh.land(
        pr,
        method,
        title=f"{subject} (#{pr.number})",
        message=body.strip(),  # a squash keeps the heal's trailers
    )
    if landing.status == "left":
        log.event("heal.pr_left_for_human", repo=pr.repo, pr=pr.number, reason=landing.reason)
        if pr.outcome != "unchanged":  # once per PR version, not every cycle
            _comment(gh, pr, left_comment(landing.reason, landing.method))
    return landing
