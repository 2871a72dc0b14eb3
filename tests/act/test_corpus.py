"""The editor against 74 real manifests and their 210 verified targets (../shared/corpus/manifests).

Every target is edited twice (an ordinary value and a type-trap value), and each edit is checked
independently of the editor's own checks: the data loaded by a fresh ruamel loader equals the
original except the target, and only the target's lines differ.
"""

from __future__ import annotations

import copy
import difflib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from bot import errors
from bot.act import edit

Target = edit.Target


def to_target(t: dict[str, Any]) -> Target:
    loc = t["locator"]
    if "images_name" in loc:
        return Target.kustomize_image(loc["images_name"], loc["field"])
    if "replicas_name" in loc:
        return Target.replicas(loc["replicas_name"])
    path = tuple(loc["path"])
    doc = loc.get("doc")
    if doc is None:
        if path[-1] == "replicaCount":
            return Target.replicas(helm_path=path)
        return Target.helm_value(path)
    if path[:2] == ("spec", "values"):
        return Target.helm_value(path[2:], doc=doc)
    if t["kind"] == "configmap":
        return Target.configmap(path[1], doc=doc)
    if t["kind"] == "image" and "container" in loc:
        return Target.image(loc["container"], doc=doc)
    if path == ("spec", "replicas"):
        return Target.replicas(doc=doc)
    if path[-1] in ("minReplicas", "maxReplicas"):
        return Target.hpa(path[-1], doc=doc)
    return Target.at(path, doc=doc)


def new_values(t: dict[str, Any], current: object) -> list[str | int]:
    if t["kind"] == "replicas":
        return [
            current + 1 if isinstance(current, int) else 3,
            current + 2 if isinstance(current, int) else 0,
        ]
    text = "" if current is None else str(current)
    if t["kind"] == "configmap":
        if "\n" in text:
            return [text + "added: by githeal\n", "one line, no newline"]
        return [text + "-healed", "true"]
    if t["locator"].get("field") in ("digest", "newDigest") or text.startswith("sha256:"):
        return ["sha256:" + "0" * 64, "sha256:" + "1" * 64]
    return [(text or "v9") + "-healed", "1.10"]


def data_at(data: Any, path: list[Any]) -> Any:
    for key in path:
        data = data[key]
    return data


def data_path(text: str, t: dict[str, Any], target: Target) -> tuple[int, list[Any]]:
    """Where the target lives in loaded data, worked out from the locator alone (not the editor)."""
    loc = t["locator"]
    doc = loc.get("doc", 0)
    if "images_name" in loc or "replicas_name" in loc:
        listing, name = (
            ("images", loc["images_name"]) if "images_name" in loc else ("replicas", loc["replicas_name"])
        )
        data = list(YAML(typ="rt").load_all(text))[doc]
        index = next(i for i, e in enumerate(data[listing]) if e.get("name") == name)
        return doc, [listing, index, loc["field"]]
    return doc, list(loc["path"])


def check_one(text: str, t: dict[str, Any], before: list[Any]) -> None:
    target = to_target(t)
    current = edit.read(text, target, filename=t["file"])
    doc, path = data_path(text, t, target)
    assert data_at(before[doc], path) == current
    for value in new_values(t, current):
        result = edit.apply(text, target, value, filename=t["file"])
        assert edit.read(result.text, target) == value
        after = list(YAML(typ="rt").load_all(result.text))
        expected = copy.deepcopy(before)
        parent = data_at(expected[doc], path[:-1])
        parent[path[-1]] = value
        assert after == expected
        old_lines = text.splitlines(keepends=True)
        new_lines = result.text.splitlines(keepends=True)
        changed_old = set()
        for tag, i1, i2, _, _ in difflib.SequenceMatcher(None, old_lines, new_lines).get_opcodes():
            if tag != "equal":
                # a pure insertion touches no old line: count the line it follows
                changed_old |= set(range(i1 + 1, i2 + 1)) or {max(i1, 1)}
        if t["style"] in ("literal", "folded"):
            block_end = t["line"] + str(current).count("\n") + 1
            assert changed_old and min(changed_old) >= t["line"] and max(changed_old) <= block_end + 2
        else:
            assert changed_old == {t["line"]}, (changed_old, t["line"])
            assert result.lines == (t["line"],)


