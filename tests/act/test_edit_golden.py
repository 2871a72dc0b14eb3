"""Golden cases: fixtures/manifests/<case>/before.yaml + case.json must produce after.yaml byte for byte."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.act import edit

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "manifests"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "case.json").is_file())


def test_the_required_cases_exist() -> None:
    required = {
        "deployment-comments", "crlf", "no-final-newline", "multi-doc", "kustomize-images",
        "helm-values-nested", "flow-style", "indentless-list", "quoted-tag", "annotation-insert",
        "cronjob-initcontainer", "hpa-max", "configmap-key",
    }  # fmt: skip
    assert required <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, read: Callable[[Path], str]) -> None:
    before, after = read(GOLDEN / case / "before.yaml"), read(GOLDEN / case / "after.yaml")
    spec = json.loads((GOLDEN / case / "case.json").read_text())
    if spec["op"] == "apply":
        raw = spec["target"]
        target = edit.Target(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
        result = edit.apply(before, target, spec["value"], filename=f"{case}/before.yaml")
        assert edit.read(result.text, target) == spec["value"]
    else:
        result = edit.set_image(before, spec["image"], container=spec.get("container"))
        assert result.new == spec["image"]
    assert result.text.encode("utf-8") == after.encode("utf-8")
    assert result.lines, "an edit must report the lines it changed"
    # Applying the same value again is a no-op that touches nothing.
    if spec["op"] == "apply":
        again = edit.apply(result.text, target, spec["value"])
        assert again.text == result.text and again.lines == ()
