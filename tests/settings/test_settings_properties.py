"""Property tests of the config loader (hypothesis): hostile or mangled input only ever gives a ConfigError.

Three properties: (1) random YAML-ish text, (2) random mutations of config/example.yaml (with its SLO
and policy files beside it) never raise anything but ``errors.ConfigError``; (3) on YAML the fast
reader accepts, it produces exactly the data ruamel round-trip produces (the slow path it replaces).
Runs are kept short (a few dozen examples each, no deadline: the machine is shared).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from bot import errors
from bot import settings as config_settings
from bot.settings import files, parse, roundtrip

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "example.yaml"
# CI must not go red on a search's luck: the examples are fixed unless GITHEAL_EXPLORE=1 asks for new
# ones (run it locally; a crash it finds becomes a fixture under fixtures/bad-config).
EXPLORE = os.environ.get("GITHEAL_EXPLORE") == "1"
SHORT = settings(
    max_examples=2000 if EXPLORE else 60,
    deadline=None,
    database=None,
    derandomize=not EXPLORE,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Pieces that exercise every corner of the reader: anchors, aliases, merges, tags, flow, tabs, numbers.
FRAGMENTS = [
    "a: 1\n", "- x\n", "  ", "\t", ":", ": ", "- ", "? ", "&a ", "*a", "<<: *a\n", "!!str ", "!!binary ",
    "!custom ", "[", "]", "{", "}", ",", "'", '"', "#", "|\n", ">-\n", "---\n", "...\n", "%YAML 1.1\n",
    ".inf", "-.inf", ".nan", "9" * 25, "0x1F", "0o17", "1_000", "2024-01-01", "1e400", "~", "null",
    "yes", "=", "\n", "\n  ", "\x00", "\ufeff", "é", "prometheus:", "apps:", "slos:", "policies:",
]  # fmt: skip
yamlish = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=40).map("".join)


def _load(path: Path) -> None:
    env = {"GITHEAL_ARGOCD_TOKEN": "t", "GITHEAL_GITHUB_TOKEN": "t"}
    try:
        config_settings.load(path, env=env, check_secrets=False)
    except errors.ConfigError as exc:
        assert exc.exit_code == 2
        for problem in exc.problems:
            assert "\n" not in str(problem)


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of config/ (the example and the files it names), to write mutations into."""
    target = tmp_path_factory.mktemp("example")
    shutil.copytree(REPO / "config", target, dirs_exist_ok=True)
    return target


@SHORT
@given(text=yamlish)
def test_random_yamlish_text_gives_only_config_errors(example_dir: Path, text: str) -> None:
    path = example_dir / "random.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _load(path)


@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    lines = EXAMPLE.read_text().splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "insert", "truncate", "indent", "value"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "insert":
            lines.insert(i, draw(yamlish) + "\n")
        elif op == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, max(len(lines[i]) - 1, 0)))] + "\n"
        elif op == "indent":
            lines[i] = draw(st.sampled_from([" ", "  ", "\t", "    "])) + lines[i]
        else:
            head, sep, _ = lines[i].partition(": ")
            if sep:
                lines[i] = head + sep + draw(st.sampled_from(FRAGMENTS) | st.text(max_size=8)) + "\n"
    return "".join(lines)


@SHORT
@given(text=mutated_example())
def test_mutations_of_the_example_give_only_config_errors(example_dir: Path, text: str) -> None:
    path = example_dir / "mutated.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _load(path)


# ----------------------------------------------------------------- the fast reader agrees with ruamel

scalars = st.sampled_from(
    ["yes", "no", "on", "true", "False", "~", "null", "", "0", "-0", "+5", "007", "0o17", "0x1F", "1_000",
     "1.5", "1.", ".5", "-.5", "1e3", "1.0e+3", "-.inf", ".NaN", "2024-01-01", "12:30", "=", "<<", "a b",
     "'q'", '"d"', "x: y", "- z", "#c", "@x", "%", "ping", "99.9", "1e400", "3.14159265358979323846"]
)  # fmt: skip
keys = st.sampled_from(["a", "b", "c", "name", "1", "true", "<<", "x y", "null"])
shapes = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)


def _block(value: Any, indent: int = 0) -> str:
    """Block-style YAML written by hand, so plain scalars reach the resolver exactly as spelled."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        return "".join(
            f"{pad}{k}:\n{_block(v, indent + 2)}"
            if isinstance(v, dict | list) and v
            else f"{pad}{k}: {_flat(v)}\n"
            for k, v in value.items()
        )
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        return "".join(
            f"{pad}-\n{_block(v, indent + 2)}" if isinstance(v, dict | list) and v else f"{pad}- {_flat(v)}\n"
            for v in value
        )
    return pad + _flat(value) + "\n"


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return "{}" if not value else "{" + ", ".join(f"{k}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=2000 if EXPLORE else 100, deadline=None, database=None, derandomize=not EXPLORE)
@given(doc=st.dictionaries(keys, shapes, min_size=1, max_size=4), flow=st.booleans())
def test_fast_reader_gives_what_ruamel_gives(doc: dict[str, Any], flow: bool) -> None:
    text = ("root: " + _flat(doc) + "\n") if flow else _block(doc)
    try:
        fast = [data for data, _ in parse.documents(text, "t.yaml", files.Limits())]
    except (parse.Fallback, errors.ConfigError):
        return  # handed to ruamel (or refused by a guard): nothing to compare
    try:
        slow = [roundtrip.plain(t) for t in YAML(typ="rt").load_all(text)]
    except Exception as exc:  # ruamel refuses something LibYAML accepted: must not happen silently
        pytest.fail(f"fast reader accepted what ruamel refuses: {type(exc).__name__}: {exc}\n{text}")
    assert _same(fast, slow), text
