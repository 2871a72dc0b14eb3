"""Replay PyGithub's recorded GitHub exchanges (reference/github/replaydata) against the emulator.

For each file: build the state the recording implies (repos, branches, PR/issue numbers, labels,
users, App installations), send every recorded request the emulator covers over real HTTP (ids and
shas substituted for ours), and compare status, ``Location`` and the JSON shape (recorded keys
present with compatible types; null in the recording matches anything; lists compare first items).
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
import requests

from bot.sandbox.github import server

TOKEN = "ghp_replay_token"
LOGIN = "jacquev6"  # most recordings were made with this account's token
APP_ID = 123456
SHA = re.compile(r"\b[0-9a-f]{40}\b")
REPO_PATH = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<name>[^/?]+)")
# Fields GitHub documents as nullable: the emulator may answer null where a recording had a value.
NULLABLE = {
    "milestone",
    "assignee",
    "license",
    "closed_at",
    "merged_at",
    "merged_by",
    "merge_commit_sha",
    "auto_merge",
    "mergeable",
    "rebaseable",
    "body",
    "description",
    "homepage",
    "language",
    "closed_by",
    "author",
    "committer",
    "organization",
    "state_reason",
    "mirror_url",
    "target_url",
    "active_lock_reason",
    "clientMutationId",
    "label",
    "user",
    "repo",
    "signature",
    "payload",
    "verified_at",
    "single_file_name",
    "name",
    "company",
    "blog",
    "location",
    "email",
    "hireable",
    "bio",
    "twitter_username",
    "notification_email",
}
# Keys of 2012-era payloads that the modern API no longer sends (documented, not silently skipped).
OBSOLETE = {
    "pull_request": "plain issues no longer carry pull_request (only PRs do; clients rely on that)",
}
# Fields only forks carry: the emulator's repositories are never forks.
FORK_ONLY = {"parent", "source"}
PERMISSIONS = {
    "issues": "write",
    "metadata": "read",
    "administration": "write",
    "organization_administration": "read",
    "contents": "write",
    "pull_requests": "write",
    "statuses": "write",
}
UNCOVERED_PATHS = [
    (r"^/repos/[^/]+/[^/]+/check-runs", "check runs not emulated (the bot posts commit statuses)"),
    (r"^/repos/[^/]+/[^/]+/contents/", "contents API not emulated (the bot pushes with git)"),
    (r"^/repos/[^/]+/[^/]+/milestones/", "milestones not emulated"),
    (r"^/repos/[^/]+/[^/]+/merges$", "branch-to-branch merges API not emulated"),
    (r"^/repos/[^/]+/[^/]+/merge-upstream$", "fork sync not emulated"),
    (r"^/repos/[^/]+/[^/]+/transfer$", "repository transfer not emulated"),
    (r"^/repositories/", "repository-by-id lookup not emulated"),
    (r"^/search/", "search API not emulated"),
    (r"^/user/", "user-scoped endpoints (keys, repos) not emulated"),
    (r"^/some/prefix/", "organisation endpoints not emulated"),
]


@dataclass
class Exchange:
    file: str
    index: int
    method: str
    path: str
    auth: str
    body: str | None
    status: int
    headers: dict[str, str]
    response: str


@dataclass
class Outcome:
    exchange: Exchange
    covered: bool
    reason: str = ""
    problems: list[str] = field(default_factory=list)


def parse(path: Path) -> list[Exchange]:
    lines = path.read_text().split("\n")
    out: list[Exchange] = []
    i = 0
    while i + 10 <= len(lines):
        if not lines[i].strip():
            i += 1
            continue
        chunk = lines[i : i + 11]
        headers = ast.literal_eval(chunk[5])
        out.append(
            Exchange(
                path.name,
                len(out),
                chunk[1],
                chunk[4],
                headers.get("Authorization", ""),
                None if chunk[6] == "None" else chunk[6],
                int(chunk[7]),
                {k.lower(): v for k, v in ast.literal_eval(chunk[8])},
                chunk[9],
            )
        )
        i += 11
    return out


def uncovered_reason(ex: Exchange) -> str | None:
    route = urlsplit(ex.path).path
    if 300 <= ex.status < 400:
        return "redirects not emulated"
    if ex.status >= 500:
        return "server-error injection not emulated"
    if ex.auth.startswith("Basic"):
        return "basic auth not emulated"
    for pattern, reason in UNCOVERED_PATHS:
        if re.search(pattern, route):
            return reason
    if ex.method == "POST" and route.endswith("/pulls") and ex.body:
        data = json.loads(ex.body)
        if ":" in data.get("head", "") or "head_repo" in data:
            return "cross-repository (fork) pull requests not emulated"
    if route == "/graphql" or server.match_route(server.API_ROUTES, ex.method, route):
        return None
    return "endpoint not emulated"


def compatible(recorded: Any, actual: Any, where: str = "$") -> Iterator[str]:
    if recorded is None:
        return
    if isinstance(recorded, dict):
        if not isinstance(actual, dict):
            yield f"{where}: expected object, got {type(actual).__name__}"
            return
        for key, value in recorded.items():
            if key in OBSOLETE or key in FORK_ONLY:
                continue
            if key not in actual:
                yield f"{where}.{key}: missing"
            elif actual[key] is None and (value is None or key in NULLABLE):
                continue
            else:
                yield from compatible(value, actual[key], f"{where}.{key}")
    elif isinstance(recorded, list):
        if not isinstance(actual, list):
            yield f"{where}: expected array, got {type(actual).__name__}"
        elif recorded and actual:
            yield from compatible(recorded[0], actual[0], f"{where}[0]")
    elif isinstance(recorded, bool) or isinstance(actual, bool):
        if type(recorded) is not type(actual):
            yield f"{where}: expected {type(recorded).__name__}, got {type(actual).__name__}"
    elif isinstance(recorded, int | float):
        if not isinstance(actual, int | float):
            yield f"{where}: expected number, got {type(actual).__name__}"
    elif isinstance(recorded, str) and not isinstance(actual, str):
        yield f"{where}: expected string, got {type(actual).__name__}"


class World:
    """The emulator state one recording implies, built through the emulator's own HTTP API."""

    def __init__(
        self, template: Path, tmp: Path, exchanges: list[Exchange], private_key: str, public_key: str
    ):
        self.exchanges = exchanges
        self.private_key = private_key
        self.file = exchanges[0].file
        self.emulator = server.GitHubEmulator(tokens={TOKEN: LOGIN}).start()
        self.emulator.add_app(APP_ID, public_key)
        self.sha: dict[str, str] = {}
        self.node: dict[str, str] = {}
        self.head_sha: dict[tuple[str, int], str] = {}
        self._template, self._tmp = template, tmp
        self._build()

    def close(self) -> None:
        self.emulator.stop()

    def _post(self, path: str, body: Any) -> requests.Response:
        return requests.post(
            self.emulator.api_url + path, json=body, headers={"Authorization": f"token {TOKEN}"}, timeout=10
        )

    def _build(self) -> None:
        repos: dict[str, dict[str, Any]] = {}
        for ex in self.exchanges:
            if uncovered_reason(ex) is not None:
                continue
            route = urlsplit(ex.path).path
            found = REPO_PATH.match(route)
            if found and (ex.status < 400 or route.endswith("/installation")):
                info = repos.setdefault(
                    f"{found['owner']}/{found['name']}", {"pulls": set(), "issues": set()}
                )
                for kind, number in re.findall(r"/(pulls|issues)/(\d+)", route):
                    info[kind].add(int(number))
                branch = re.search(r"/(?:branches|git/refs?/heads)/(.+)$", route)
                if branch:
                    info["branch"] = branch.group(1)
            for login in set(re.findall(r"^/users/([^/]+)$", route)) - {LOGIN}:
                requests.post(
                    f"{self.emulator.url}/_emulator/tokens", json={"token": login, "login": login}, timeout=5
                )
        if any(urlsplit(ex.path).path == "/graphql" for ex in self.exchanges):
            repos.setdefault("PyGithub/PyGithub", {"pulls": set(), "issues": set()})["pulls"].add(31)
        for n, (full_name, info) in enumerate(sorted(repos.items())):
            self._repo(full_name, info, n)
        for ex in self.exchanges:
            inst = re.match(r"^/app/installations/(\d+)/access_tokens$", ex.path)
            if inst and ex.status != 404:
                self.emulator.add_installation(int(inst.group(1)), APP_ID, "PyGithub", PERMISSIONS)
            found = re.match(r"^/repos/([^/]+)/[^/]+/installation$", ex.path)
            if found and ex.status < 400:
                self.emulator.add_installation(99000 + ex.index, APP_ID, found.group(1), PERMISSIONS)

    def _repo(self, full_name: str, info: dict[str, Any], n: int) -> None:
        bare = self._tmp / f"repo{n}.git"
        shutil.copytree(self._template, bare)
        git = ["git", "--git-dir", str(bare)]
        feature, ahead = (
            subprocess.run(
                [*git, "rev-parse", ref], capture_output=True, text=True, check=True
            ).stdout.strip()
            for ref in ("feature", "ahead")
        )
        self.emulator.register_repo(full_name, bare, "master")
        branches = {info.get("branch") or ""} - {"", "master", "main"}
        is_pr = self.file.startswith("PullRequest.")
        pulls = info["pulls"] | (info["issues"] if is_pr else set())
        head_for = {
            number: (info.get("branch") or "").replace("master", "") or f"pr-{number}" for number in pulls
        }
        created = "".join(f"create refs/heads/{b} {feature}\n" for b in branches | set(head_for.values()))
        subprocess.run([*git, "update-ref", "--stdin"], input=created, text=True, check=True)
        admin = f"{self.emulator.url}/_emulator/repos/{full_name}"
        if "Automerge" in self.file and self.file != "PullRequest.testEnableAutomergeError.txt":
            # auto-merge is off on a new GitHub repo; the recorded repo had it enabled
            requests.patch(admin, json={"allow_auto_merge": True}, timeout=5)
        if "Automerge" in self.file:
            requests.put(f"{admin}/protection/master", json={"contexts": ["ci"]}, timeout=5)
        for number in range(1, max(pulls | info["issues"], default=0) + 1):
            if number in pulls:
                reply = self._post(
                    f"/repos/{full_name}/pulls",
                    {"head": head_for[number], "base": "master", "title": f"PR {number}"},
                )
                body = reply.json()
                self.node[body["node_id"]] = body["node_id"]
                self.head_sha[(full_name, number)] = body["head"]["sha"]
                if full_name == "PyGithub/PyGithub" and number == 31:
                    self.node["MDExOlB1bGxSZXF1ZXN0MTQzNjIxNQ=="] = body["node_id"]
            else:
                self._post(f"/repos/{full_name}/issues", {"title": f"issue {number}"})
        for ex in self.exchanges:
            label = re.match(rf"^/repos/{full_name}/(?:issues/(\d+)/)?labels/(.+)$", ex.path)
            if label:
                name = unquote(label.group(2))
                self._post(f"/repos/{full_name}/labels", {"name": name})
                if label.group(1) and ex.method == "DELETE":
                    self._post(f"/repos/{full_name}/issues/{label.group(1)}/labels", [name])
        if self.file == "Repository.testGetPullsWithArguments.txt":  # lists closed PRs: make one
            subprocess.run([*git, "update-ref", "refs/heads/closed-pr", feature], check=True)
            self._post(
                f"/repos/{full_name}/pulls", {"head": "closed-pr", "base": "master", "title": "closed"}
            )
            requests.post(f"{admin}/pulls/1/close", json={"login": "jacquev6"}, timeout=5)
        if self.file == "PullRequest.testUpdateBranch.txt":
            subprocess.run([*git, "update-ref", "refs/heads/master", ahead], check=True)
        self.sha.setdefault(
            "master",
            subprocess.run(
                [*git, "rev-parse", "master"], capture_output=True, text=True, check=True
            ).stdout.strip(),
        )

    def request(self, ex: Exchange) -> requests.Response:
        path, body = ex.path, ex.body
        if body is not None:
            data = json.loads(body)
            text = json.dumps(self._substitute(data, urlsplit(path).path))
        else:
            text = None
        path = SHA.sub(self.sha["master"], path) if self.sha else path
        headers = {"User-Agent": "PyGithub/Python", "Content-Type": "application/json"}
        if ex.auth.startswith("Bearer"):
            now = int(time.time())
            expired = ex.status == 401
            claims = {"iat": now - 60, "exp": now - 30 if expired else now + 540, "iss": str(APP_ID)}
            headers["Authorization"] = "Bearer " + jwt.encode(claims, self.private_key, algorithm="RS256")
        elif ex.auth:
            headers["Authorization"] = f"token {'revoked' if ex.status == 401 else TOKEN}"
        if ex.status == 403 and "api rate limit exceeded" in ex.response.lower():
            login = LOGIN if ex.auth else "anonymous"
            requests.post(
                f"{self.emulator.url}/_emulator/rate-limit", json={"login": login, "remaining": 0}, timeout=5
            )
        return requests.request(
            ex.method, self.emulator.api_url + path, data=text, headers=headers, timeout=15
        )

    def _substitute(self, data: Any, route: str) -> Any:
        if isinstance(data, dict):
            out = {}
            for key, value in data.items():
                if key in ("expectedHeadOid", "expected_head_sha"):
                    found = REPO_PATH.match(route)
                    pr = re.search(r"/pulls/(\d+)", route)
                    target = (
                        (f"{found['owner']}/{found['name']}", int(pr.group(1)))
                        if found and pr
                        else ("PyGithub/PyGithub", 31)
                    )
                    out[key] = self.head_sha.get(target, value)
                elif key == "pullRequestId":
                    out[key] = self.node.get(value, value)
                else:
                    out[key] = self._substitute(value, route)
            return out
        if isinstance(data, list):
            return [self._substitute(v, route) for v in data]
        if isinstance(data, str) and SHA.fullmatch(data) and self.sha:
            return self.sha["master"]
        return data


