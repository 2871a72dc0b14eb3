"""Spec edits through the API: JSON merge and JSON patches, and the spec validation a patch can break.

Pure functions over JSON-like values; refusals are ``state.RequestError`` with Argo CD's gRPC code and
message. They must not touch app state: the PATCH route applies the result.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from bot.sandbox.argocd import state


def validate_spec(spec: Any) -> dict[str, Any]:
    """The subset of Argo CD's spec validation that a patch can break here."""
    if not isinstance(spec, dict):
        raise state.RequestError(3, "spec must be an object")
    if isinstance(spec.get("sources"), list) and spec["sources"]:
        if not all(isinstance(s, dict) and s.get("repoURL") for s in spec["sources"]):
            raise state.RequestError(3, "application spec is invalid: InvalidSpecError: repoURL is required")
        return spec
    source = spec.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("repoURL"), str) or not source["repoURL"]:
        raise state.RequestError(
            3, "application spec for is invalid: InvalidSpecError: spec.source.repoURL is required"
        )
    for key in ("path", "targetRevision"):
        if not isinstance(source.get(key, ""), str):
            raise state.RequestError(
                3, f"json: cannot unmarshal into Go struct field ApplicationSource.{key} of type string"
            )
    if not isinstance(spec.get("project", ""), str) or not spec.get("project"):
        raise state.RequestError(3, "application spec is invalid: InvalidSpecError: project is required")
    return spec


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 add/replace/remove/test; enough for toggling sync policy and editing the source."""
    if not isinstance(ops, list):
        raise state.RequestError(3, "json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or not isinstance(op.get("path"), str):
            raise state.RequestError(3, f"invalid json patch operation: {json.dumps(op)}")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        leaf = parts[-1] if parts else ""
        kind = op.get("op")
        if kind in ("add", "replace") and isinstance(parent, dict):
            parent[leaf] = op.get("value")
        elif kind == "add" and isinstance(parent, list):
            parent.insert(len(parent) if leaf == "-" else int(leaf), op.get("value"))
        elif kind == "remove" and isinstance(parent, dict) and leaf in parent:
            del parent[leaf]
        elif kind == "test" and (parent.get(leaf) if isinstance(parent, dict) else None) == op.get("value"):
            continue
        else:
            raise state.RequestError(3, f"unable to apply json patch operation {kind} at {op['path']}")
    return doc
