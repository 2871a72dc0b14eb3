"""Fixtures for the manifest editor tests: the shared corpus (optional) and our golden cases."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / ".." / "shared" / "corpus" / "manifests"
GOLDEN = REPO / "fixtures" / "manifests"


def read_text(path: Path) -> str:
    # newline="" keeps CRLF exactly as stored; utf-8 keeps a BOM as a character.
    with path.open(encoding="utf-8", newline="") as fh:
        return fh.read()


@pytest.fixture(scope="session")
def read() -> Callable[[Path], str]:
    return read_text


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "targets.json").is_file():
        pytest.skip("../shared/corpus/manifests is not available")
    return CORPUS


@pytest.fixture(scope="session")
def corpus_targets(corpus: Path) -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = json.loads((corpus / "targets.json").read_text())
    return data
