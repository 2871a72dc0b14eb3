"""Which apps this replica evaluates, when githeal runs as N shards (a StatefulSet of N replicas).

As Argo CD's application controller shards clusters, each app belongs to exactly one shard: a stable
hash of its name (FNV-1a, 32 bit: the same in every process and Python version, unlike ``hash``)
modulo the number of shards. The shard index comes from ``--shard i/N`` or from the ordinal at the
end of the pod's hostname (``githeal-2`` -> 2) with N from ``--shards`` / ``GITHEAL_SHARDS``.
Replicas of the same shard are safe too: pushes are atomic and one heal per incident is checked in Git.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot import errors

_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193
_ORDINAL = re.compile(r"-(\d+)$")


def fnv1a32(text: str) -> int:
    h = _FNV_OFFSET
    for byte in text.encode():
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def shard_of(app: str, count: int) -> int:
    return fnv1a32(app) % count


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def owns(self, app: str) -> bool:
        return shard_of(app, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse(text: str) -> Shard:
    """``i/N`` with 0 <= i < N; a ``UsageError``-style ConfigError otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise errors.ConfigError(f"--shard: expected i/N (for example 0/3), got {text!r}")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or index >= count:
        raise errors.ConfigError(f"--shard: need 0 <= i < N, got {index}/{count}")
    return Shard(index, count)


def resolve(explicit: str | None, count: int | None, hostname: str, env: Mapping[str, str]) -> Shard | None:
    """The shard of this process: ``--shard``, else the hostname's ordinal with ``--shards``/
    ``GITHEAL_SHARDS``; None (every app) when neither says more than one shard."""
    if explicit:
        return parse(explicit)
    raw = env.get("GITHEAL_SHARDS", "1").strip() or "1"
    if count is None and not raw.isdecimal():
        raise errors.ConfigError(f"GITHEAL_SHARDS: expected a number of shards, got {raw!r}")
    total = count if count is not None else int(raw)
    if total <= 1:
        return None
    m = _ORDINAL.search(hostname)
    if not m:
        raise errors.ConfigError(
            f"{total} shards but the hostname {hostname!r} has no StatefulSet ordinal: pass --shard i/N"
        )
    return parse(f"{m.group(1)}/{total}")
