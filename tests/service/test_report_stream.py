"""``report.write_json`` streams exactly the text ``report.dumps`` returns (the JSON of ``githeal once``)."""

from __future__ import annotations

import enum
import math
from datetime import UTC, datetime
from types import MappingProxyType

import pytest

from bot.service import report


class Kind(enum.StrEnum):
    ROLLBACK = "rollback"


class Level(enum.IntEnum):
    HIGH = 3


SHAPES: list[object] = [
    {},
    [],
    {"apps": {}, "actions": [], "errors": []},
    {"a": [1, 2.5, math.nan, math.inf, -math.inf, True, False, None], "b": {"c": "é ü \u2603", "d": []}},
    {"when": datetime(2026, 11, 28, tzinfo=UTC), "obj": object.__name__, "nested": [[[{}]], [{"x": [1]}]]},
    {1: "int key", 2.5: "float key", None: "none key", "t": (1, (2, 3)), "k": Kind.ROLLBACK},
    {True: "bool key", False: "another"},
    {"proxy": MappingProxyType({"a": 1}), "level": Level.HIGH, "big": 10**30, "tiny": 5e-324, "neg": -0.0},
    {f"svc-{i:04d}": {"slos": [{"ratio": i / 7, "long": {"events": 1e-05}}]} for i in range(300)},
]


@pytest.mark.parametrize("data", SHAPES)
@pytest.mark.parametrize("batch", [1, 3, 8192])
def test_streamed_json_is_the_same_text(data: object, batch: int) -> None:
    pieces: list[str] = []
    report.write_json(data, pieces.append, batch=batch)
    assert "".join(pieces) == report.dumps(data)
    if batch == 1:
        assert len(pieces) > 1 or data in ({}, [])  # it does stream


def test_batches_bound_the_pieces_held() -> None:
    big = {f"app-{i}": {"v": [i, i + 0.5]} for i in range(5000)}
    sizes: list[int] = []
    report.write_json(big, lambda text: sizes.append(len(text)), batch=100)
    assert len(sizes) > 100 and sum(sizes) == len(report.dumps(big))
