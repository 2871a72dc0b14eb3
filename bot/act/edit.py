"""Surgical manifest edits: change one scalar's bytes in place and prove nothing else moved.

ruamel.yaml parses only to locate the value (``locate``); the original text is spliced, never
re-emitted, so comments, quoting, CRLF, BOM and a missing final newline survive. Every edit is
re-parsed (data equal except the target) and diffed (only the target's lines touched), else
ManifestError. Pure: text in, text out; no files, no Git, no clock.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode

from bot import errors
from bot.act import images, locate, scalars, targets

Target = targets.Target
_COUNT = re.compile(r"\d+")


@dataclass(frozen=True)
class Edit:
    text: str
    old: object  # value before (None when the key was inserted)
    new: object
    lines: tuple[int, ...]  # 1-based lines of the new text that differ from the old text


def read(text: str, target: Target, *, filename: str = "<manifest>") -> object:
    """The target's current value (None when an insertable key such as an annotation is absent)."""
    docs = locate.parse(text, filename)
    resolved = targets.resolve(docs, target, filename)
    found = locate.walk(docs[resolved.doc], resolved.path)
    return targets.node_value(found.node) if found else None


def apply(text: str, target: Target, value: str | int, *, filename: str = "<manifest>") -> Edit:
    value = _checked(target, value, filename)
    docs = locate.parse(text, filename)
    resolved = targets.resolve(docs, target, filename)
    root = docs[resolved.doc]
    found = locate.walk(root, resolved.path)
    if found is None:
        new_text, lo, hi = _insert(text, root, resolved, value=value, target=target, filename=filename)
        old: object = None
    else:
        if found.shared:
            raise errors.ManifestError(
                f"{target} is reached through a YAML anchor/alias used in several places; "
                "editing it would change them all",
                file=filename,
            )
        if not isinstance(found.node, ScalarNode):
            raise errors.ManifestError(
                f"{target} is a {type(found.node).__name__}, not a scalar value", file=filename
            )
        old = targets.node_value(found.node)
        if old == value and type(old) is type(value):
            return Edit(text, old, value, ())
        try:
            span = locate.span(text, found)
        except locate.SpanError as exc:
            raise errors.ManifestError(f"{target}: {exc}", file=filename) from exc
        new_text = text[: span.start] + _rendered(text, span, found, value) + text[span.end :]
        lo = locate.line_of(text, span.start)
        at_line_start = span.end > span.start and text[span.end - 1] in "\r\n"
        hi = locate.line_of(text, span.end) + (0 if at_line_start else 1)
    lines = _verify(
        text,
        new_text,
        docs,
        resolved=resolved,
        value=value,
        allowed=(lo, hi),
        what=str(target),
        filename=filename,
    )
    return Edit(new_text, old, value, lines)


def _checked(target: Target, value: object, filename: str) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise errors.ManifestError(f"{target}: value {value!r} must be a string or an integer", file=filename)
    if target.numeric:
        if isinstance(value, str) and _COUNT.fullmatch(value.strip()):
            value = int(value.strip())
        if not isinstance(value, int) or value < 0:
            raise errors.ManifestError(f"{target}: {value!r} is not a replica count", file=filename)
    elif target.kind in ("image", "kustomize-image", "configmap", "annotation") and not isinstance(
        value, str
    ):
        raise errors.ManifestError(f"{target}: value {value!r} must be a string", file=filename)
    return value


def _rendered(text: str, span: locate.Span, found: locate.Found, value: str | int) -> str:
    if span.style in ("literal", "folded") and isinstance(value, str):
        key_col = found.key_node.start_mark.column if found.key_node is not None else 0
        out = scalars.block(text[span.start : span.end], value, span.style, key_col + 2, locate.eol_of(text))
        if out is not None:
            return out
    old = text[span.start : span.end]
    ending = old[len(old.rstrip("\r\n")) :] if span.style in ("literal", "folded") else ""
    out = scalars.inline(value, span.style, found.in_flow) + ending
    # "key:" with no value: the colon needs a space before the new value.
    return " " + out if span.style == "empty" else out


def _insert(
    text: str, root: Node, resolved: targets.Resolved, *, value: str | int, target: Target, filename: str
) -> tuple[str, int, int]:
    """Add the missing trailing keys of ``resolved.path`` (e.g. an absent annotations map)."""
    if not resolved.create:
        raise errors.ManifestError(f"{target} not found", file=filename)
    try:
        return _insert_keys(text, root, resolved, value=value, target=target, filename=filename)
    except locate.SpanError as exc:
        raise errors.ManifestError(f"{target}: cannot insert: {exc}", file=filename) from exc


