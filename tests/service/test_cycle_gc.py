"""A cycle runs without cyclic garbage collection (issue 10 P1/P2) and always gives it back."""

from __future__ import annotations

import gc

import pytest

from bot.service import cycle


def test_quiet_gc_pauses_collection_and_restores_it() -> None:
    assert gc.isenabled()
    with cycle.quiet_gc():
        assert not gc.isenabled()
        with cycle.quiet_gc():  # nested (the report inside the once command): still paused after
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_quiet_gc_restores_collection_when_the_cycle_fails() -> None:
    with pytest.raises(RuntimeError), cycle.quiet_gc():
        raise RuntimeError("a failed stage")
    assert gc.isenabled()


def test_quiet_gc_leaves_collection_off_when_it_was_off() -> None:
    gc.disable()
    try:
        with cycle.quiet_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
