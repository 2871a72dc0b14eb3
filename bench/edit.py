"""Benchmark: surgical editor throughput over the shared corpus, against a naive ruamel round trip.

Every verified target of ``../shared/corpus/manifests/targets.json`` is edited with ``edit.apply``
(locate, splice, re-parse, diff check) and with the naive alternative (ruamel load, assign, dump).
Prints edits/s of both, their ratio, and how many naive dumps changed lines besides the target's.
Skipped with a message when the corpus is absent.
"""

from __future__ import annotations

import difflib
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ruamel.yaml import YAML

from bot.act import edit

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "manifests"
Case = tuple[str, str, edit.Target, list[Any], str | int]  # file, text, target, data path, new value


@dataclass(frozen=True)
class Figures:
    edits: int
    surgical_per_s: float
    naive_per_s: float
    naive_collateral: int  # naive edits that changed more lines than the target's

    @property
    def ratio(self) -> float:
        return self.surgical_per_s / self.naive_per_s


def to_target(t: dict[str, Any]) -> edit.Target:
    """The corpus locator as an editor target (the same mapping as tests/act/test_corpus.py)."""
    loc, target = t["locator"], edit.Target
    if "images_name" in loc:
        return target.kustomize_image(loc["images_name"], loc["field"])
    if "replicas_name" in loc:
        return target.replicas(loc["replicas_name"])
    path, doc = tuple(loc["path"]), loc.get("doc")
    if doc is None:
        return target.replicas(helm_path=path) if path[-1] == "replicaCount" else target.helm_value(path)
    if path[:2] == ("spec", "values"):
        return target.helm_value(path[2:], doc=doc)
    if t["kind"] == "configmap":
        return target.configmap(path[1], doc=doc)
    if t["kind"] == "image" and "container" in loc:
        return target.image(loc["container"], doc=doc)
    if path == ("spec", "replicas"):
        return target.replicas(doc=doc)
    if path[-1] in ("minReplicas", "maxReplicas"):
        return target.hpa(path[-1], doc=doc)
    return target.at(path, doc=doc)


def new_value(t: dict[str, Any], current: object) -> str | int:
    if t["kind"] == "replicas":
        return current + 1 if isinstance(current, int) else 3
    text = "" if current is None else str(current)
    if text.startswith("sha256:"):
        return "sha256:" + "0" * 64
    return (text or "v9") + "-healed"


def data_path(text: str, t: dict[str, Any]) -> tuple[int, list[Any]]:
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


def cases(
    corpus: Path = CORPUS, limit: int | None = None
) -> list[tuple[str, int, list[Any], edit.Target, Any]]:
    targets: dict[str, list[dict[str, Any]]] = json.loads((corpus / "targets.json").read_text())
    out = []
    for file, items in targets.items():
        with (corpus / file).open(encoding="utf-8", newline="") as fh:
            text = fh.read()
        for t in items:
            target = to_target(t)
            doc, path = data_path(text, t)
            out.append((text, doc, path, target, new_value(t, edit.read(text, target))))
    return out[:limit] if limit else out


def naive(text: str, doc: int, path: list[Any], value: object) -> str:
    """What a bot without a surgical editor does: load every document, assign, dump them all."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    docs = list(yaml.load_all(text))
    node = docs[doc]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    out = io.StringIO()
    yaml.dump_all(docs, out)
    return out.getvalue()


def _rate(fn: Callable[[], object], count: int, min_seconds: float) -> float:
    rounds, started = 0, time.perf_counter()
    while True:
        fn()
        rounds += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return rounds * count / elapsed


def measure(corpus: Path = CORPUS, *, limit: int | None = None, min_seconds: float = 2.0) -> Figures:
    work = cases(corpus, limit)

    def surgical() -> None:
        for text, _doc, _path, target, value in work:
            edit.apply(text, target, value)

    def roundtrip() -> None:
        for text, doc, path, _target, value in work:
            naive(text, doc, path, value)

    collateral = 0
    for text, doc, path, _target, value in work:
        dumped = naive(text, doc, path, value)
        changed = sum(1 for line in difflib.ndiff(text.splitlines(), dumped.splitlines()) if line[:1] == "-")
        collateral += changed > 1
    surgical_rate = _rate(surgical, len(work), min_seconds)
    return Figures(len(work), surgical_rate, _rate(roundtrip, len(work), min_seconds), collateral)


def report(f: Figures, out: TextIO) -> None:
    out.write(f"edit: {f.edits} corpus targets, one edit each\n")
    out.write(
        f"  surgical edit.apply (locate + splice + re-parse + diff check): {f.surgical_per_s:8.0f} edits/s\n"
    )
    out.write(
        f"  naive ruamel load + assign + dump:                            {f.naive_per_s:8.0f} edits/s\n"
    )
    out.write(f"  ratio surgical/naive: x{f.ratio:.2f}; naive dumps that changed other lines too: "
              f"{f.naive_collateral}/{f.edits} ({f.naive_collateral / f.edits:.0%})\n")  # fmt: skip


def main(out: TextIO = sys.stdout, *, limit: int | None = None, min_seconds: float = 2.0) -> Figures | None:
    if not (CORPUS / "targets.json").is_file():
        out.write(f"edit: skipped, corpus not found at {CORPUS.resolve()}\n")
        return None
    figures = measure(limit=limit, min_seconds=min_seconds)
    report(figures, out)
    return figures


if __name__ == "__main__":
    main()