def _insert_keys(
    text: str, root: Node, resolved: targets.Resolved, *, value: str | int, target: Target, filename: str
) -> tuple[str, int, int]:
    depth, node = locate.deepest(root, resolved.path)
    missing = resolved.path[depth:]
    parent = locate.walk(root, resolved.path[:depth])
    # "metadata:" with nothing after it is a null we may turn into a block mapping.
    empty = (
        locate.is_empty(node) and parent is not None and parent.key_node is not None and not parent.in_flow
    )
    if (
        not (isinstance(node, MappingNode) or empty)
        or parent is None
        or parent.shared
        or locate.has_merge(node)
    ):
        where = "/".join(map(str, resolved.path[:depth])) or "document root"
        raise errors.ManifestError(
            f"{target}: cannot insert under {where} (not a plain mapping)", file=filename
        )
    flow = isinstance(node, MappingNode) and bool(node.flow_style)
    rendered = scalars.inline(value, "plain", flow or parent.in_flow)
    keys = [scalars.key(str(k)) for k in missing]
    eol = locate.eol_of(text)
    if isinstance(node, MappingNode) and flow:
        entry = keys[-1] + ": " + rendered
        for k in reversed(keys[:-1]):
            entry = f"{k}: {{{entry}}}"
        if node.value:
            pos, entry = locate.deep_end(text, node.value[-1][1], node.value[-1][0]), ", " + entry
        else:
            pos = text.index("{", node.start_mark.index) + 1
        line = locate.line_of(text, pos)
        return text[:pos] + entry + text[pos:], line, line + 1
    key_col = parent.key_node.start_mark.column if parent.key_node is not None else 0
    if isinstance(node, MappingNode):
        col = node.value[0][0].start_mark.column
        step = col - key_col if parent.key_node is not None and col > key_col else 2
        end = locate.deep_end(text, node.value[-1][1], node.value[-1][0])
    else:
        col, step = key_col + 2, 2
        end = locate.deep_end(text, node, parent.key_node)
    new_lines = [" " * (col + d * step) + k + ":" for d, k in enumerate(keys)]
    new_lines[-1] += " " + rendered
    if end > 0 and text[end - 1] in "\r\n":
        pos, prefix = end, ""
    else:
        brk = re.compile(r"\r\n|\r|\n").search(text, end)
        pos, prefix = (brk.end(), "") if brk else (len(text), eol)
    insertion = prefix + eol.join(new_lines) + ("" if prefix else eol)
    line = locate.line_of(text, pos)
    # At a file end without a newline the last line gains one: that line belongs to the edit too.
    return text[:pos] + insertion + text[pos:], line, line + (1 if prefix else 0)


def _verify(
    old_text: str,
    new_text: str,
    old_docs: list[Node],
    *,
    resolved: targets.Resolved,
    value: str | int,
    allowed: tuple[int, int],
    what: str,
    filename: str,
) -> tuple[int, ...]:
    """Re-parse: only the target's data may differ; diff: only the target's lines may differ."""
    try:
        new_docs = locate.parse(new_text, filename)
    except errors.ManifestError as exc:
        raise errors.ManifestError(
            f"editing {what} would break the YAML: {exc.message}", file=filename
        ) from exc
    problems: list[str] = []
    if len(new_docs) != len(old_docs):
        problems.append("document count changed")
    else:
        for i, (old, new) in enumerate(zip(old_docs, new_docs, strict=True)):
            if i != resolved.doc:
                if locate.plain(old) != locate.plain(new):
                    problems.append(f"document {i} changed")
                continue
            problems += [f"doc {i} {p}" for p in locate.differences(old, new, resolved.path)]
            found = locate.walk(new, resolved.path)
            want = (locate.INT, str(value)) if isinstance(value, int) else (locate.STR, value)
            got = locate.plain(found.node) if found else None
            if got != want:
                problems.append(f"the value reads back as {got!r}, not {want!r}")
    if problems:
        raise errors.ManifestError(f"refusing to edit {what}: {'; '.join(problems)}", file=filename)
    old_lines, new_lines = locate.split_lines(old_text), locate.split_lines(new_text)
    lo, hi = allowed
    changed: list[int] = []
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i1 < lo or i2 > hi:
            raise errors.ManifestError(
                f"refusing to edit {what}: the diff touches lines {i1 + 1}-{i2} outside the target's "
                f"lines {lo + 1}-{hi}",
                file=filename,
            )
        changed += range(j1 + 1, j2 + 1)
    return tuple(changed)


ImageRef = images.ImageRef
DEFAULT_HELM_PATHS = images.DEFAULT_HELM_PATHS


def find_images(
    text: str, *, filename: str = "<manifest>", helm_paths: Sequence[str] = images.DEFAULT_HELM_PATHS
) -> list[images.ImageRef]:
    """Every image field in the file, each with a Target ``apply`` accepts and its current text.
    ``helm_paths`` are dotted globs (``**`` = any depth) naming Helm image blocks or image strings."""
    return images.discover(locate.parse(text, filename), helm_paths)


def set_image(
    text: str,
    image: str,
    *,
    container: str | None = None,
    filename: str = "<manifest>",
    helm_paths: Sequence[str] = images.DEFAULT_HELM_PATHS,
) -> Edit:
    """Point the file at ``image`` ("repo:tag", "repo@sha256:..", or both) in the form it uses.
    ``container`` names the container, kustomize images entry, or Helm values block (``server.image``);
    without it the image whose repository matches is chosen, or the file's only image."""
    refs = find_images(text, filename=filename, helm_paths=helm_paths)
    edits = images.plan(refs, image, container, filename)
    groups = {r.group: r for r in refs if r.target == edits[0][0]}
    old = images.current([r for r in refs if r.group in groups]) if groups else None
    new_text = text
    for target, value in edits:
        new_text = apply(new_text, target, value, filename=filename).text
    return Edit(new_text, old, image, _changed(text, new_text))


def _changed(old: str, new: str) -> tuple[int, ...]:
    matcher = difflib.SequenceMatcher(None, locate.split_lines(old), locate.split_lines(new), autojunk=False)
    return tuple(
        j for tag, _, _, j1, j2 in matcher.get_opcodes() if tag != "equal" for j in range(j1 + 1, j2 + 1)
    )
