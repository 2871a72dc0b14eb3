"""Shards: every app belongs to exactly one of N shards, stably across processes (issue 10 §3)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot import errors
from bot.service import shards

APPS = [f"app-{i:04d}" for i in range(300)]


def test_every_app_is_owned_by_exactly_one_shard() -> None:
    parts = [shards.Shard(i, 3) for i in range(3)]
    owners = {app: [p.index for p in parts if p.owns(app)] for app in APPS}
    assert all(len(o) == 1 for o in owners.values())
    sizes = [sum(1 for o in owners.values() if o == [i]) for i in range(3)]
    assert all(70 <= n <= 130 for n in sizes), sizes  # a hash spreads them, roughly evenly


def test_the_hash_is_stable_across_processes() -> None:
    # Python's hash() is salted per process; shards must agree between replicas and restarts.
    code = "from bot.service import shards; print([shards.shard_of(a, 7) for a in ('a', 'b', 'app-0042')])"
    outs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert len(outs) == 1
    assert shards.fnv1a32("a") == 0xE40C292C  # the FNV-1a 32-bit test vector


@pytest.mark.parametrize(
    ("explicit", "count", "host", "env", "want"),
    [
        ("1/3", None, "whatever", {}, shards.Shard(1, 3)),
        (None, 3, "githeal-2", {}, shards.Shard(2, 3)),
        (None, None, "githeal-1", {"GITHEAL_SHARDS": "2"}, shards.Shard(1, 2)),
        (None, None, "githeal-1", {}, None),  # one shard: every app
    ],
)
def test_resolve(
    explicit: str | None, count: int | None, host: str, env: dict[str, str], want: object
) -> None:
    assert shards.resolve(explicit, count, host, env) == want


@pytest.mark.parametrize("text", ["3/3", "a/b", "-1/2", "1/0", ""])
def test_bad_shards_are_config_errors(text: str) -> None:
    with pytest.raises(errors.ConfigError):
        shards.parse(text)
    with pytest.raises(errors.ConfigError, match="ordinal"):
        shards.resolve(None, 3, "laptop", {})


def test_a_non_numeric_shard_count_in_the_environment_is_a_config_error() -> None:
    with pytest.raises(errors.ConfigError, match="GITHEAL_SHARDS: expected a number of shards, got 'three'"):
        shards.resolve(None, None, "githeal-1", {"GITHEAL_SHARDS": "three"})
