"""Find nodes in a YAML text without ever re-emitting it: ruamel.yaml composes the node graph and
its marks give the exact character span of every scalar in the original text.

This module only reads: it parses, walks paths, measures spans and compares graphs. It must not
produce YAML text (that is ``edit``'s job, done byte-surgically) and must not do I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot import errors

Key = str | int
STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
NULL = "tag:yaml.org,2002:null"
MERGE = "tag:yaml.org,2002:merge"
_MAX_DEPTH = 200
_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Lines with their own terminators; only YAML's line breaks count (not \\f, \\u2028...)."""
    out, pos = [], 0
    for m in _BREAK.finditer(text):
        out.append(text[pos : m.end()])
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


def line_of(text: str, index: int) -> int:
    """0-based line number of a character index."""
    return len(_BREAK.findall(text, 0, index))


def eol_of(text: str) -> str:
    """The file's line terminator (the first one found), so inserted lines match it."""
    m = _BREAK.search(text)
    return m.group(0) if m else "\n"


@functools.lru_cache(maxsize=16)
def _compose(text: str) -> tuple[Node, ...]:
    return tuple(YAML(typ="rt").compose_all(text))


def parse(text: str, filename: str) -> list[Node]:
    """Every document's root node; a comment-only preamble is not a document (as in ``load_all``).
    Cached by text: read-then-apply and apply's re-parse check then cost one parse, not three;
    nobody mutates the node graph."""
    try:
        return list(_compose(text))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise errors.ManifestError(f"invalid YAML{where}: {problem}", file=filename) from exc


def scalar(node: Node | None) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


def get(node: Node | None, key: Key) -> Node | None:
    """The child under ``key`` (mapping key, or sequence index); None when absent."""
    found = entry(node, key)
    return found[1] if found else None


def entry(node: Node | None, key: Key) -> tuple[Node | None, Node] | None:
    """(key node, value node) of a child; sequences have no key node."""
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.tag != MERGE and k.value == str(key):
                return k, v
        return None
    if isinstance(node, SequenceNode):
        index = key if isinstance(key, int) else int(key) if str(key).isdigit() else None
        if index is not None and 0 <= index < len(node.value):
            return None, node.value[index]
    return None


def is_empty(node: Node | None) -> bool:
    """A value left empty (``key:`` with nothing after it), which reads as null."""
    return (
        isinstance(node, ScalarNode)
        and node.value == ""
        and str(node.tag) == NULL
        and node.start_mark.index == node.end_mark.index
    )


def has_merge(node: Node) -> bool:
    return isinstance(node, MappingNode) and any(k.tag == MERGE for k, _ in node.value)


@dataclass(frozen=True)
class Found:
    """Where a path led: the node, its key node and parent, and whether it sits inside flow style."""

    node: Node
    key_node: Node | None
    parent: Node | None
    in_flow: bool
    shared: bool  # reached through an anchor that is used more than once


def use_counts(root: Node) -> dict[int, int]:
    """How many times each node object is referenced: more than 1 means an alias points at it."""
    counts: dict[int, int] = {}
    stack = [root]
    counts[id(root)] = 1
    while stack:
        node = stack.pop()
        children: list[Node] = []
        if isinstance(node, MappingNode):
            for k, v in node.value:
                children += [k, v]
        elif isinstance(node, SequenceNode):
            children = list(node.value)
        for child in children:
            counts[id(child)] = counts.get(id(child), 0) + 1
            if counts[id(child)] == 1:
                stack.append(child)
    return counts


def walk(root: Node, path: tuple[Key, ...]) -> Found | None:
    counts = use_counts(root)
    node, key_node, parent = root, None, None
    in_flow = False
    shared = counts.get(id(root), 1) > 1
    for key in path:
        found = entry(node, key)
        if found is None:
            return None
        in_flow = in_flow or bool(getattr(node, "flow_style", False))
        parent = node
        key_node, node = found
        shared = shared or counts.get(id(node), 1) > 1
    return Found(node, key_node, parent, in_flow, shared)


def deepest(root: Node, path: tuple[Key, ...]) -> tuple[int, Node]:
    """How many leading path keys exist, and the node the last existing one leads to."""
    node, depth = root, 0
    for key in path:
        child = get(node, key)
        if child is None:
            break
        node, depth = child, depth + 1
    return depth, node


