"""JSON shapes of the GitHub emulator, modelled on the modern recordings in reference/github.

Every ``url``/``*_url`` is built from the request's own scheme, host, port and base path (``Urls``),
because PyGithub follows those URLs and asserts they stay on its base URL. This module must not
change state: it only renders store objects.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.sandbox.github import pulls, store

Json = dict[str, Any]
DOCS = "https://docs.github.com/rest"

_USER_LINKS = {
    "followers_url": "/followers",
    "following_url": "/following{/other_user}",
    "gists_url": "/gists{/gist_id}",
    "starred_url": "/starred{/owner}{/repo}",
    "subscriptions_url": "/subscriptions",
    "organizations_url": "/orgs",
    "repos_url": "/repos",
    "events_url": "/events{/privacy}",
    "received_events_url": "/received_events",
}
_REPO_LINKS = [
    "forks",
    "keys{/key_id}",
    "collaborators{/collaborator}",
    "teams",
    "hooks",
    "issue_events:issues/events{/number}",
    "events",
    "assignees{/user}",
    "branches{/branch}",
    "tags",
    "blobs:git/blobs{/sha}",
    "git_tags:git/tags{/sha}",
    "git_refs:git/refs{/sha}",
    "trees:git/trees{/sha}",
    "statuses:statuses/{sha}",
    "languages",
    "stargazers",
    "contributors",
    "subscribers",
    "subscription",
    "commits{/sha}",
    "git_commits:git/commits{/sha}",
    "comments{/number}",
    "issue_comment:issues/comments{/number}",
    "contents:contents/{+path}",
    "compare:compare/{base}...{head}",
    "merges",
    "archive:{archive_format}{/ref}",
    "downloads",
    "issues{/number}",
    "pulls{/number}",
    "milestones{/number}",
    "notifications{?since,all,participating}",
    "labels{/name}",
    "releases{/id}",
    "deployments",
]


class Urls:
    def __init__(self, api: str, web: str) -> None:
        self.api = api.rstrip("/")
        self.web = web.rstrip("/")

    def repo(self, repo: store.Repo) -> str:
        return f"{self.api}/repos/{repo.full_name}"

    def html(self, repo: store.Repo) -> str:
        return f"{self.web}/{repo.full_name}"


def error(status: int, message: str, errors: list[dict[str, str]] | None = None) -> Json:
    body: Json = {"message": message, "documentation_url": DOCS, "status": str(status)}
    if errors:
        body["errors"] = errors
    return body


def user(u: store.User | None, urls: Urls) -> Json | None:
    if u is None:
        return None
    base = f"{urls.api}/users/{quote(u.login)}"
    body: Json = {
        "login": u.login,
        "id": u.id,
        "node_id": store.node_id(u.type, u.id),
        "avatar_url": f"{urls.web}/avatars/u/{u.id}?v=4",
        "gravatar_id": "",
        "url": base,
        "html_url": f"{urls.web}/{quote(u.login)}",
    }
    body.update({key: base + suffix for key, suffix in _USER_LINKS.items()})
    body.update({"type": u.type, "user_view_type": "public", "site_admin": False})
    return body


def repo(r: store.Repo, urls: Urls, full: bool = True) -> Json:
    api, html = urls.repo(r), urls.html(r)
    created = store.iso(r.created_at)
    open_issues = sum(1 for i in r.issues.values() if i.state == "open")
    body: Json = {
        "id": r.id,
        "node_id": store.node_id("Repository", r.id),
        "name": r.name,
        "full_name": r.full_name,
        "private": False,
        "owner": user(r.owner, urls),
        "html_url": html,
        "description": None,
        "fork": False,
        "url": api,
    }
    for entry in _REPO_LINKS:
        name, _, path = entry.partition(":")
        key = name.split("{")[0]
        body[f"{key}_url"] = f"{api}/{path or name}"
    body.update(
        {
            "created_at": created,
            "updated_at": created,
            "pushed_at": created,
            "git_url": f"{html}.git",
            "ssh_url": f"{html}.git",
            "clone_url": f"{html}.git",
            "svn_url": html,
            "homepage": None,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": None,
            "has_issues": r.has_issues,
            "has_projects": False,
            "has_downloads": True,
            "has_wiki": False,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": 0,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": open_issues,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "visibility": "public",
            "forks": 0,
            "open_issues": open_issues,
            "watchers": 0,
            "default_branch": r.default_branch,
        }
    )
    if full:
        body.update(
            {
                "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
                "temp_clone_token": "",
                "allow_squash_merge": r.allow_squash_merge,
                "allow_merge_commit": r.allow_merge_commit,
                "allow_rebase_merge": r.allow_rebase_merge,
                "allow_auto_merge": r.allow_auto_merge,
                "delete_branch_on_merge": r.delete_branch_on_merge,
                "allow_update_branch": True,
                "use_squash_pr_title_as_default": True,
                "squash_merge_commit_message": "COMMIT_MESSAGES",
                "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
                "merge_commit_message": "PR_TITLE",
                "merge_commit_title": "MERGE_MESSAGE",
                "custom_properties": {},
                "organization": user(r.owner, urls) if r.owner.type == "Organization" else None,
                "security_and_analysis": {
                    name: {"status": "disabled"}
                    for name in (
                        "secret_scanning",
                        "secret_scanning_push_protection",
                        "dependabot_security_updates",
                        "secret_scanning_non_provider_patterns",
                        "secret_scanning_validity_checks",
                    )
                },
                "network_count": 0,
                "subscribers_count": 0,
            }
        )
    return body


def label(r: store.Repo, lab: store.Label, urls: Urls) -> Json:
    return {
        "id": lab.id,
        "node_id": store.node_id("Label", lab.id),
        "url": f"{urls.repo(r)}/labels/{quote(lab.name, safe='')}",
        "name": lab.name,
        "color": lab.color,
        "default": False,
        "description": lab.description,
    }


def issue(r: store.Repo, i: store.Issue, urls: Urls) -> Json:
    api = f"{urls.repo(r)}/issues/{i.number}"
    body: Json = {
        "url": api,
        "repository_url": urls.repo(r),
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments",
        "events_url": f"{api}/events",
        "html_url": f"{urls.html(r)}/{'pull' if i.pull else 'issues'}/{i.number}",
        "id": i.id,
        "node_id": store.node_id("Issue", i.id),
        "number": i.number,
        "title": i.title,
        "user": user(i.user, urls),
        "labels": [label(r, lab, urls) for lab in i.labels],
        "state": i.state,
        "locked": i.locked,
        "assignee": user(i.assignees[0], urls) if i.assignees else None,
        "assignees": [user(a, urls) for a in i.assignees],
        "milestone": None,
        "comments": len(i.comments),
        "created_at": store.iso(i.created_at),
        "updated_at": store.iso(i.updated_at),
        "closed_at": store.iso(i.closed_at),
        "author_association": "OWNER",
        "active_lock_reason": None,
        "body": i.body,
        "closed_by": user(i.closed_by, urls),
        "state_reason": i.state_reason,
    }
    if i.pull is not None:
        # Only PRs carry this key on the issues API: clients tell issues from PRs by its presence.
        pr_html = f"{urls.html(r)}/pull/{i.number}"
        body["pull_request"] = {
            "url": f"{urls.repo(r)}/pulls/{i.number}",
            "html_url": pr_html,
            "diff_url": f"{pr_html}.diff",
            "patch_url": f"{pr_html}.patch",
            "merged_at": store.iso(i.pull.merged_at),
        }
    return body


def comment(r: store.Repo, c: store.Comment, urls: Urls) -> Json:
    return {
        "url": f"{urls.repo(r)}/issues/comments/{c.id}",
        "html_url": f"{urls.html(r)}/issues/{c.issue_number}#issuecomment-{c.id}",
        "issue_url": f"{urls.repo(r)}/issues/{c.issue_number}",
        "id": c.id,
        "node_id": store.node_id("IssueComment", c.id),
        "user": user(c.user, urls),
        "created_at": store.iso(c.created_at),
        "updated_at": store.iso(c.updated_at),
        "author_association": "OWNER",
        "body": c.body,
        "reactions": {"url": f"{urls.repo(r)}/issues/comments/{c.id}/reactions", "total_count": 0},
        "performed_via_github_app": None,
    }


def pull(
    r: store.Repo, i: store.Issue, urls: Urls, merge: pulls.Mergeability | None, full: bool = True
) -> Json:
    p = i.pull
    assert p is not None
    api, html = f"{urls.repo(r)}/pulls/{i.number}", f"{urls.html(r)}/pull/{i.number}"
    issue_api = f"{urls.repo(r)}/issues/{i.number}"
    links = {
        "self": api,
        "html": html,
        "issue": issue_api,
        "comments": f"{issue_api}/comments",
        "review_comments": f"{api}/comments",
        "review_comment": f"{urls.repo(r)}/pulls/comments{{/number}}",
        "commits": f"{api}/commits",
        "statuses": f"{urls.repo(r)}/statuses/{p.head_sha}",
    }
    body: Json = {
        "url": api,
        "id": p.id,
        "node_id": p.node_id,
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue_api,
        "number": i.number,
        "state": i.state,
        "locked": i.locked,
        "title": i.title,
        "user": user(i.user, urls),
        "body": i.body,
        "created_at": store.iso(i.created_at),
        "updated_at": store.iso(i.updated_at),
        "closed_at": store.iso(i.closed_at),
        "merged_at": store.iso(p.merged_at),
        "merge_commit_sha": p.merge_commit_sha,
        "assignee": user(i.assignees[0], urls) if i.assignees else None,
        "assignees": [user(a, urls) for a in i.assignees],
        "requested_reviewers": [user(u, urls) for u in p.requested_reviewers],
        "requested_teams": [],
        "labels": [label(r, lab, urls) for lab in i.labels],
        "milestone": None,
        "draft": p.draft,
        "commits_url": links["commits"],
        "review_comments_url": links["review_comments"],
        "review_comment_url": links["review_comment"],
        "comments_url": links["comments"],
        "statuses_url": links["statuses"],
        "head": _side(r, p.head, p.head_sha, urls),
        "base": _side(r, p.base, p.base_sha, urls),
        "_links": {key: {"href": value} for key, value in links.items()},
        "author_association": "OWNER",
        "auto_merge": _auto_merge(p.auto_merge, urls),
        "active_lock_reason": None,
    }
    if full:
        additions, deletions, files = r.git.diff_stats(p.base_sha, p.head_sha)
        body.update(
            {
                "merged": p.merged_at is not None,
                "mergeable": merge.mergeable if merge else None,
                "rebaseable": merge.mergeable if merge else None,
                "mergeable_state": merge.state if merge else "unknown",
                "merged_by": user(p.merged_by, urls),
                "comments": len(i.comments),
                "review_comments": 0,
                "maintainer_can_modify": p.maintainer_can_modify,
                "commits": len(r.git.commits_between(p.base_sha, p.head_sha)),
                "additions": additions,
                "deletions": deletions,
                "changed_files": files,
            }
        )
    return body


def _side(r: store.Repo, ref: str, sha: str, urls: Urls) -> Json:
    return {
        "label": f"{r.owner.login}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": user(r.owner, urls),
        "repo": repo(r, urls, full=False),
    }


def _auto_merge(auto: store.AutoMerge | None, urls: Urls) -> Json | None:
    if auto is None:
        return None
    return {
        "enabled_by": user(auto.enabled_by, urls),
        "merge_method": auto.merge_method,
        "commit_title": auto.commit_title,
        "commit_message": auto.commit_message,
    }
