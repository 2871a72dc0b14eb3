"""``report.dumps`` (the JSON of ``githeal once`` and ``history``): strict JSON, indented, every shape
the reports hold read back as the value it was, and the same text as the standard library where
the standard library writes strict JSON."""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

import pytest

from bot.service import report


class Kind(enum.StrEnum):
    ROLLBACK = "rollback"


class Level(enum.IntEnum):
    HIGH = 3


@dataclass(frozen=True)
class Point:
    x: int


def _strict(text: str) -> object:
    def refuse(constant: str) -> object:
        raise AssertionError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


PLAIN: list[object] = [
    {},
    [],
    {"apps": {}, "actions": [], "errors": []},
    {"a": [1, 2.5, True, False, None, -0.0, 5e-324, 0.1], "b": {"c": 'é ü \u2603 "q" \\ \n', "d": []}},
    {"nested": [[[{}]], [{"x": [1]}]], "t": (1, (2, 3))},
    {f"svc-{i:04d}": {"slos": [{"ratio": i / 7, "long": {"events": 1e-05}}]} for i in range(300)},
]


@pytest.mark.parametrize("data", PLAIN)
def test_plain_values_are_the_standard_librarys_json(data: object) -> None:
    text = report.dumps(data)
    assert _strict(text) == json.loads(json.dumps(data))
    if data:
        assert text.splitlines()[1].startswith("  ") and not text.splitlines()[1].startswith("   ")


def test_what_json_cannot_hold_is_null_and_others_go_through_str() -> None:
    when = datetime(2026, 11, 28, tzinfo=UTC)
    data = {
        "nan": math.nan,
        "inf": [math.inf, -math.inf],
        "when": when,
        "point": Point(1),
        "proxy": MappingProxyType({"a": 1}),
        "kind": Kind.ROLLBACK,
        "level": Level.HIGH,
        1: "int key",
        2.5: "float key",
        None: "none key",
    }
    back = _strict(report.dumps(data))
    assert isinstance(back, dict)
    assert back["nan"] is None and back["inf"] == [None, None]
    assert back["when"] == str(when) and back["point"] == str(Point(1))
    assert back["proxy"] == str(MappingProxyType({"a": 1}))
    assert back["kind"] == "rollback" and back["level"] == 3
    assert back["1"] == "int key" and back["2.5"] == "float key"
    assert back["null"] == "none key"


def test_bytes_are_utf8_of_the_text() -> None:
    data = {"app": "café", "n": [1, 2]}
    assert report.dumps_bytes(data) == report.dumps(data).encode()


STREAMED: list[object] = [
    *PLAIN,
    {"apps": {f"svc-{i}": {"slos": [{"r": i / 3, "w": [1, {"x": None}]}], "e": None} for i in range(50)}},
    {"apps": {}, "list": [[], {}, [1, [2, [3]]]], "keys": {1: "int key", None: "none key"}, "s": "a\nb"},
    [{"a": [{"b": {"c": []}}]}, "text", 1.5, None],
]


@pytest.mark.parametrize("data", STREAMED)
@pytest.mark.parametrize("depth", [0, 1, 2, 5])
def test_streamed_json_is_the_same_bytes(data: object, depth: int) -> None:
    pieces: list[bytes] = []
    report.write_json(data, pieces.append, depth=depth)
    assert b"".join(pieces) == report.dumps_bytes(data)
    if depth and isinstance(data, dict) and len(data) > 1:
        assert len(pieces) > 2  # it does stream


def test_a_big_report_is_never_one_piece() -> None:
    big = {"apps": {f"app-{i}": {"v": [i, i + 0.5]} for i in range(5000)}}
    sizes: list[int] = []
    report.write_json(big, lambda piece: sizes.append(len(piece)))
    assert sum(sizes) == len(report.dumps_bytes(big)) and max(sizes) < 200
