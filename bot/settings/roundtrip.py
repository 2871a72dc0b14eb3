"""The slow reader of a settings file: ruamel's round trip, for what the fast LibYAML reader (``parse``)
leaves to it: exact values of odd YAML (tags, merge keys, timestamps) and syntax errors worded with
their line. A valid, plain config never loads ruamel (``locate.read_all`` imports this on demand).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from bot import errors
from bot.settings import files, parse, secrecy


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


def read(text: str, shown: str, limits: files.Limits) -> list[tuple[Any, parse.Node]]:
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
