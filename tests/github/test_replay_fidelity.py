"""Fidelity: PyGithub's recorded GitHub exchanges replayed against the emulator (see replay.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import replay
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
REPLAY_DIR = SHARED / "reference" / "github" / "replaydata"
MIN_COVERED = 80  # exchanges; guards against the coverage silently shrinking


def test_recorded_exchanges_replay_against_emulator(tmp_path: Path) -> None:
    if not REPLAY_DIR.is_dir():
        pytest.skip(f"{REPLAY_DIR} is absent (the shared reference folder is not checked out)")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    template = replay.template_repo(tmp_path)
    outcomes: list[replay.Outcome] = []
    for n, path in enumerate(sorted(REPLAY_DIR.glob("*.txt"))):
        exchanges = replay.parse(path)
        root = tmp_path / f"f{n}"
        root.mkdir()
        world = replay.World(template, root, exchanges, private, public)
        try:
            outcomes.extend(replay.check(world, ex) for ex in exchanges)
        finally:
            world.close()
    covered = [o for o in outcomes if o.covered]
    failed = [o for o in covered if o.problems]
    print(f"\nreplay: {len(outcomes)} exchanges, {len(covered)} covered, {len(covered) - len(failed)} pass")
    for o in outcomes:
        if not o.covered:
            print(f"  uncovered {_name(o)}: {o.reason}")
    report = "\n".join(f"{_name(o)}: {'; '.join(o.problems[:6])}" for o in failed)
    assert not failed, f"{len(failed)} of {len(covered)} covered exchanges differ:\n{report}"
    assert len(covered) >= MIN_COVERED


def _name(o: replay.Outcome) -> str:
    return f"{o.exchange.file}#{o.exchange.index} {o.exchange.method} {o.exchange.path[:70]}"
