"""Write one new scalar value as YAML source text, in the style the old one used where that is safe.

A plain value that some YAML reader would take for another type (``0.2``, ``yes``, ``1e3``, a
timestamp) is double-quoted; numbers for numeric targets are written plain; block scalars keep
their indentation and trailing blank lines. This module only builds strings: it must not parse
whole files or decide what to edit.
"""

from __future__ import annotations

import re

from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from bot.act import locate

# Kubernetes tooling reads YAML 1.1 (yes/on/0777/1:20) while ruamel reads 1.2: a string must be a
# string under both, or someone downstream sees a bool or a number.
_RESOLVERS = (VersionedResolver(version=(1, 1)), VersionedResolver(version=(1, 2)))
_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")
_FLOW = set(",[]{}")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}
_HEADER = re.compile(r"([|>])([-+0-9]*)")


def printable(value: str) -> bool:
    return all(ch in "\t\n" or (ch.isprintable() and ch not in "\u2028\u2029\ufeff") for ch in value)


def implicit_str(value: str) -> bool:
    """True when ``value`` written plain is read back as a string by YAML 1.1 and 1.2 readers."""
    return all(str(r.resolve(ScalarNode, value, (True, False))) == locate.STR for r in _RESOLVERS)


def plain_ok(value: str, in_flow: bool) -> bool:
    if not value or value != value.strip() or not printable(value) or "\t" in value or "\n" in value:
        return False
    first, rest = value[0], value[1:]
    if first in _INDICATORS and not (first in "-?:" and rest and rest[0] not in " " and not in_flow):
        return False
    if ": " in value or " #" in value or value.endswith(":") or value.startswith(("---", "...")):
        return False
    if in_flow and (_FLOW & set(value) or ":" in value):
        return False
    return implicit_str(value)


def double(value: str) -> str:
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif not printable(ch):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def single_ok(value: str) -> bool:
    return printable(value) and "\n" not in value and "\t" not in value and value == value.strip()


def inline(value: str | int, style: str, in_flow: bool) -> str:
    """A one-line scalar for a plain/empty/single/double slot."""
    if isinstance(value, int):
        return str(value)
    if style in ("plain", "empty") and plain_ok(value, in_flow):
        return value
    if style == "single" and single_ok(value):
        return "'" + value.replace("'", "''") + "'"
    return double(value)


def key(name: str) -> str:
    return name if plain_ok(name, in_flow=True) else double(name)


def block(old: str, value: str, style: str, indent_default: int, eol: str) -> str | None:
    """Replacement for a whole block scalar (indicator line through its trailing blank lines), or
    None when the value cannot be a block scalar in this slot (the caller falls back to quoting)."""
    header = _HEADER.match(old)
    if header is None or any(c.isdigit() for c in header.group(2)):
        return None  # an explicit indentation indicator: too subtle to recompute, quote instead
    if not value or not printable(value) or "\r" in value:
        return None
    first_text = next((ln for ln in value.split("\n") if ln), "")
    if first_text[:1] in (" ", "\t"):
        return None  # would need an indentation indicator
    lines = locate.split_lines(old)
    head, body = lines[0], lines[1:]
    indent = next((len(ln) - len(ln.lstrip(" ")) for ln in body if ln.strip()), indent_default)
    if indent < 1:
        return None
    chomp = "-" if not value.endswith("\n") else "+" if value.endswith("\n\n") else ""
    style_char = ">" if style == "folded" and "\n" not in value.rstrip("\n") else "|"
    content_lines = value.split("\n")
    if value.endswith("\n"):
        content_lines = content_lines[:-1]
    out = style_char + chomp + head[header.end() :]
    if not head.endswith(("\n", "\r")):
        out += eol  # the indicator was the file's last line
    out += "".join((" " * indent + ln if ln else "") + eol for ln in content_lines)
    trailing: list[str] = []
    for ln in reversed(body):
        if ln.strip():
            break
        trailing.insert(0, ln)
    if chomp != "+":
        out += "".join(trailing)  # blank separator lines after the block stay where they were
    ends_open = not old.endswith(("\n", "\r"))
    if ends_open and not value.endswith("\n") and out.endswith(eol):
        out = out[: -len(eol)]  # the file had no final newline; keep it that way
    return out
