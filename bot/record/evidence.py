"""The evidence bundle of an escalation: what a human (or an analyzer) needs to triage one app.

The SLI trend, Argo CD events and resource health messages of the app, the commits since the last
good revision and the heal that was tried, as one JSON-ready dict (handed to the analyzer on stdin)
and as markdown for the issue body. Pure: the caller gathers the facts; nothing here does I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

VERSION = 1
HEADING = "## Evidence"
ANALYSIS_HEADING = "## Analysis"


def bundle(
    *,
    app: str,
    problem: str,
    heal: Mapping[str, Any] | None = None,
    sli_name: str = "",
    sli_window: str = "",
    sli: Sequence[float | None] = (),
    events: Sequence[str] = (),
    resources: Iterable[Mapping[str, Any]] = (),
    good_revision: str = "",
    bad_revision: str = "",
    commits: Iterable[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """The bundle; non-finite SLI points become null (JSON has no NaN)."""
    trend = [v if v is not None and math.isfinite(v) else None for v in sli]
    return {
        "version": VERSION,
        "app": app,
        "problem": problem,
        "heal": dict(heal or {}),
        "sli": {"name": sli_name, "window": sli_window, "values": trend},
        "argocd": {"events": list(events), "resources": [dict(r) for r in resources]},
        "commits": {
            "good_revision": good_revision,
            "bad_revision": bad_revision,
            "since_good": [dict(c) for c in commits],
        },
    }


def unhealthy(nodes: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Resource health messages of an Argo CD resource tree: every node not Healthy, with its message."""
    out = []
    for node in nodes:
        health = node.get("health") or {}
        status = str(health.get("status", ""))
        if status and status != "Healthy":
            name = f"{node.get('kind', '')}/{node.get('name', '')}"
            out.append({"resource": name, "status": status, "message": str(health.get("message", ""))})
    return out


def markdown(data: Mapping[str, Any]) -> str:
    """The issue's evidence section: a readable summary, then the whole bundle folded away."""
    lines = [HEADING, ""]
    heal = data.get("heal") or {}
    if heal:
        lines.append(
            f"- **Heal tried:** {heal.get('action', '')} `{heal.get('heal_id', '')}`: "
            f"{heal.get('reason', '')}"
        )
    sli = data.get("sli") or {}
    values = [v for v in sli.get("values", []) if v is not None]
    if values:
        lines.append(
            f"- **SLI {sli.get('name', '')}** over {sli.get('window', '')}: first {values[0]:.4g}, "
            f"last {values[-1]:.4g}, max {max(values):.4g} ({len(sli.get('values', []))} points)"
        )
    commits = data.get("commits") or {}
    since = commits.get("since_good") or []
    if commits.get("good_revision") or since:
        lines.append(f"- **Commits since the last good revision** `{commits.get('good_revision', '')[:7]}`:")
        lines += [f"  - `{c.get('sha', '')[:7]}` {c.get('subject', '')}" for c in since[:20]]
    argo = data.get("argocd") or {}
    if argo.get("resources"):
        lines.append("- **Resource health:**")
        lines += [
            f"  - {r['resource']}: {r['status']} {r.get('message', '')}".rstrip()
            for r in argo["resources"][:20]
        ]
    if argo.get("events"):
        lines.append("- **Argo CD events:**")
        lines += [f"  - {e}" for e in argo["events"][-10:]]
    lines += ["", "<details><summary>Evidence bundle (JSON)</summary>", "", "```json"]
    lines += [json.dumps(data, indent=2, default=str), "```", "", "</details>"]
    return "\n".join(lines) + "\n"


def analysis(markdown_text: str, command: str) -> str:
    return f"{ANALYSIS_HEADING}\n\n_By the configured analyzer (`{command}`)._\n\n{markdown_text.strip()}\n"


def analysis_failed(error: str, command: str) -> str:
    note = f"_The analyzer (`{command}`) failed: {error}. The evidence above is complete._"
    return f"{ANALYSIS_HEADING}\n\n{note}\n"
