"""Drill scenario files (``bot/sandbox/scenarios/*.yaml``) parsed into frozen values.

A scenario names an app, the world it starts in (traffic, image behaviours, ConfigMap rules), the
timed steps that break it (a Git commit, a traffic spike, live drift, a behaviour change) and what
githeal must do about it (action, recovery condition, time limits). Parsing is pure and every problem
is reported as ``ConfigError`` with file, line and key. Running a drill is not this module's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from bot import errors, model
from bot.sandbox import behaviour as bhv
from bot.sandbox import canary as canaries

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
EVENTS = ("start", "synced", "healthy", "breach", "heal", "recovered")
DRIFT_KEYS = {"kind", "workload", "container", "image", "replicas", "annotations", "hpa", "min", "max",
              "configmap", "key", "value"}  # fmt: skip
_SEGMENT = re.compile(r"^(?P<key>[A-Za-z0-9_.\-/]*?)(?:\[(?P<sel>\d+|[A-Za-z0-9_.\-]+=[^\]]+)\])?$")


@dataclass(frozen=True)
class Target:
    """Where a value lives in a manifest file.

    ``kind``/``name`` pick the YAML document (the first one when absent), ``container`` picks
    ``spec.template.spec.containers[name=...]``, and ``path`` is dotted below that, with ``[n]``
    indexes and ``[key=value]`` selectors: ``images[name=ghcr.io/acme/cart].newTag``.
    """

    path: str
    kind: str | None = None
    name: str | None = None
    container: str | None = None

    def segments(self) -> tuple[tuple[str, str | None], ...]:
        return split_path(self.path)


@dataclass(frozen=True)
class Commit:
    file: str
    target: Target
    value: Any
    message: str


@dataclass(frozen=True)
class Traffic:
    app: str
    multiplier: float | None = None
    rps: float | None = None
    duration: float | None = None


@dataclass(frozen=True)
class Drift:
    """A live change the Argo CD emulator applies (``POST /api/emulator/apps/{app}/drift`` body)."""

    app: str
    change: Mapping[str, Any]


@dataclass(frozen=True)
class Step:
    """One change to the world, ``at`` seconds after the drill starts or ``delay`` after an event."""

    at: float | None = None
    after: str | None = None
    delay: float = 0.0
    commit: Commit | None = None
    traffic: Traffic | None = None
    drift: Drift | None = None
    behaviours: Mapping[str, bhv.Behaviour] | None = None

    @property
    def kind(self) -> str:
        return next(k for k in ("commit", "traffic", "drift", "behaviours") if getattr(self, k) is not None)


@dataclass(frozen=True)
class Recovered:
    """All given conditions must hold continuously for ``hold`` seconds."""

    hold: float = 0.0
    error_ratio_below: float | None = None
    latency_p99_below: float | None = None
    health: str | None = None
    sync: str | None = None
    image: str | None = None
    replicas_at_least: int | None = None
    config: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    live_matches_git: bool = False


@dataclass(frozen=True)
class Expect:
    action: model.ActionKind
    recovered: Recovered
    touches: str | None = None  # the file the heal commit must change (None: no file, e.g. a sync)


@dataclass(frozen=True)
class Limits:
    detect: float
    heal: float
    recover: float
    total: float


@dataclass(frozen=True)
class Scenario:
    name: str
    app: str
    description: str
    workload: tuple[bhv.AppSpec, ...]
    behaviours: Mapping[str, bhv.Behaviour]
    config_rules: tuple[bhv.ConfigRule, ...]
    steps: tuple[Step, ...]
    expect: Expect
    limits: Limits
    source: str = ""
    canary: Mapping[str, canaries.Steps] = field(default_factory=lambda: MappingProxyType({}))


def split_path(path: str) -> tuple[tuple[str, str | None], ...]:
    """``a.b[name=x].c`` -> ``(("a", None), ("b", "name=x"), ("c", None))``; ValueError when malformed."""
    parts = re.split(r"\.(?![^\[]*\])", path)
    out = []
    for part in parts:
        m = _SEGMENT.match(part)
        if not path or m is None or (not m["key"] and m["sel"] is None):
            raise ValueError(f"bad path {path!r} (use dotted keys, [n] or [key=value])")
        out.append((m["key"], m["sel"]))
    return tuple(out)


def load(path: Path | str) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise errors.ConfigError([errors.Problem(str(path), None, "", f"cannot read: {exc}")]) from exc
    return parse(text, str(path))


def load_all(directory: Path = SCENARIO_DIR) -> dict[str, Scenario]:
    scenarios = [load(p) for p in sorted(directory.glob("*.yaml"))]
    return {s.name: s for s in scenarios}


def parse(text: str, source: str = "<scenario>") -> Scenario:
    try:
        doc = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise errors.ConfigError([errors.Problem(source, line, "", f"not YAML: {exc}")]) from exc
    return _Parser(source).scenario(doc)


class _Parser:
    """Walks the round-trip tree so that every problem can name its line."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: Any, key: str, message: str) -> errors.ConfigError:
        line = None
        if isinstance(node, CommentedMap | CommentedSeq):
            line = node.lc.line + 1
            leaf = key.rsplit(".", 1)[-1]
            if isinstance(node, CommentedMap) and leaf in node:
                line = node.lc.key(leaf)[0] + 1
        return errors.ConfigError([errors.Problem(self.source, line, key, message)])

    def mapping(self, node: Any, key: str, allowed: set[str], required: Iterable[str] = ()) -> Any:
        if not isinstance(node, CommentedMap):
            raise self.fail(node, key, "must be a mapping")
        unknown, missing = set(node) - allowed, set(required) - set(node)
        if unknown:
            raise self.fail(node, key, f"unknown keys {sorted(unknown)} (allowed: {sorted(allowed)})")
        if missing:
            raise self.fail(node, key, f"missing keys {sorted(missing)}")
        return node

    def duration(self, node: Any, parent: Any, key: str) -> float:
        try:
            return model.parse_duration(node)
        except (ValueError, TypeError) as exc:
            raise self.fail(parent, key, str(exc)) from exc

    def scenario(self, doc: Any) -> Scenario:
        top = {
            "name",
            "app",
            "description",
            "workload",
            "behaviours",
            "config_rules",
            "steps",
            "expect",
            "limits",
            "canary",
        }
        self.mapping(doc, "", top, {"name", "app", "description", "steps", "expect", "limits"})
        app = str(doc["app"])
        workload = tuple(
            self.app_spec(name, raw, doc["workload"]) for name, raw in (doc.get("workload") or {}).items()
        )
        if workload and app not in {w.name for w in workload}:
            raise self.fail(doc, "workload", f"must describe the scenario's app {app!r}")
        steps = doc["steps"]
        if not isinstance(steps, CommentedSeq) or not steps:
            raise self.fail(doc, "steps", "must be a non-empty list")
        return Scenario(
            name=str(doc["name"]),
            app=app,
            description=" ".join(str(doc["description"]).split()),
            workload=workload,
            behaviours=self.behaviours(doc.get("behaviours") or {}, doc, "behaviours"),
            config_rules=tuple(
                self.config_rule(r, doc, i) for i, r in enumerate(doc.get("config_rules") or [])
            ),
            steps=tuple(self.step(s, steps, f"steps[{i}]", app) for i, s in enumerate(steps)),
            expect=self.expect(doc["expect"]),
            limits=self.limits(doc["limits"]),
            source=self.source,
            canary=self.canary(doc.get("canary") or {}, doc),
        )

    def canary(self, raw: Any, parent: Any) -> Mapping[str, canaries.Steps]:
        """``canary: {app: {steps: [...]}}``: the app is released by an Argo Rollouts canary."""
        if not isinstance(raw, Mapping):
            raise self.fail(parent, "canary", "must map app names to {steps: [...]}")
        out = {}
        for app, body in raw.items():
            self.mapping(body, f"canary.{app}", {"steps"}, {"steps"})
            try:
                out[str(app)] = canaries.steps(body["steps"])
            except ValueError as exc:
                raise self.fail(body, f"canary.{app}.steps", str(exc)) from exc
        return MappingProxyType(out)

    def app_spec(self, name: str, raw: Any, parent: Any) -> bhv.AppSpec:
        key = f"workload.{name}"
        self.mapping(raw, key, {"rps", "capacity", "base_latency"})
        try:
            latency = model.parse_duration(raw.get("base_latency", "50ms"))
            return bhv.AppSpec(str(name), float(raw.get("rps", 20)), float(raw.get("capacity", 50)), latency)
        except (TypeError, ValueError) as exc:
            raise self.fail(parent, key, str(exc)) from exc

    def behaviours(self, raw: Any, parent: Any, key: str) -> Mapping[str, bhv.Behaviour]:
        if not isinstance(raw, Mapping):
            raise self.fail(parent, key, "must map image globs to behaviours")
        out = {}
        for glob, value in raw.items():
            try:
                out[str(glob)] = bhv.Behaviour.parse(dict(value) if isinstance(value, Mapping) else value)
            except ValueError as exc:
                raise self.fail(raw, f"{key}.{glob}", str(exc)) from exc
        return MappingProxyType(out)

    def config_rule(self, raw: Any, parent: Any, index: int) -> bhv.ConfigRule:
        try:
            return bhv.ConfigRule.parse(dict(raw) if isinstance(raw, Mapping) else raw)
        except ValueError as exc:
            raise self.fail(
                raw if isinstance(raw, CommentedMap) else parent, f"config_rules[{index}]", str(exc)
            ) from exc

    def step(self, raw: Any, parent: Any, key: str, app: str) -> Step:
        actions = {"commit", "traffic", "drift", "behaviours"}
        if not isinstance(raw, CommentedMap):
            raise self.fail(parent, key, "must be a mapping")
        self.mapping(raw, key, {"at", "after", "delay", *actions})
        chosen = [a for a in actions if a in raw]
        if len(chosen) != 1:
            raise self.fail(raw, key, f"needs exactly one of {sorted(actions)}, got {sorted(chosen)}")
        if ("at" in raw) == ("after" in raw):
            raise self.fail(raw, key, "needs exactly one of 'at' (offset) or 'after' (event)")
        if "after" in raw and raw["after"] not in EVENTS:
            raise self.fail(
                raw, f"{key}.after", f"unknown event {raw['after']!r} (one of {', '.join(EVENTS)})"
            )
        at = self.duration(raw["at"], raw, f"{key}.at") if "at" in raw else None
        delay = self.duration(raw.get("delay", 0), raw, f"{key}.delay")
        kind, body = chosen[0], raw[chosen[0]]
        step = Step(at=at, after=raw.get("after"), delay=delay)
        if kind == "commit":
            return replace(step, commit=self.commit(body, f"{key}.commit"))
        if kind == "traffic":
            return replace(step, traffic=self.traffic(body, f"{key}.traffic", app))
        if kind == "drift":
            self.mapping(body, f"{key}.drift", DRIFT_KEYS | {"app"})
            change = {str(k): v for k, v in body.items() if k != "app"}
            if not (
                {"configmap", "key", "value"} <= change.keys() or "workload" in change or "hpa" in change
            ):
                raise self.fail(
                    body,
                    f"{key}.drift",
                    "needs workload (+image/replicas), hpa (+min/max) or configmap+key+value",
                )
            return replace(step, drift=Drift(str(body.get("app", app)), MappingProxyType(_plain(change))))
        return replace(step, behaviours=self.behaviours(body, raw, f"{key}.behaviours"))

    def commit(self, raw: Any, key: str) -> Commit:
        self.mapping(raw, key, {"file", "target", "value", "message"}, {"file", "target", "value", "message"})
        target = self.mapping(raw["target"], f"{key}.target", {"kind", "name", "container", "path"}, {"path"})
        try:
            split_path(str(target["path"]))
        except ValueError as exc:
            raise self.fail(target, f"{key}.target.path", str(exc)) from exc
        if "container" in target and "kind" not in target:
            raise self.fail(target, f"{key}.target.container", "needs a workload 'kind' too")
        opt = {k: str(target[k]) for k in ("kind", "name", "container") if k in target}
        return Commit(
            str(raw["file"]), Target(str(target["path"]), **opt), _plain(raw["value"]), str(raw["message"])
        )

    def traffic(self, raw: Any, key: str, app: str) -> Traffic:
        self.mapping(raw, key, {"app", "multiplier", "rps", "duration"})
        if "multiplier" not in raw and "rps" not in raw:
            raise self.fail(raw, key, "needs a multiplier or an rps")
        duration = self.duration(raw["duration"], raw, f"{key}.duration") if "duration" in raw else None
        try:
            multiplier = None if raw.get("multiplier") is None else float(raw["multiplier"])
            rps = None if raw.get("rps") is None else float(raw["rps"])
        except (TypeError, ValueError) as exc:
            raise self.fail(raw, key, str(exc)) from exc
        return Traffic(str(raw.get("app", app)), multiplier, rps, duration)

    def expect(self, raw: Any) -> Expect:
        self.mapping(raw, "expect", {"action", "touches", "recovered"}, {"action", "recovered"})
        kinds = [k.value for k in model.ActionKind if k is not model.ActionKind.NOTIFY]
        if raw["action"] not in kinds:
            raise self.fail(raw, "expect.action", f"must be one of {', '.join(kinds)}")
        rec = self.mapping(
            raw["recovered"], "expect.recovered", {f.name for f in _RECOVERED_FIELDS} - {"hold"} | {"for"}
        )
        if not set(rec) - {"for"}:
            raise self.fail(rec, "expect.recovered", "needs at least one condition besides 'for'")
        values: dict[str, Any] = {"hold": self.duration(rec.get("for", 0), rec, "expect.recovered.for")}
        for name in set(rec) - {"for"}:
            values[name] = _plain(rec[name])
        for name in ("error_ratio_below",):
            if name in values and not isinstance(values[name], int | float):
                raise self.fail(rec, f"expect.recovered.{name}", "must be a number")
        if "latency_p99_below" in values:
            values["latency_p99_below"] = self.duration(
                rec["latency_p99_below"], rec, "expect.recovered.latency_p99_below"
            )
        checks = (("health", model.HealthStatus), ("sync", model.SyncStatus))
        for name, enum in checks:
            if name in values and values[name] not in {e.value for e in enum}:
                allowed = ", ".join(e.value for e in enum)
                raise self.fail(rec, f"expect.recovered.{name}", f"must be one of {allowed}")
        if "config" in values:
            values["config"] = MappingProxyType(
                {
                    str(c): MappingProxyType({str(k): str(v) for k, v in kv.items()})
                    for c, kv in values["config"].items()
                }
            )
        touches = None if raw.get("touches") is None else str(raw["touches"])
        return Expect(model.ActionKind(raw["action"]), Recovered(**values), touches)

    def limits(self, raw: Any) -> Limits:
        names = {"detect", "heal", "recover", "total"}
        self.mapping(raw, "limits", names, names)
        values = {n: self.duration(raw[n], raw, f"limits.{n}") for n in names}
        if values["total"] < max(values["detect"], values["heal"], values["recover"]):
            raise self.fail(raw, "limits.total", "must be at least as long as every other limit")
        return Limits(**values)


_RECOVERED_FIELDS = Recovered.__dataclass_fields__.values()


def _plain(value: Any) -> Any:
    """Round-trip YAML nodes -> plain dict/list/str/int/float/bool."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return int(value) if isinstance(value, int) else float(value)
    return str(value)
