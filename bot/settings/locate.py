"""Read one YAML file for the settings tree and map key paths back to the line they came from.

Every config-shaped file (main config, policy files, Sloth and OpenSLO files) goes through
``read()`` so that syntax errors, unreadable files and schema errors all become ``errors.Problem``
values naming file, line and key. This module must not interpret what the keys mean.
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
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot import errors

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Document:
    """One YAML document: its plain-Python data plus the round-trip tree that knows the lines."""

    file: str
    data: Any
    tree: Any
    first_line: int = 1
    prefix: Loc = ()  # where ``tree`` sits in its file, for key paths of a sub-document

    def line(self, loc: Loc) -> int:
        """Line of the deepest key on ``loc`` that exists (a missing key points at its parent)."""
        node, line = self.tree, self.first_line
        for part in loc:
            if isinstance(node, CommentedMap) and isinstance(part, str) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        return line

    def problem(self, loc: Loc, message: str) -> errors.Problem:
        return errors.Problem(self.file, self.line(loc), keypath((*self.prefix, *loc)), message)

    def sub(self, loc: Loc) -> Document:
        """The part of this document under ``loc`` (same file, lines still absolute)."""
        node, data = self.tree, self.data
        for part in loc:
            node, data = node[part], data[part]
        return Document(self.file, data, node, self.line(loc), (*self.prefix, *loc))


def keypath(loc: Loc) -> str:
    """``("apps", "checkout", "slos", 0)`` -> ``apps.checkout.slos[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def plain(node: Any) -> Any:
    """Round-trip nodes to builtin types, so strict validation sees str/int/float/bool/list/dict."""
    if isinstance(node, Mapping):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node if node is None else bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, dt.date | dt.datetime):
        # YAML timestamps are never a valid githeal value; keep the text so the error shows it.
        return node.isoformat()
    return node


def _loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def _text(path: Path, shown: str) -> str:
    try:
        if path.is_dir():
            raise errors.ConfigError([errors.Problem(shown, None, "", "is a directory, not a YAML file")])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise errors.ConfigError([errors.Problem(shown, None, "", "file not found")]) from None
    except OSError as exc:
        raise errors.ConfigError([errors.Problem(shown, None, "", f"cannot read: {exc.strerror}")]) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise errors.ConfigError([errors.Problem(shown, line, "", "not a UTF-8 text file")]) from exc


def _yaml_problem(exc: YAMLError, shown: str) -> errors.Problem:
    if isinstance(exc, MarkedYAMLError) and exc.problem_mark is not None:
        what = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        # A duplicate key's message quotes both values; they may be long (or secret): keep the key.
        what = what.split(" with value ")[0]
        return errors.Problem(shown, exc.problem_mark.line + 1, "", f"invalid YAML: {what}")
    first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
    return errors.Problem(shown, None, "", f"invalid YAML: {first}")


def read_all(path: Path, shown: str | None = None) -> list[Document]:
    """Every document of a (possibly multi-document) YAML file; ConfigError when unreadable."""
    shown = shown if shown is not None else str(path)
    text = _text(path, shown)
    try:
        trees = [t for t in _loader().load_all(text) if t is not None]
    except YAMLError as exc:
        raise errors.ConfigError([_yaml_problem(exc, shown)]) from exc
    if not trees:
        raise errors.ConfigError([errors.Problem(shown, 1, "", "file is empty")])
    docs = []
    for tree in trees:
        if not isinstance(tree, CommentedMap):
            line = tree.lc.line + 1 if isinstance(tree, CommentedSeq) else 1
            raise errors.ConfigError([errors.Problem(shown, line, "", "top level must be a mapping of keys")])
        docs.append(Document(shown, plain(tree), tree, tree.lc.line + 1))
    return docs


def read(path: Path, shown: str | None = None) -> Document:
    """The single document of a config file; ConfigError when unreadable or not one mapping."""
    docs = read_all(path, shown)
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
