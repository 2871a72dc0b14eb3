"""Canary drills: an app of the demo world released by an Argo Rollouts canary instead of a Deployment.

``steps`` validates a scenario's ``canary:`` steps, ``convert`` turns the app's Deployment in the seeded
repo into a canary ``Rollout`` (argoproj.io/v1alpha1) with those steps, ``policy`` is the githeal policy
that reverts Git when the canary aborts, and ``Watch`` records for the drill report what happened in the
cluster and in Git (the abort, the stable image, whether Git agrees with it, the heal's verdict). It only
edits files of a seed repo and reads the World; githeal itself decides and acts on its own.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from bot import errors
from bot.act import edit
from bot.sandbox.argocd import rollouthealth, rollouts

Steps = tuple[Mapping[str, Any], ...]
POLICY = "rollback-on-canary-abort"


def steps(raw: object) -> Steps:
    """A canary's steps: ``setWeight: 1..100``, ``pause: {}`` or ``{duration: 5s}``, ``analysis: {...}``."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise ValueError("canary steps must be a non-empty list")
    out = []
    for i, step in enumerate(raw):
        if not isinstance(step, Mapping) or len(step) != 1:
            raise ValueError(f"step {i} must have exactly one of setWeight, pause, analysis")
        kind, value = next(iter(step.items()))
        if kind == "setWeight" and not (isinstance(value, int) and 0 < value <= 100):
            raise ValueError(f"step {i}: setWeight must be a whole percentage 1..100, got {value!r}")
        if kind in ("pause", "analysis") and not isinstance(value, Mapping | None):
            raise ValueError(f"step {i}: {kind} must be a mapping")
        if kind not in ("setWeight", "pause", "analysis"):
            raise ValueError(f"step {i}: unknown canary step {kind!r}")
        out.append({str(kind): _plain(value if value is not None else {})})
    return tuple(out)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def convert(repo: Path, canaries: Mapping[str, Steps]) -> None:
    """Rewrite ``apps/{app}/deployment.yaml`` of each app as a Rollout with a canary strategy."""
    for app, app_steps in canaries.items():
        path = repo / "apps" / app / "deployment.yaml"
        yaml = YAML()
        yaml.preserve_quotes = True
        doc = yaml.load(path.read_text())
        if doc.get("kind") != "Deployment":
            raise ValueError(f"{path}: a canary needs a plain Deployment to convert, found {doc.get('kind')}")
        doc["apiVersion"], doc["kind"] = "argoproj.io/v1alpha1", "Rollout"
        doc["spec"]["strategy"] = {"canary": {"steps": [dict(s) for s in app_steps]}}
        out = io.StringIO()
        yaml.dump(doc, out)
        path.write_text(out.getvalue())


def policy(apps: Sequence[str]) -> dict[str, Any]:
    """Make Git agree with the stable version when a canary aborts (issue 12 §3)."""
    return {
        "name": POLICY,
        "apps": list(apps),
        "when": {"rollout_aborted": {}},
        "do": {"rollback": {"strategy": "revert"}},
        "mode": "auto",
        "merge": "pr-automerge",
        "cooldown": "2m",
        "pr": {"labels": ["githeal", "rollback", "canary"]},
    }


class Watch:
    """What a canary drill reports beside the timings, read from the emulators and the bare repo."""

    def __init__(self, run: Callable[[], rollouts.Run | None], file: str) -> None:
        self.run, self.file = run, file
        self.facts: dict[str, Any] = {}

    def poll(self, since_bad: float, note: Callable[[str], None]) -> None:
        run = self.run()
        if run is None or not run.served:
            return
        health = rollouthealth.health(run.served)
        if run.abort and "aborted" not in self.facts:
            stable = sorted(run.images.get(run.stable_hash, {}).values())
            self.facts.update(
                aborted=round(since_bad, 2),
                message=health.message,
                stable_replicaset=f"{run.served['metadata'].get('name')}-{run.stable_hash}",
                stable_image=stable[0] if stable else None,
                canary_image=sorted(run.images.get(run.current_hash, {}).values()),
            )
            note(f"canary aborted in the cluster: {health.message}")
        self.facts["rollout_health"] = health.status

    def finish(self, git_show: Callable[[str], str], verdict: str | None) -> None:
        """Git's image at main vs the stable one, and the heal's verdict (githeal/verify status)."""
        self.facts["verified"] = verdict
        try:
            text = git_show(f"main:{self.file}")
        except errors.SandboxError as exc:  # a missing file is a finding of the report
            self.facts["git_image"] = f"unreadable: {exc}"
            return
        images = [ref.value for ref in edit.find_images(text, filename=self.file)]
        self.facts["git_image"] = images[0] if images else None
        stable = self.facts.get("stable_image")
        self.facts["git_agrees_with_stable"] = bool(images) and stable is not None and images[0] == stable

    def problems(self) -> list[str]:
        """What a bot run of the drill must have achieved: Git naming the stable image, a verified heal."""
        out = []
        if not self.facts.get("git_agrees_with_stable"):
            out.append("Git does not name the canary's stable image")
        if self.facts.get("verified") != "success":
            out.append(f"heal not verified (githeal/verify: {self.facts.get('verified') or 'none'})")
        return out


def verdict(statuses: Mapping[str, Sequence[Mapping[str, Any]]], ours: Callable[[str], bool]) -> str | None:
    """The terminal ``githeal/verify`` state on a commit ``ours`` accepts (the heal or a merge of it)."""
    for sha, items in statuses.items():
        done = [i["state"] for i in items if i["context"] == "githeal/verify" and i["state"] != "pending"]
        if done and ours(sha):
            return str(done[-1])
    return None
