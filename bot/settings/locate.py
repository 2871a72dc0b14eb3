"""Read one YAML file for the settings tree and map key paths back to the line they came from.

Every config-shaped file (main config, policy files, Sloth and OpenSLO files) goes through
``read()`` so that syntax errors, unreadable files and schema errors all become ``errors.Problem``
values naming file, line and key. Valid files take the fast guarded reader (``parse``); ruamel
round-trip only re-reads what that reader leaves to it. This module must not interpret the keys.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from bot import errors
from bot.settings import files, parse, secrecy

Loc = tuple[str | int, ...]
# Up to this size a syntax error is worded by ruamel (clearer); beyond, by LibYAML (instant).
SLOW_WORDING_LIMIT = 256 * 1024


@dataclass(frozen=True)
class Document:
    """One YAML document: its plain-Python data plus the line index that knows where each key is."""

    file: str
    data: Any
    tree: parse.Node
    first_line: int = 1
    prefix: Loc = ()  # where ``tree`` sits in its file, for key paths of a sub-document

    def line(self, loc: Loc) -> int:
        """Line of the deepest key on ``loc`` that exists (a missing key points at its parent)."""
        node: parse.Node | None = self.tree
        line = self.first_line
        for part in loc:
            children = node.children if node is not None else None
            if children is None or part not in children or isinstance(part, bool):
                break
            line, node = children[part]
        return line

    def problem(self, loc: Loc, message: str) -> errors.Problem:
        full = (*self.prefix, *loc)
        return errors.Problem(self.file, self.line(loc), keypath(full), secrecy.redact(message, full))

    def sub(self, loc: Loc) -> Document:
        """The part of this document under ``loc`` (same file, lines still absolute)."""
        node: parse.Node | None = self.tree
        data = self.data
        for part in loc:
            data = data[part]
            node = node.children[part][1] if node is not None and node.children else None
        line = self.line(loc)
        return Document(self.file, data, node or parse.Node(line), line, (*self.prefix, *loc))


keypath = parse.keypath


def plain(node: Any, budget: list[int] | None = None) -> Any:
    """Round-trip nodes to builtin types, so strict validation sees str/int/float/bool/list/dict.

    ``budget`` (a one-item countdown) bounds the nodes produced, against aliases expanding forever.
    """
    if budget is not None:
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooBig
    if isinstance(node, Mapping):
        return {str(k): plain(v, budget) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [plain(v, budget) for v in node]
    if isinstance(node, bool) or node is None:
        return node if node is None else bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, TaggedScalar):  # "<<" as a value, or a custom tag: its text
        return str(node.value)
    if isinstance(node, dt.date | dt.datetime):
        # YAML timestamps are never a valid githeal value; keep the text so the error shows it.
        return node.isoformat()
    return node


class _TooBig(Exception):
    pass


def _index(node: Any) -> parse.Node:
    """The line index of a ruamel round-trip tree (the slow path only)."""
    out = parse.Node(node.lc.line + 1)
    if isinstance(node, CommentedMap):
        out.children = {}
        for key, value in node.items():
            sub = _index(value) if isinstance(value, CommentedMap | CommentedSeq) else None
            out.children[str(key)] = (node.lc.key(key)[0] + 1, sub)
    elif isinstance(node, CommentedSeq):
        out.children = {}
        for i, value in enumerate(node):
            sub = _index(value) if isinstance(value, CommentedMap | CommentedSeq) else None
            out.children[i] = (node.lc.item(i)[0] + 1, sub)
    return out


def _loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def _yaml_problem(exc: YAMLError, shown: str) -> errors.Problem:
    if isinstance(exc, MarkedYAMLError) and exc.problem_mark is not None:
        what = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        # A duplicate key's message quotes both values; they may be long (or secret): keep the key.
        what = what.split(" with value ")[0]
        return errors.Problem(shown, exc.problem_mark.line + 1, "", secrecy.redact(f"invalid YAML: {what}"))
    first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
    return errors.Problem(shown, None, "", secrecy.redact(f"invalid YAML: {first}"))


def _slow(text: str, shown: str, limits: files.Limits) -> list[tuple[Any, parse.Node]]:
    """ruamel round-trip, for what the fast reader leaves to it (exact values, worded syntax errors)."""
    budget = [max(limits.max_nodes, len(text))]
    try:
        trees = [t for t in _loader().load_all(text) if t is not None]
        out = []
        for tree in trees:
            index = _index(tree) if isinstance(tree, CommentedMap | CommentedSeq) else parse.Node(1)
            out.append((plain(tree, budget), index))
    except YAMLError as exc:
        raise errors.ConfigError([_yaml_problem(exc, shown)]) from None
    except (RecursionError, _TooBig):
        message = "nested too deeply or aliases expand too far to be a config"
        raise errors.ConfigError([errors.Problem(shown, 1, "", message)]) from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise errors.ConfigError([errors.Problem(shown, 1, "", f"invalid value: {first}")]) from None
    except TypeError:  # ruamel hashing a list or mapping used as a key (`? [a, b]`, `? - a`)
        message = "a key must be a plain value, not a list or mapping"
        raise errors.ConfigError([errors.Problem(shown, _complex_key_line(text), "", message)]) from None
    return out


def _complex_key_line(text: str) -> int | None:
    """The line of the first list or mapping used as a mapping key (nodes only: nothing is built)."""
    pending = [node for node in _loader().compose_all(text) if node is not None]
    while pending:
        node = pending.pop(0)
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if not isinstance(key, ScalarNode):
                    return int(key.start_mark.line) + 1
                pending.extend((key, value))
        elif isinstance(node, SequenceNode):
            pending.extend(node.value)
    return None


def read_all(path: Path, shown: str | None = None, limits: files.Limits | None = None) -> list[Document]:
    """Every document of a (possibly multi-document) YAML file; ConfigError when unreadable."""
    shown = shown if shown is not None else str(path)
    limits = limits or files.Limits()
    text = files.read_text(path, shown, limits)
    try:
        found = [(data, index) for data, index in parse.documents(text, shown, limits) if data is not None]
    except parse.Fallback as exc:
        if exc.problem is not None and len(text) > SLOW_WORDING_LIMIT:
            raise errors.ConfigError([exc.problem]) from None  # ruamel would take seconds to word it
        if exc.problem is None:  # valid YAML the fast reader leaves to ruamel: guard all of it first
            parse.guard(text, shown, limits)
        found = _slow(text, shown, limits)
    if not found:
        raise errors.ConfigError([errors.Problem(shown, 1, "", "file is empty")])
    docs = []
    for data, index in found:
        if not isinstance(data, dict):
            raise errors.ConfigError(
                [errors.Problem(shown, index.line, "", "top level must be a mapping of keys")]
            )
        docs.append(Document(shown, data, index, index.line))
    return docs


def read(path: Path, shown: str | None = None, limits: files.Limits | None = None) -> Document:
    """The single document of a config file; ConfigError when unreadable or not one mapping."""
    docs = read_all(path, shown, limits)
    if len(docs) > 1:
        raise errors.ConfigError([docs[1].problem((), "expected one YAML document, found several")])
    return docs[0]


def _strip(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _model_at(model: type[pydantic.BaseModel], loc: Loc) -> type[pydantic.BaseModel] | None:
    """The model class a pydantic error location points into, for the list of allowed keys."""
    current: Any = model
    for part in loc:
        current = _strip(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif origin in (dict, Mapping) and isinstance(part, str):
            current = typing.get_args(current)[1]
        elif origin in (list, tuple, Sequence) and isinstance(part, int):
            current = typing.get_args(current)[0]
        else:
            return None
    current = _strip(current)
    return current if isinstance(current, type) and issubclass(current, pydantic.BaseModel) else None


def problems_from(
    doc: Document, exc: pydantic.ValidationError, model: type[pydantic.BaseModel]
) -> list[errors.Problem]:
    """One Problem per pydantic error, at the line of the offending key, with a readable message."""
    out = []
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
        message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if err["type"] == "extra_forbidden" and loc:
            parent = _model_at(model, loc[:-1])
            allowed = sorted(parent.model_fields) if parent is not None else []
            message = f"unknown key {loc[-1]!r}"
            if allowed:
                message += f" (allowed: {', '.join(allowed)})"
        elif err["type"] == "missing":
            message = "required key is missing"
        elif err["type"] == "too_short" and err.get("ctx", {}).get("min_length") == 1:
            message = "must not be empty"
        elif err["type"] in ("model_type", "dict_type"):
            message = f"expected a mapping of keys, got {_kind(err.get('input'))}"
        elif "input" in err and err["type"].endswith("_type"):
            message = f"{message}, got {_kind(err['input'])}"
        out.append(doc.problem(loc, message))
    return out


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {errors.truncate(value, 40)}"