# --------------------------------------------------------------------------- spans


class SpanError(Exception):
    """The scalar's bytes cannot be pinned down; the caller names file and target."""


@dataclass(frozen=True)
class Span:
    """Characters [start, end) of a scalar's source text, anchor and tag excluded."""

    start: int
    end: int
    style: str  # plain, single, double, literal, folded


_STYLES = {None: "plain", "'": "single", '"': "double", "|": "literal", ">": "folded"}


def span(text: str, found: Found) -> Span:
    node = found.node
    if not isinstance(node, ScalarNode):
        raise SpanError("not a scalar")
    start = node.start_mark.index
    # The node mark starts at its anchor/tag properties; the value bytes follow them.
    while start < node.end_mark.index and text[start] in "&!":
        while start < len(text) and not text[start].isspace():
            start += 1
        while start < len(text) and text[start] in " \t\r\n":
            start += 1
    style = _STYLES.get(node.style, "plain")
    if style == "plain" and node.value == "" and node.start_mark.index == node.end_mark.index:
        # An empty value's mark points at the next token; the value belongs right after the colon.
        colon = _colon_after(text, found.key_node)
        return Span(colon, colon, "empty")
    return Span(start, node.end_mark.index, style)


def _colon_after(text: str, key_node: Node | None) -> int:
    pos: int = key_node.end_mark.index if key_node is not None else len(text)
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    if pos >= len(text) or text[pos] != ":":
        raise SpanError("an empty value whose key is not followed by ':' on the same line")
    return pos + 1


def deep_end(text: str, node: Node, key_node: Node | None = None) -> int:
    """Index just after a node's last character (block collections end at their last child)."""
    while isinstance(node, MappingNode | SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        key_node, node = last if isinstance(last, tuple) else (None, last)
    if isinstance(node, ScalarNode) and node.start_mark.index == node.end_mark.index and key_node is not None:
        return _colon_after(text, key_node)  # an empty value's marks point at the next token
    end: int = node.end_mark.index
    return end


# --------------------------------------------------------------------------- graph comparison


def plain(node: Node | None, depth: int = 0) -> object:
    """A comparable picture of the representation graph: equal pictures construct equal data."""
    if depth > _MAX_DEPTH:
        raise errors.ManifestError("YAML nesting too deep (recursive alias?)")
    if node is None:
        return None
    if isinstance(node, ScalarNode):
        return (str(node.tag), node.value)
    if isinstance(node, SequenceNode):
        return ("seq", tuple(plain(n, depth + 1) for n in node.value))
    return ("map", tuple((plain(k, depth + 1), plain(v, depth + 1)) for k, v in node.value))


def differences(old: Node | None, new: Node | None, path: tuple[Key, ...], here: str = "") -> Iterator[str]:
    """Describe where ``new`` differs from ``old`` outside ``path`` (whose own value is checked apart)."""
    if not path:
        return
    key = path[0]
    old = None if is_empty(old) else old  # an empty value may become the mapping we insert
    if isinstance(new, SequenceNode) and isinstance(old, SequenceNode) and isinstance(key, int):
        if len(old.value) != len(new.value):
            yield f"{here or '/'}: list length changed"
            return
        for i, (a, b) in enumerate(zip(old.value, new.value, strict=True)):
            if i == key:
                yield from differences(a, b, path[1:], f"{here}/{i}")
            elif plain(a) != plain(b):
                yield f"{here}/{i}"
        return
    if not isinstance(new, MappingNode) or not (old is None or isinstance(old, MappingNode)):
        yield f"{here or '/'}: shape changed"
        return
    old_items = list(old.value) if old is not None else []
    new_items = list(new.value)
    old_keys = [plain(k) for k, _ in old_items]
    new_keys = [plain(k) for k, _ in new_items]
    wanted = (STR, str(key))
    expect_keys = old_keys if wanted in old_keys else [*old_keys, wanted]
    if new_keys != expect_keys:
        yield f"{here or '/'}: keys changed"
        return
    old_by_key = {plain(k): v for k, v in old_items}
    for k, v in new_items:
        pk = plain(k)
        if pk == wanted:
            yield from differences(old_by_key.get(pk), v, path[1:], f"{here}/{key}")
        elif plain(old_by_key[pk]) != plain(v):
            yield f"{here}/{k.value}"
