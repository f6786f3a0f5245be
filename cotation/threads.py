"""One process-wide thread pool for work that releases the GIL (generated kernels, NumPy, Arrow).

The calling thread always takes a share of the work, so ``threads`` threads means ``threads - 1``
pool workers. Every user of the pool splits work so that its result does not depend on the number
of threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_POOLS: dict[int, ThreadPoolExecutor] = {}


def pool(threads: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``threads - 1`` workers (the calling thread is the last one)."""
    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(threads - 1, thread_name_prefix="cotation")
    return _POOLS[threads]


def threaded_map(fn: Callable[[Any], Any], items: list[Any], threads: int) -> list[Any]:
    """``[fn(x) for x in items]``, in that order, computed by ``threads`` threads (the caller is one of
    them) that each take the next item when done: items of unequal cost balance themselves."""
    threads = max(1, min(threads, len(items)))
    if threads == 1:
        return [fn(x) for x in items]
    out: list[Any] = [None] * len(items)
    lock, position = threading.Lock(), [0]

    def work() -> None:
        while True:
            with lock:
                k = position[0]
                position[0] += 1
            if k >= len(items):
                return
            out[k] = fn(items[k])

    jobs = [pool(threads).submit(work) for _ in range(threads - 1)]
    try:
        work()
    finally:
        for job in jobs:
            job.exception()  # wait for every worker before raising
    for job in jobs:
        job.result()
    return out
