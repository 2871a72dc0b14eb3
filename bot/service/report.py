"""Render cycle reports and heal history for people (rich tables) and machines (JSON).

Pure formatting of values the pipeline already produced; it must not query anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from io import StringIO
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bot import model
from bot.service import cycle


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.2f}%"


def _when(obs: model.AppObservation, snap_at: datetime) -> str:
    s = obs.status
    if s is None:
        return ""
    if s.reconciled_at is None:
        return ""
    return f"reconciled {int((snap_at - s.reconciled_at).total_seconds())}s ago"


def slo_json(r: model.SLOReport) -> dict[str, Any]:
    return {
        "slo": r.slo,
        "state": str(r.state),
        "page": r.page,
        "ticket": r.ticket,
        "threshold_breach": r.threshold_breach,
        "reason": r.reason,
        "windows": [
            {
                "severity": str(v.window.severity),
                "pair": v.window.name,
                "factor": v.window.factor,
                "firing": v.firing,
                "long": {"state": str(v.long.state), "ratio": v.long.value, "events": v.long.total},
                "short": {"state": str(v.short.state), "ratio": v.short.value, "events": v.short.total},
            }
            for v in r.verdicts
        ],
    }


def cycle_json(rep: cycle.CycleReport) -> dict[str, Any]:
    apps = {}
    for name, obs in sorted(rep.snapshot.apps.items()):
        s = obs.status
        apps[name] = {
            "argocd": None
            if s is None
            else {
                "name": s.name,
                "sync": str(s.sync),
                "health": str(s.health),
                "revision": s.revision,
                "reconciled_at": s.reconciled_at.isoformat() if s.reconciled_at else None,
            },
            "error": obs.error or None,
            "breaching": [r.slo for r in obs.slos if r.breaching],
            "slos": [slo_json(r) for r in obs.slos],
            "load_per_replica": obs.load_per_replica,
            "replicas": obs.replicas,
        }
    return {
        "at": rep.snapshot.at.isoformat(),
        "seconds": round(rep.seconds, 3),
        "apps": apps,
        "actions": [
            {
                "app": a.app,
                "action": a.kind.value,
                "policy": a.policy,
                "mode": a.mode.value,
                "heal_id": a.heal_id,
                "reason": a.reason,
                "evidence": list(a.evidence),
                "params": {k: v for k, v in a.params.items()},
            }
            for a in rep.plan.actions
        ],
        "results": [
            {
                "app": r.action.app,
                "heal_id": r.action.heal_id,
                "outcome": r.outcome.value,
                "detail": r.detail,
                "commit": r.landed or r.commit,
                "pr": r.pr.number if r.pr else None,
                "diff": r.diff,
            }
            for r in rep.results
        ],
        "skips": [{"app": k.app, "policy": k.policy, "reason": k.reason} for k in rep.plan.skips],
        "escalations": list(rep.plan.escalations),
        "errors": rep.errors + list(rep.snapshot.errors),
        "discovery": _discovery_json(rep),
    }


def _discovery_json(rep: cycle.CycleReport) -> dict[str, Any] | None:
    found = rep.discovered
    if found is None:
        return None
    return {
        "apps": {
            name: {"template": spec.template, "repo": spec.repo} for name, spec in sorted(found.apps.items())
        },
        "skipped": [
            {"application": k.application, "template": k.template, "reason": k.reason} for k in found.skipped
        ],
        "unmatched": found.unmatched,
    }


def noteworthy(obs: model.AppObservation, named: set[str]) -> bool:
    """An app worth a row: unreadable, not Synced/Healthy, any SLO not OK or breaching, or planned."""
    s = obs.status
    if obs.app in named or s is None or obs.error:
        return True
    if s.sync is not model.SyncStatus.SYNCED or s.health is not model.HealthStatus.HEALTHY:
        return True
    return any(r.state is not model.SampleState.OK or r.breaching for r in obs.slos)


def cycle_table(rep: cycle.CycleReport, width: int = 120, *, every_app: bool = False) -> str:
    """The apps that are not OK (all of them with ``every_app``), then a summary line of the fleet."""
    out = StringIO()
    console = Console(file=out, width=width, force_terminal=False, color_system=None)
    t = Table(title=f"githeal cycle at {rep.snapshot.at:%Y-%m-%d %H:%M:%S}Z ({rep.seconds:.2f}s)")
    for col in ("app", "argo cd", "slo", "state", "tier", "error ratio (long/short)"):
        t.add_column(col)
    named = {a.app for a in rep.plan.actions} | {k.app for k in rep.plan.skips}
    shown = [
        (name, obs) for name, obs in sorted(rep.snapshot.apps.items()) if every_app or noteworthy(obs, named)
    ]
    for name, obs in shown:
        s = obs.status
        argo = f"{s.sync}/{s.health} {_when(obs, rep.snapshot.at)}" if s else f"? {obs.error}"
        if not obs.slos:
            t.add_row(name, argo, "-", "-", "-", "-")
        for i, r in enumerate(obs.slos):
            tier = "PAGE" if r.page else "ticket" if r.ticket else "breach" if r.threshold_breach else "ok"
            v = next((v for v in r.verdicts if v.firing), r.verdicts[0] if r.verdicts else None)
            ratio = f"{_pct(v.long.value)} / {_pct(v.short.value)} ({v.window.name})" if v else "-"
            t.add_row(name if i == 0 else "", argo if i == 0 else "", r.slo, str(r.state), tier, ratio)
    if shown:
        console.print(t)
    total = len(rep.snapshot.apps)
    breaching = sum(1 for o in rep.snapshot.apps.values() if any(r.breaching for r in o.slos))
    ok = sum(1 for o in rep.snapshot.apps.values() if not noteworthy(o, named))
    actions = len(rep.plan.actions)
    console.print(
        f"{total} app{'s' * (total != 1)}: {ok} ok, {total - ok} not ok, {breaching} breaching, "
        f"{actions} action{'s' * (actions != 1)}"
    )
    found = rep.discovered
    if found is not None:
        console.print(f"discovery: {found.summary()}")
        for k in found.skipped:
            console.print(f"  skipped {k.application} ({k.template}): {k.reason}", markup=False)
    for a in rep.plan.actions:
        console.print(f"PLAN {a.kind.value} {a.app} [{a.mode.value}] {a.reason}")
    for res in rep.results:
        console.print(f"  -> {res.outcome.value}: {res.detail}")
        if res.diff:
            console.print(res.diff, markup=False, highlight=False)
    for skip in rep.plan.skips:
        console.print(f"held {skip.app}/{skip.policy}: {skip.reason}")
    for e in rep.plan.escalations:
        console.print(f"ESCALATE {e}")
    for e in rep.errors:
        console.print(f"error {e}")
    return out.getvalue()


def history_json(records: Sequence[model.HealRecord]) -> list[dict[str, Any]]:
    return [
        {
            "heal_id": h.heal_id,
            "app": h.app,
            "policy": h.policy,
            "action": h.action,
            "commit": h.commit,
            "at": h.at.isoformat(),
            "subject": h.subject,
            "verify": h.verify or None,
            "trailers": dict(h.trailers),
        }
        for h in records
    ]


def history_table(records: Sequence[model.HealRecord], extra: Mapping[str, str] | None = None) -> str:
    out = StringIO()
    console = Console(file=out, width=140, force_terminal=False, color_system=None)
    t = Table(title=f"githeal history: {len(records)} heal(s)")
    for col in ("when (UTC)", "app", "action", "policy", "commit", "verified", "subject"):
        t.add_column(col)
    for h in records:
        t.add_row(
            f"{h.at:%Y-%m-%d %H:%M:%S}", h.app, h.action, h.policy, h.commit[:7], h.verify or "-", h.subject
        )
    console.print(t)
    return out.getvalue()


# orjson (Rust) writes the report: a 1,000-app cycle is 1.5 MB of JSON, ~4 ms here against ~20 ms for
# an indenting encoder in Python. Datetimes and dataclasses go through ``default=str`` as before;
# NaN and infinities become null (strict JSON: jq and Go's encoding/json reject a bare NaN).
_JSON = (
    orjson.OPT_INDENT_2
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def dumps_bytes(data: object) -> bytes:
    """``data`` as indented, strict JSON, UTF-8 encoded (what ``githeal once/history -o json`` print)."""
    return orjson.dumps(data, default=str, option=_JSON)


def dumps(data: object) -> str:
    return dumps_bytes(data).decode()


def write_json(data: object, write: Callable[[bytes], object], *, depth: int = 2) -> None:
    """``dumps_bytes(data)`` handed to ``write`` in pieces: mappings and lists down to ``depth`` are
    opened here and their items encoded one at a time, so a 10,000-app report is never one 15 MB
    buffer (plus orjson's growth) on top of the data it encodes. Same bytes; a test holds them equal."""
    if depth <= 0 or not isinstance(data, dict | list) or not data:
        write(dumps_bytes(data))
        return
    _items(data, write, 0, depth)


def _items(
    data: dict[Any, Any] | list[Any], write: Callable[[bytes], object], indent: int, depth: int
) -> None:
    if isinstance(data, dict) and not all(isinstance(k, str) for k in data):
        write(_indented(data, indent))  # non-string keys: orjson's own conversion, in one piece
        return
    pad = b"\n" + b" " * (indent + 2)
    write(b"{" if isinstance(data, dict) else b"[")
    pairs = data.items() if isinstance(data, dict) else ((None, v) for v in data)
    for i, (key, value) in enumerate(pairs):
        write((b"," if i else b"") + pad + (orjson.dumps(key) + b": " if key is not None else b""))
        if depth > 1 and isinstance(value, dict | list) and value:
            _items(value, write, indent + 2, depth - 1)
        else:
            write(_indented(value, indent + 2))
    write(b"\n" + b" " * indent + (b"}" if isinstance(data, dict) else b"]"))


def _indented(value: object, indent: int) -> bytes:
    # a JSON text has no raw newline inside a string (it is escaped): every b"\n" is layout
    return dumps_bytes(value).replace(b"\n", b"\n" + b" " * indent) if indent else dumps_bytes(value)
