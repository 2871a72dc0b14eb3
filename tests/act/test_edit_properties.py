"""Property (hypothesis): the editor, on random corpus targets and random new values, changes the target
and nothing else: a fresh ruamel load equals the original but for the target, and only the target's
line differs for plain and quoted scalars (issue 9 §4). Values the editor refuses must raise a
ManifestError, never anything else."""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from test_corpus import data_at, data_path, to_target

from bot import errors
from bot.act import edit

TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40
).filter(lambda s: s == s.strip())


def _value(kind: str) -> st.SearchStrategy[str | int]:
    if kind == "replicas":
        return st.integers(min_value=0, max_value=500)
    if kind == "image":
        return st.from_regex(r"\A[a-z0-9.-]{1,20}(/[a-z0-9-]{1,12}){1,2}:[A-Za-z0-9._-]{1,16}\Z")
    return st.one_of(TEXT, st.sampled_from(["true", "0.2", "yes", "1e3", "null", "~", "2026-11-28", "'x'"]))


@pytest.mark.parametrize("seed_kind", ["replicas", "image", "other"])
def test_random_values_on_random_targets_touch_only_the_target(
    corpus: Path, corpus_targets: dict[str, list[dict[str, Any]]], seed_kind: str
) -> None:
    flat = [t for ts in corpus_targets.values() for t in ts]
    chosen = [
        t
        for t in flat
        if (t["kind"] == seed_kind) or (seed_kind == "other" and t["kind"] not in ("replicas", "image"))
    ]
    if not chosen:
        pytest.skip(f"no {seed_kind} targets in the corpus")
    texts = {t["file"]: (corpus / t["file"]).read_text(encoding="utf-8") for t in chosen}

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
    @given(t=st.sampled_from(chosen), data=st.data())
    def prop(t: dict[str, Any], data: st.DataObject) -> None:
        text = texts[t["file"]]
        target = to_target(t)
        value = data.draw(
            _value("replicas" if t["kind"] == "replicas" else "image" if t["kind"] == "image" else "x")
        )
        try:
            result = edit.apply(text, target, value, filename=t["file"])
        except errors.ManifestError:
            return  # refused cleanly (a value that would not round-trip): never half-written
        before = list(YAML(typ="rt").load_all(text))
        doc, path = data_path(text, t, target)
        expected = copy.deepcopy(before)
        data_at(expected[doc], path[:-1])[path[-1]] = value
        assert list(YAML(typ="rt").load_all(result.text)) == expected
        if t["style"] not in ("literal", "folded"):
            old, new = text.splitlines(keepends=True), result.text.splitlines(keepends=True)
            changed = set()
            for tag, i1, i2, _, _ in difflib.SequenceMatcher(None, old, new).get_opcodes():
                if tag != "equal":
                    changed |= set(range(i1 + 1, i2 + 1)) or {max(i1, 1)}
            assert changed <= {t["line"]}, (t["file"], t["line"], changed, value)

    prop()
