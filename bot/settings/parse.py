"""Fast, guarded YAML reading: LibYAML's event stream becomes plain data plus a line index, in one pass.

The guards act on events, before anything is expanded: nesting deeper than ``Limits.max_depth``,
aliases expanding past the node budget (alias bombs), recursive aliases and integers too long to
convert are config errors naming file, line and key. Scalars are resolved as YAML 1.2, as ruamel
does. Whatever this reader would not turn into exactly what ruamel round-trip gives (explicit tags,
timestamps, duplicate or complex keys, unusual number forms, syntax errors) raises ``Fallback``: the
caller then re-reads with ruamel, which words the syntax errors. It must not know config keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from bot import errors, process
from bot.settings import files, secrecy

# LibYAML's C parser when PyYAML was built with it (the wheels are); the pure parser otherwise.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_NULL = frozenset(("", "~", "null", "Null", "NULL"))
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
# ruamel's YAML 1.2 int, float and timestamp patterns: any other form of them goes to ruamel.
_INT_OTHER = re.compile(r"[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+")
_FLOAT = re.compile(
    r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
    r"|[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?"
)
_INF = re.compile(r"([-+]?)\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")
_TIMESTAMP = re.compile(r"[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?")
_MAX_INT = 2**63 - 1
_NUMERIC_START = frozenset("-+.0123456789")
_WORDS = _NULL | frozenset(_BOOL) | {"<<", "="}


class Fallback(Exception):
    """This text needs ruamel round-trip (for an exact value or an exact syntax error message).

    ``problem`` is LibYAML's own wording of a syntax error, for texts too large to re-read slowly.
    """

    def __init__(self, problem: errors.Problem | None = None) -> None:
        super().__init__(str(problem or "needs ruamel"))
        self.problem = problem


@dataclass(slots=True)
class Node:
    """Where a mapping or list starts, and (line, node) of each key or item; scalars are ``None``."""

    line: int
    children: dict[str | int, tuple[int, Node | None]] | None = None


class _Frame:
    __slots__ = ("anchor", "data", "key", "key_line", "loc", "merges", "node", "start")

    def __init__(self, data: Any, node: Node, loc: tuple[str | int, ...], anchor: str | None, start: int):
        self.data, self.node, self.loc, self.anchor, self.start = data, node, loc, anchor, start
        self.key: str | None = None
        self.key_line = 0
        self.merges: list[dict[str, Any]] | None = None


_MERGE = "<<"


class _Reader:
    """One pass over the events of one text; the state of the guards lives here."""

    def __init__(self, shown: str, limits: files.Limits) -> None:
        self.shown, self.limits = shown, limits
        self.frames: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, Node | None, int]] = {}
        self.expanded = 0  # nodes as if every alias were copied
        self.textual = 0  # nodes written out in the text

    def fail(self, line: int, loc: tuple[str | int, ...], message: str) -> errors.ConfigError:
        if len(loc) > 8:  # a nesting bomb's path would fill the screen
            loc = (*loc[:4], "...", *loc[-2:])
        return errors.ConfigError([errors.Problem(self.shown, line, keypath(loc), message)])

    def here(self) -> tuple[str | int, ...]:
        """Key path of the value about to be added."""
        top = self.frames[-1]
        if isinstance(top.data, dict):
            return (*top.loc, top.key) if top.key is not None else top.loc
        if isinstance(top.data, list):
            return (*top.loc, len(top.data))
        return top.loc

    def scalar(self, ev: Any, line: int) -> Any:
        value: str = ev.value
        if ev.tag is not None and ev.tag != "!":
            raise Fallback
        if not ev.implicit[0] or ev.tag == "!":
            return value
        if value and value[0] not in _NUMERIC_START and value not in _WORDS:
            return value  # the common case: a plain word that cannot be a number, null or bool
        if value in _NULL:
            return None
        if value in _BOOL:
            return _BOOL[value]
        if _INT.fullmatch(value):
            digits = len(value.lstrip("+-"))
            if digits > 19 or abs(int(value)) > _MAX_INT:
                raise self.fail(line, self.here(), f"integer out of range ({digits} digits)")
            return int(value)
        if _INF.fullmatch(value):
            return float("-inf") if value.startswith("-") else float("inf")
        if _NAN.fullmatch(value):
            return float("nan")
        if _FLOAT.fullmatch(value):
            if "_" in value:
                raise Fallback
            return float(value)
        if _INT_OTHER.fullmatch(value) or value == "=" or _TIMESTAMP.match(value):
            raise Fallback
        return value

    def add(self, value: Any, node: Node | None, line: int) -> None:
        top = self.frames[-1]
        data = top.data
        if type(data) is list:
            if top.node.children is None:
                top.node.children = {}
            top.node.children[len(data)] = (line, node)
            data.append(value)
        elif type(data) is dict:
            if top.key is None:
                if node is not None or isinstance(value, bool | float) or value is None:
                    raise Fallback  # complex or non-string keys: ruamel decides
                top.key, top.key_line = str(value), line
                return
            key = top.key
            top.key = None
            if key == _MERGE:
                sources = value if isinstance(value, list) else [value]
                if not all(isinstance(s, dict) for s in sources):
                    raise Fallback
                top.merges = [*(top.merges or []), *sources]
                return
            if key in data:
                message = secrecy.redact(f'invalid YAML: found duplicate key "{key}"')
                raise errors.ConfigError([errors.Problem(self.shown, top.key_line, "", message)])
            if top.node.children is None:
                top.node.children = {}
            top.node.children[key] = (top.key_line, node)
            data[key] = value
        else:  # the document itself
            top.data = [value, node, line]

    def budget(self, line: int) -> None:
        if self.expanded > self.limits.max_nodes and self.expanded > 4 * self.textual:
            message = f"aliases expand to more than {self.limits.max_nodes} nodes (an alias bomb?)"
            raise self.fail(line, self.here(), message)

    def event(self, ev: Any) -> tuple[Any, Node | None] | None:
        """Consume one event; a finished document is returned as (data, line index)."""
        line = ev.start_mark.line + 1
        kind = type(ev)
        if kind is yaml.ScalarEvent:
            self.expanded += 1
            self.textual += 1
            value = self.scalar(ev, line)
            if ev.anchor is not None:
                self.anchors[ev.anchor] = (value, None, 1)
            self.add(value, None, line)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if ev.tag is not None and ev.tag != "!":
                raise Fallback
            if len(self.frames) > self.limits.max_depth:
                raise self.fail(line, self.here(), f"nested deeper than {self.limits.max_depth} levels")
            data: Any = {} if kind is yaml.MappingStartEvent else []
            frame = _Frame(data, Node(line), self.here(), ev.anchor, self.expanded)
            self.expanded += 1
            self.textual += 1
            self.frames.append(frame)
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            frame = self.frames.pop()
            value = frame.data
            if frame.merges:
                merged: dict[str, Any] = {}
                for source in reversed(frame.merges):
                    merged.update(source)
                merged.update(value)
                value = merged
            if frame.anchor is not None:
                self.anchors[frame.anchor] = (value, frame.node, self.expanded - frame.start)
            self.add(value, frame.node, frame.node.line)
        elif kind is yaml.AliasEvent:
            if any(f.anchor == ev.anchor for f in self.frames):
                raise self.fail(line, self.here(), f"alias *{ev.anchor} refers to a node containing it")
            if ev.anchor not in self.anchors:
                raise Fallback  # ruamel reports the undefined alias
            value, node, size = self.anchors[ev.anchor]
            self.expanded += size
            self.budget(line)
            self.add(value, node, line)
        elif kind is yaml.DocumentStartEvent:
            if ev.version is not None or ev.tags:
                raise Fallback  # %YAML / %TAG directives change how scalars resolve
            self.frames = [_Frame(None, Node(line), (), None, 0)]
        elif kind is yaml.DocumentEndEvent:
            done = self.frames.pop().data
            value, node, start = done if done is not None else (None, None, line)
            return value, node if node is not None else Node(start)
        return None


def documents(text: str, shown: str, limits: files.Limits) -> list[tuple[Any, Node]]:
    """(data, line index) of every document of ``text``; ConfigError for a guard, else Fallback."""
    reader = _Reader(shown, limits)
    out: list[tuple[Any, Node]] = []
    loader = _Loader(text)
    try:
        with quiet_gc():
            event = reader.event
            while loader.check_event():
                done = event(loader.get_event())
                if done is not None:
                    out.append(done)  # type: ignore[arg-type]
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else 1
        what = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        if "nesting depth" in what:  # LibYAML's own bound (1000 flow levels), met before ours
            raise reader.fail(line, reader.here(), f"nested deeper than {limits.max_depth} levels") from None
        raise Fallback(errors.Problem(shown, line, "", secrecy.redact(f"invalid YAML: {what}"))) from None
    except yaml.YAMLError as exc:
        first = (str(exc).splitlines() or ["invalid YAML"])[0]
        raise Fallback(errors.Problem(shown, 1, "", secrecy.redact(f"invalid YAML: {first}"))) from None
    finally:
        loader.dispose()
    return out


def guard(text: str, shown: str, limits: files.Limits) -> None:
    """Depth and alias-expansion guards alone, over the whole text: run before ruamel ever sees it."""
    depth, expanded, textual = 0, 0, 0
    sizes: dict[str, int] = {}
    open_at: list[tuple[str | None, int]] = []  # (anchor, expanded when the collection began)
    loader = _Loader(text)
    try:
        while loader.check_event():
            ev = loader.get_event()
            kind, line = type(ev), ev.start_mark.line + 1
            if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                depth += 1
                if depth > limits.max_depth:
                    message = f"nested deeper than {limits.max_depth} levels"
                    raise errors.ConfigError([errors.Problem(shown, line, "", message)])
                open_at.append((ev.anchor, expanded))
                expanded, textual = expanded + 1, textual + 1
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                depth -= 1
                anchor, start = open_at.pop()
                if anchor is not None:
                    sizes[anchor] = expanded - start
            elif kind is yaml.ScalarEvent:
                expanded, textual = expanded + 1, textual + 1
                if ev.anchor is not None:
                    sizes[ev.anchor] = 1
            elif kind is yaml.AliasEvent:
                if any(anchor == ev.anchor for anchor, _ in open_at):
                    message = f"alias *{ev.anchor} refers to a node containing it"
                    raise errors.ConfigError([errors.Problem(shown, line, "", message)])
                expanded += sizes.get(ev.anchor, 1)
                if expanded > limits.max_nodes and expanded > 4 * textual:
                    message = f"aliases expand to more than {limits.max_nodes} nodes (an alias bomb?)"
                    raise errors.ConfigError([errors.Problem(shown, line, "", message)])
    except yaml.YAMLError:
        return  # ruamel words the syntax error; everything before it was guarded
    finally:
        loader.dispose()


# a config's hundreds of thousands of fresh objects hold no cycles: collecting them as they appear
# would double the cost of a fleet-size load
quiet_gc = process.quiet_gc


def keypath(loc: tuple[str | int, ...]) -> str:
    """``("apps", "checkout", "slos", 0)`` -> ``apps.checkout.slos[0]`` (secret-looking keys redacted)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return secrecy.redact(out)
