"""Argo Rollouts canaries as Argo CD shows them: a Rollout's health and message, abort flag and ReplicaSets.

Only apps whose ``status.resources`` list a ``Rollout`` are read, with two calls each: the resource tree
(the Rollout node's health from Argo CD's built-in Lua check, ReplicaSet children with their images) and
managed-resources filtered to Rollouts (the live object: ``status.abort``, ``stableRS``,
``currentPodHash``, observed generation). Parsing is pure; ``attach`` does the I/O and turns a failure
into the app's ``rollout_error`` so the trigger holds. It must not decide anything.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot import errors, model
from bot.clients import argoapp, argocd

GROUP = "argoproj.io"


def _health(value: object) -> model.HealthStatus:
    try:
        return model.HealthStatus(str(value))
    except ValueError:
        return model.HealthStatus.UNKNOWN


def _revision(node: argoapp.ResourceNode) -> str:
    info = node.get("info") or []
    text = next((str(i.get("value", "")) for i in info if i.get("name") == "Revision"), "")
    return text.removeprefix("Rev:")


def _live(diffs: Sequence[argoapp.ResourceDiff]) -> dict[tuple[str, str], dict[str, Any]]:
    """The live Rollout objects by (namespace, name); unparsable or absent ones are left out."""
    out = {}
    for item in diffs:
        if item.get("kind") != "Rollout":
            continue
        try:
            obj = json.loads(item.get("liveState") or "null")
        except ValueError:
            continue
        if isinstance(obj, dict):
            out[(str(item.get("namespace", "")), str(item.get("name", "")))] = obj
    return out


def _observed(obj: Mapping[str, Any]) -> bool | None:
    status, meta = obj.get("status") or {}, obj.get("metadata") or {}
    seen, generation = str(status.get("observedGeneration", "")), meta.get("generation")
    if not seen.isdigit() or generation is None:
        return None  # a v0.9 hash, or no generation: nothing to compare
    return int(seen) == int(generation)


def parse(
    tree: argoapp.ApplicationTree, diffs: Sequence[argoapp.ResourceDiff]
) -> tuple[model.RolloutState, ...]:
    """Every Rollout node of the tree, completed by its live object when one was served."""
    nodes = [*(tree.get("nodes") or [])]
    sets: dict[tuple[str, str], tuple[str, ...]] = {
        (str(n.get("namespace", "")), str(n.get("name", ""))): tuple(n.get("images") or ())
        for n in nodes
        if n.get("kind") == "ReplicaSet"
    }
    live = _live(diffs)
    out = []
    for node in nodes:
        if node.get("kind") != "Rollout" or node.get("group") != GROUP:
            continue
        ns, name = str(node.get("namespace", "")), str(node.get("name", ""))
        health = node.get("health") or {}
        state = model.RolloutState(
            name=name,
            namespace=ns,
            health=_health(health.get("status")),
            message=str(health.get("message") or ""),
            revision=_revision(node),
        )
        obj = live.get((ns, name))
        if obj is not None:
            status = obj.get("status") or {}
            stable = str(status.get("stableRS") or (status.get("canary") or {}).get("stableRS") or "")
            current = str(status.get("currentPodHash") or "")
            state = dataclasses.replace(
                state,
                aborted=bool(status.get("abort", False)),
                observed=_observed(obj),
                stable_hash=stable,
                current_hash=current,
                stable_images=sets.get((ns, f"{name}-{stable}"), ()) if stable else (),
                canary_images=sets.get((ns, f"{name}-{current}"), ()) if current else (),
            )
        out.append(state)
    return tuple(sorted(out, key=lambda r: (r.namespace, r.name)))


def read(client: argocd.ArgoCDClient, status: model.AppStatus) -> tuple[tuple[model.RolloutState, ...], str]:
    """(the app's Rollouts, "") or ((), why) when Argo CD could not say."""
    try:
        tree = client.resource_tree(status.name, status.project or None)
        diffs = client.managed_resources(status.name, status.project or None, kind="Rollout", group=GROUP)
    except errors.ArgoCDError as exc:
        return (), f"Rollouts of {status.name} unreadable: {exc}"
    found = parse(tree, diffs)
    missing = [r for r in status.rollouts if r not in {f"{s.namespace}/{s.name}" for s in found}]
    if missing:
        return found, f"Rollout {', '.join(missing)} not in the resource tree of {status.name}"
    return found, ""


def attach(
    client: argocd.ArgoCDClient, apps: Mapping[str, model.AppObservation]
) -> dict[str, model.AppObservation]:
    """The observations with ``rollouts`` (or ``rollout_error``) filled in for apps that have Rollouts."""
    out = dict(apps)
    for app, obs in apps.items():
        if obs.status is None or not obs.status.rollouts:
            continue
        found, why = read(client, obs.status)
        out[app] = dataclasses.replace(obs, rollouts=found, rollout_error=why)
    return out
