"""Read one YAML file for the settings tree and map key paths back to the line they came from.

Every config-shaped file (main config, policy files, Sloth and OpenSLO files) goes through
``read()`` so that syntax errors, unreadable files and schema errors all become ``errors.Problem``
values naming file, line and key. Valid files take the fast guarded reader (``parse``); ruamel
round-trip only re-reads what that reader leaves to it. This module must not interpret the keys.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from bot import errors
from bot.settings import files, parse, secrecy

Loc = tuple[str | int, ...]
# Up to this size a syntax error is worded by ruamel (clearer, ``roundtrip``); beyond, by LibYAML (instant).
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
        from bot.settings import roundtrip  # ruamel: only for what the fast reader leaves to it

        found = roundtrip.read(text, shown, limits)
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
