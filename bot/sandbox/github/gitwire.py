"""JSON shapes of git-level objects in the GitHub emulator: commits, branches, refs, statuses, installs,
plus full user profiles.

Companion of ``wire`` (same URL rules: everything built from the request's base URL). This module
must not change state or run git itself: callers pass in what ``gitops`` read.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

from bot.sandbox.github import gitops, pulls, store, wire


def status(r: store.Repo, s: store.Status, urls: wire.Urls) -> wire.Json:
    return {
        "url": f"{urls.repo(r)}/statuses/{s.sha}",
        "avatar_url": f"{urls.web}/avatars/u/{s.creator.id}?v=4",
        "id": s.id,
        "node_id": store.node_id("StatusContext", s.id),
        "state": s.state,
        "description": s.description,
        "target_url": s.target_url,
        "context": s.context,
        "created_at": store.iso(s.created_at),
        "updated_at": store.iso(s.created_at),
        "creator": wire.user(s.creator, urls),
    }


def combined_status(r: store.Repo, sha: str, urls: wire.Urls) -> wire.Json:
    state, statuses = pulls.combined(r, sha)
    return {
        "state": state,
        "statuses": [status(r, s, urls) for s in statuses],
        "sha": sha,
        "total_count": len(statuses),
        "repository": wire.repo(r, urls, full=False),
        "commit_url": f"{urls.repo(r)}/commits/{sha}",
        "url": f"{urls.repo(r)}/commits/{sha}/status",
    }


def git_ref(r: store.Repo, ref: str, sha: str, urls: wire.Urls) -> wire.Json:
    # Real GitHub answers with the plural /git/refs/ form even when asked on /git/ref/.
    return {
        "ref": ref,
        "node_id": base64.b64encode(f"03:Ref{r.id}:{ref}".encode()).decode(),
        "url": f"{urls.repo(r)}/git/{ref}",
        "object": {"sha": sha, "type": "commit", "url": f"{urls.repo(r)}/git/commits/{sha}"},
    }


def branch(r: store.Repo, name: str, info: gitops.CommitInfo, urls: wire.Urls) -> wire.Json:
    api = f"{urls.repo(r)}/branches/{quote(name, safe='')}"
    rule = r.protection.get(name)
    protected = rule is not None
    contexts = rule.contexts if rule is not None else []
    return {
        "name": name,
        "commit": commit(r, info, urls, None),
        "_links": {"self": api, "html": f"{urls.html(r)}/tree/{name}"},
        "protected": protected,
        "protection": {
            "enabled": protected,
            "required_status_checks": {
                "enforcement_level": "non_admins" if protected else "off",
                "contexts": contexts,
                "checks": [{"context": c, "app_id": None} for c in contexts],
            },
        },
        "protection_url": f"{api}/protection",
    }


def installation(inst: store.Installation, app: store.App, urls: wire.Urls) -> wire.Json:
    return {
        "id": inst.id,
        "client_id": f"Iv1.{app.id:016x}",
        "account": wire.user(inst.account, urls),
        "repository_selection": "all" if inst.repositories is None else "selected",
        "access_tokens_url": f"{urls.api}/app/installations/{inst.id}/access_tokens",
        "repositories_url": f"{urls.api}/installation/repositories",
        "html_url": f"{urls.web}/settings/installations/{inst.id}",
        "app_id": app.id,
        "app_slug": app.slug,
        "target_id": inst.account.id,
        "target_type": inst.account.type,
        "permissions": inst.permissions,
        "events": ["pull_request", "status"],
        "created_at": store.iso(inst.created_at),
        "updated_at": store.iso(inst.created_at),
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": None,
        "suspended_at": None,
    }


def commit(
    r: store.Repo, info: gitops.CommitInfo, urls: wire.Urls, files: list[gitops.FileStat] | None
) -> wire.Json:
    api, html = f"{urls.repo(r)}/commits/{info.sha}", f"{urls.html(r)}/commit/{info.sha}"
    body: wire.Json = {
        "sha": info.sha,
        "node_id": store.node_id("Commit", r.id) + info.sha[:8],
        "commit": {
            "author": {"name": info.author.name, "email": info.author.email, "date": _utc(info.author_date)},
            "committer": {
                "name": info.committer.name,
                "email": info.committer.email,
                "date": _utc(info.committer_date),
            },
            "message": info.message,
            "tree": {"sha": info.tree, "url": f"{urls.repo(r)}/git/trees/{info.tree}"},
            "url": f"{urls.repo(r)}/git/commits/{info.sha}",
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
        "url": api,
        "html_url": html,
        "comments_url": f"{api}/comments",
        "author": None,
        "committer": None,
        "parents": [
            {"sha": p, "url": f"{urls.repo(r)}/commits/{p}", "html_url": f"{urls.html(r)}/commit/{p}"}
            for p in info.parents
        ],
    }
    if files is not None:
        additions, deletions = sum(f.additions for f in files), sum(f.deletions for f in files)
        body["stats"] = {"total": additions + deletions, "additions": additions, "deletions": deletions}
        body["files"] = [_file(r, info.sha, f, urls) for f in files]
    return body


def _file(r: store.Repo, sha: str, f: gitops.FileStat, urls: wire.Urls) -> wire.Json:
    path = quote(f.filename, safe="")
    return {
        "sha": f.blob,
        "filename": f.filename,
        "status": f.status,
        "additions": f.additions,
        "deletions": f.deletions,
        "changes": f.additions + f.deletions,
        "blob_url": f"{urls.html(r)}/blob/{sha}/{path}",
        "raw_url": f"{urls.html(r)}/raw/{sha}/{path}",
        "contents_url": f"{urls.repo(r)}/contents/{path}?ref={sha}",
        "patch": f.patch,
    }


def _utc(stamp: str) -> str:
    return stamp.replace("+00:00", "Z")


def user_full(u: store.User, urls: wire.Urls, private: bool) -> wire.Json:
    """``GET /users/{login}`` (and ``/user`` with ``private``): the profile on top of the summary."""
    body = wire.user(u, urls) or {}
    body.update(
        {
            "name": u.login,
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2020-01-01T00:00:00Z",
        }
    )
    if private:
        body.update(
            {
                "private_gists": 0,
                "total_private_repos": 0,
                "owned_private_repos": 0,
                "disk_usage": 0,
                "collaborators": 0,
                "two_factor_authentication": False,
                "notification_email": None,
                "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000},
            }
        )
    return body