def check(world: World, ex: Exchange) -> Outcome:
    reason = uncovered_reason(ex)
    if reason is not None:
        return Outcome(ex, False, reason)
    reply = world.request(ex)
    problems = []
    if reply.status_code != ex.status:
        problems.append(f"status {reply.status_code} != recorded {ex.status}: {reply.text[:200]}")
    if "location" in ex.headers and "Location" not in reply.headers:
        problems.append("Location header missing")
    if ex.response.strip() and reply.status_code == ex.status:
        problems.extend(compatible(json.loads(ex.response), reply.json()))
    return Outcome(ex, True, problems=problems)


def template_repo(root: Path) -> Path:
    """A tiny bare repo: master/main at M0, ``feature`` = M0 + a file, ``ahead`` = M0 + another file."""
    work, bare = root / "template-work", root / "template.git"
    env = {
        "GIT_AUTHOR_NAME": "T",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "T",
        "GIT_COMMITTER_EMAIL": "t@e",
        "HOME": str(root),
        "PATH": "/usr/bin:/bin",
    }

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)

    work.mkdir()
    git("init", "--quiet", "--initial-branch=master")
    (work / "README.md").write_text("replay\n")
    git("add", "-A")
    git("commit", "--quiet", "-m", "M0")
    git("branch", "main")
    git("checkout", "--quiet", "-b", "feature")
    (work / "feature.txt").write_text("feature\n")
    git("add", "-A")
    git("commit", "--quiet", "-m", "feature")
    git("checkout", "--quiet", "-b", "ahead", "master")
    (work / "other.txt").write_text("other\n")
    git("add", "-A")
    git("commit", "--quiet", "-m", "ahead")
    subprocess.run(
        ["git", "clone", "--quiet", "--bare", str(work), str(bare)], env=env, check=True, capture_output=True
    )
    return bare
