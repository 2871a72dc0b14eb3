"""Process-level helpers the stages share, so there is one way of doing each: pausing the cyclic
garbage collector over a burst of short-lived objects without reference cycles, and running one call
on a thread beside the caller. Nothing here knows githeal's domain or does I/O of its own.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """No cyclic garbage collection inside the block. A config load or a cycle builds hundreds of
    thousands of short-lived objects without reference cycles (decoded JSON, statuses, samples,
    reports); each collection their allocations would trigger walks every object the process holds
    (a third of a 1,000-app cycle). Reference counting still frees everything; collection resumes,
    with the usual thresholds, when the block ends (and stays off if it was off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def beside(name: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
    """``fn(*args, **kwargs)`` started on a thread named ``name`` while the caller goes on (two waits
    on different servers, or two git commands, overlapped); ``result()`` waits and re-raises."""
    pool = ThreadPoolExecutor(1, thread_name_prefix=name)
    try:
        return pool.submit(fn, *args, **kwargs)
    finally:
        pool.shutdown(wait=False)  # the submitted call still runs