def test_every_corpus_target_edits_surgically(
    corpus: Path, corpus_targets: dict[str, list[dict[str, Any]]], read: Callable[[Path], str]
) -> None:
    total, failures = 0, []
    for file, items in corpus_targets.items():
        text = read(corpus / file)
        before = list(YAML(typ="rt").load_all(text))
        for t in items:
            total += 1
            try:
                check_one(text, t, before)
            except (AssertionError, errors.ManifestError) as exc:
                failures.append(f"{file} L{t['line']} {t['locator']}: {type(exc).__name__} {exc}")
    print(f"\ncorpus: {total - len(failures)}/{total} targets edited surgically")
    assert total == 210
    assert not failures, "\n".join(failures)


def test_unrelated_lines_survive_byte_for_byte(
    corpus: Path, corpus_targets: dict[str, list[dict[str, Any]]], read: Callable[[Path], str]
) -> None:
    """Outside the edited line the bytes are identical, CRLF, BOM and missing final newline included."""
    for file, items in corpus_targets.items():
        raw = (corpus / file).read_bytes()
        text = read(corpus / file)
        for t in items[:1]:
            result = edit.apply(text, to_target(t), new_values(t, edit.read(text, to_target(t)))[0])
            out = result.text.encode("utf-8")
            first = result.lines[0] - 1
            old_lines, new_lines = raw.splitlines(keepends=True), out.splitlines(keepends=True)
            assert old_lines[:first] == new_lines[:first]
            assert raw.endswith(b"\n") == out.endswith(b"\n")
            assert (b"\r\n" in raw) == (b"\r\n" in out)


def _dump(text: str, mapping: int, sequence: int, offset: int) -> str | None:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    out = io.StringIO()
    try:
        yaml.dump_all(list(yaml.load_all(text)), out)
    except Exception:  # a file ruamel cannot dump back is also one the bot could not rewrite
        return None
    return out.getvalue()


def _changed_lines(text: str, dumped: str | None) -> int:
    if dumped is None:
        return len(text.splitlines())
    matcher = difflib.SequenceMatcher(None, text.splitlines(True), dumped.splitlines(True), autojunk=False)
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")


def test_reemitting_with_ruamel_changes_many_files(corpus: Path, read: Callable[[Path], str]) -> None:
    """The contrast: a round-trip load+dump with no edit at all still rewrites lines in many files,
    even when each file gets the indentation settings that suit it best (quotes preserved, no wrap),
    and even when trailing whitespace, line endings and the final newline are ignored."""
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".yaml", ".yml"))
    default_changed = best_changed = visible_changed = 0
    for path in files:
        text = read(path)
        default_changed += _dump(text, 2, 2, 0) != text
        dumps = [_dump(text, *cfg) for cfg in ((2, 2, 0), (2, 4, 2), (2, 3, 1), (4, 4, 2))]
        best_changed += min(_changed_lines(text, d) for d in dumps) > 0
        visible = [ln.rstrip() for ln in text.splitlines()]
        visible_changed += all(d is None or [ln.rstrip() for ln in d.splitlines()] != visible for d in dumps)
    n = len(files)
    print(
        f"\nre-emit contrast over {n} files: {default_changed} ({default_changed / n:.0%}) change with "
        f"ruamel defaults, {best_changed} ({best_changed / n:.0%}) with the best per-file indentation, "
        f"{visible_changed} ({visible_changed / n:.0%}) even ignoring trailing spaces, CRLF and final newline"
    )
    assert n == 74
    assert visible_changed / n > 0.2
